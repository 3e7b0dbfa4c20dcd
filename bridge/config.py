"""Typed, layered configuration: defaults < TOML file < BRIDGE_* environment < CLI flags."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bridge.core.netpolicy import OutboundPolicy

ENGINES = ("embedded", "asterisk", "freeswitch")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    database_url: str = ""  # empty: SQLite file in data_dir
    # this process's name among those sharing a PostgreSQL database: its webhook leases are
    # taken under it, and a restart under the same name resends what a crash left in flight
    # at once; empty: derived from the host name, port and data_dir
    instance_id: str = ""
    engine: str = "embedded"
    log_level: str = "info"
    unreserved_max_participants: int = 40
    terminate_grace_seconds: float = 30.0
    webhook_retry_base_seconds: float = 1.0
    webhook_retry_cap_seconds: float = 300.0
    webhook_max_age_seconds: float = 86400.0
    webhook_timeout_seconds: float = 10.0
    webhook_poll_seconds: float = 2.0
    scheduler_interval_seconds: float = 1.0
    # a verified API key is trusted this long without the database; a revoke in this process
    # takes effect at once, in other processes sharing PostgreSQL within this time; 0: off
    auth_cache_seconds: float = 5.0
    # conferences nobody is in that stay in memory after their last use (least recently used
    # first out); conferences with anyone in them always do
    conferences_in_memory: int = 1000
    # Asterisk engine
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "bridge"
    ami_secret: str = ""
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    # dial-outs leave through this PJSIP endpoint (a trunk or our loopback); never the tenant's
    ami_dial_endpoint: str = "bridge-loopback"
    # the bridge's recordings directory as Asterisk sees it (a directory both share, e.g. an
    # NFS or bind mount); empty: the same path on both
    ami_recordings_dir: str = ""
    # FreeSWITCH engine
    esl_host: str = "127.0.0.1"
    esl_port: int = 8021
    esl_password: str = ""
    esl_outbound_port: int = 8084
    # dial-outs leave as <prefix><number|user> or <prefix><user>@<host>[:port], never the tenant's
    esl_dial_prefix: str = "sofia/gateway/carrier/"
    # media_dir as FreeSWITCH sees it: empty = media_dir itself (same host); an absolute path
    # (a share mounted elsewhere); "sounds" = relative names, FreeSWITCH's own sound_prefix
    esl_media_dir: str = ""
    # embedded engine
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    rtp_port_min: int = 20000
    rtp_port_max: int = 20999
    rtp_timeout_seconds: float = 60.0  # hang up a call that sends no RTP this long; 0: never
    sip_advertised_host: str = ""  # in SDP and Contact; empty: sip_host (127.0.0.1 for 0.0.0.0)
    sip_tcp: bool = True  # SIP over TCP on sip_port too
    sip_dial_host: str = ""  # numbers and users are dialled at this host; empty: ourselves
    sip_realm: str = ""  # digest realm; empty: the advertised SIP host
    # username -> password, or "md5:<hex MD5(user:realm:password)>" so no password is stored;
    # empty: phones are not challenged (env BRIDGE_SIP_USERS takes a JSON object)
    sip_users: dict[str, str] = field(default_factory=dict, repr=False)
    # outbound requests (webhooks, callbacks, pages) never go to loopback, private, link-local,
    # CGNAT, ... addresses (core/netpolicy.py) except to these: CIDRs ("10.1.0.0/16",
    # "127.0.0.1/32") and host names ("hooks.corp", "*.corp.example"); a TOML list, or in env
    # BRIDGE_OUTBOUND_ALLOWED_* a comma-separated list
    outbound_allowed_cidrs: tuple[str, ...] = ()
    outbound_allowed_hosts: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'bridge.db'}"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"


_FIELDS = {f.name: f for f in fields(Config) if f.name != "extra"}
_TABLES = frozenset({"sip_users"})  # settings whose value is itself a TOML table
_LISTS = frozenset({"outbound_allowed_cidrs", "outbound_allowed_hosts"})  # lists of strings


def _string_list(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [x for x in (part.strip() for part in value.split(",")) if x]
    if not isinstance(value, list | tuple) or not all(
        isinstance(x, str) and x.strip() for x in value
    ):
        raise ConfigError(f"{name}: must be a list of non-empty strings")
    return tuple(x.strip() for x in value)


def _string_table(name: str, value: Any) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{name}: not a JSON object ({exc.msg})") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        raise ConfigError(f"{name}: must map names to non-empty strings")
    return dict(value)


def _coerce(name: str, value: Any) -> Any:
    default = getattr(Config(), name)
    if name in _TABLES:
        return _string_table(name, value)
    if name in _LISTS:
        return _string_list(name, value)
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, Path):
            return Path(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: cannot use {value!r} ({exc})") from exc


def _apply(cfg: Config, values: Mapping[str, Any], source: str) -> Config:
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in _FIELDS:
            raise ConfigError(f"{source}: unknown setting {key!r}")
        changes[key] = _coerce(key, value)
    return replace(cfg, **changes)


def load(
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Config:
    env = os.environ if environ is None else environ
    cfg = Config()
    path = config_file or (Path(env["BRIDGE_CONFIG"]) if env.get("BRIDGE_CONFIG") else None)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        sections = {k: v for k, v in data.items() if isinstance(v, dict) and k not in _TABLES}
        flat = {k: v for k, v in data.items() if k not in sections}
        for values in sections.values():  # [asterisk] ami_port = ... is the same as ami_port
            flat.update(values)
        cfg = _apply(cfg, flat, str(path))
    env_values = {
        k.removeprefix("BRIDGE_").lower(): v
        for k, v in env.items()
        if k.startswith("BRIDGE_") and k.removeprefix("BRIDGE_").lower() in _FIELDS
    }
    cfg = _apply(cfg, env_values, "environment")
    cfg = _apply(cfg, {k: v for k, v in (flags or {}).items() if v is not None}, "flags")
    if cfg.engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, not {cfg.engine!r}")
    if not 0 < cfg.port < 65536:
        raise ConfigError(f"port must be 1-65535, not {cfg.port}")
    try:
        outbound_policy(cfg)
    except ValueError as exc:
        raise ConfigError(f"outbound_allowed_cidrs/outbound_allowed_hosts: {exc}") from None
    return cfg


def outbound_policy(cfg: Config) -> OutboundPolicy:
    """The outbound-URL policy these settings make; raises ValueError naming a bad entry."""
    return OutboundPolicy.from_settings(cfg.outbound_allowed_cidrs, cfg.outbound_allowed_hosts)


def env_name(setting: str) -> str:
    return f"BRIDGE_{setting.upper()}"


def describe_settings() -> list[tuple[str, str, str]]:
    """(setting, environment variable, default) for every setting, in declaration order:
    what `bridge serve --help` lists, so a new setting shows up there by being declared."""
    defaults = Config()
    rows = []
    for name in _FIELDS:
        value = getattr(defaults, name)
        if name == "database_url":
            shown = "SQLite file in data_dir"
        elif name in _TABLES:
            shown = "none (TOML table; env: a JSON object)"
        elif name in _LISTS:
            shown = "none (TOML list; env: comma-separated)"
        elif value == "":
            shown = "-"
        elif isinstance(value, Path) and not value.is_absolute():
            shown = f"./{value}"
        else:
            shown = str(value).lower() if isinstance(value, bool) else str(value)
        rows.append((name, env_name(name), shown))
    return rows
