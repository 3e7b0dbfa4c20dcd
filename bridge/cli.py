"""`bridge serve | migrate | keys`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from bridge import __version__, logs, redact
from bridge.config import ENGINES, Config, ConfigError, describe_settings, env_name, load

# settings a newcomer changes first get a flag each (`--sip-port` sets sip_port); every
# setting can also be given with --set NAME=VALUE, in a TOML file or as BRIDGE_<NAME>
SERVE_FLAGS = {
    "host": "API listen address",
    "port": "API listen port",
    "engine": "conference engine: " + ", ".join(ENGINES),
    "sip_host": "embedded engine: SIP listen address (0.0.0.0 for all)",
    "sip_port": "embedded engine: SIP port (UDP and TCP)",
    "sip_advertised_host": "embedded engine: the address phones are given (SDP, Contact)",
    "rtp_port_min": "embedded engine: lowest RTP port",
    "rtp_port_max": "embedded engine: highest RTP port",
    "log_level": "debug, info, warning or error",
}
COMMON_FLAGS = {
    "data_dir": "SQLite file, recordings, media, the first admin key",
    "database_url": "sqlite:///file or postgresql://user:pass@host/db",
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_flags(p: argparse.ArgumentParser, flags: dict[str, str]) -> None:
    defaults = {name: default for name, _, default in describe_settings()}
    for name, text in flags.items():
        p.add_argument(
            _flag(name),
            dest=name,
            metavar=name.split("_")[-1].upper(),
            help=f"{text} ({env_name(name)}; default {defaults[name]})",
        )


def _config(args: argparse.Namespace) -> Config:
    flags: dict[str, Any] = {}
    for item in getattr(args, "set", None) or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected NAME=VALUE")
        flags[name.strip()] = value
    for name in (*SERVE_FLAGS, *COMMON_FLAGS):
        value = getattr(args, name, None)
        if value is not None:
            flags[name] = value
    return load(flags=flags, config_file=args.config)


def _settings_epilog() -> str:
    rows = describe_settings()
    width = max(len(name) for name, _, _ in rows)
    env_width = max(len(env) for _, env, _ in rows)
    lines = [
        "settings: defaults < TOML file (--config) < environment < flags (--set NAME=VALUE",
        "sets any of them); README.md, Configuration, says what each one does",
        "",
    ]
    lines += [f"  {n:<{width}}  {e:<{env_width}}  {d}" for n, e, d in rows]
    return "\n".join(lines)


async def _run(cfg: Config) -> None:
    from aiohttp import web

    from bridge.api import server
    from bridge.app import ADMIN_KEY_FILE, build_app

    app = build_app(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before start-up: a stop is always clean
        loop.add_signal_handler(signum, stop.set)
    access_log = logging.getLogger("aiohttp.access")  # quiet unless log_level is debug
    # its protocol answers aiohttp's own refusals (a header too large, ...) as JSON errors
    runner = server.AppRunner(app, access_log=access_log)
    try:
        # inside: a start that fails halfway (the SIP port taken) tears down what started
        await runner.setup()  # runs migrations, starts the engine
        await web.TCPSite(runner, cfg.host, cfg.port).start()
        for line in logs.summary(cfg, cfg.data_dir / ADMIN_KEY_FILE):
            logs.log.info("%s", line)
        await stop.wait()
    finally:
        await runner.cleanup()


def _serve(cfg: Config) -> int:
    try:
        asyncio.run(_run(cfg))
    except OSError as exc:  # the API port is taken, an address is not ours, ...
        print(f"bridge: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


def _healthcheck(cfg: Config) -> int:
    """GET /healthz of the bridge these settings describe (the container's HEALTHCHECK)."""
    import urllib.error
    import urllib.request

    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(cfg.host, cfg.host)
    netloc = f"[{host}]:{cfg.port}" if ":" in host else f"{host}:{cfg.port}"
    url = f"http://{netloc}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            print(response.read().decode(errors="replace"))
            return 0
    except urllib.error.HTTPError as exc:
        print(f"{url}: HTTP {exc.code} {exc.read().decode(errors='replace')}", file=sys.stderr)
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
    return 1


async def _migrate(cfg: Config) -> None:
    from bridge.store.db import Database

    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(cfg.effective_database_url)
    await db.migrate()
    await db.dispose()


async def _keys(cfg: Config, args: argparse.Namespace) -> int:
    from bridge.core.clock import SystemClock
    from bridge.metrics import Metrics
    from bridge.pbx.embedded.backend import EmbeddedBackend
    from bridge.services import accounts
    from bridge.services.context import Services
    from bridge.store.db import Database

    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(cfg.effective_database_url)
    await db.migrate()

    services = Services(
        db=db,
        clock=SystemClock(),
        backend=EmbeddedBackend(),  # never started: `keys` only touches the store
        metrics=Metrics(),
        recordings_dir=cfg.recordings_dir,
        media_dir=cfg.media_dir,
    )
    try:
        if args.keys_command == "create":
            account_id = args.account
            if account_id is None:
                admins = [
                    a
                    for a in await accounts.list_accounts(services, after=None, limit=200)
                    if a["is_admin"]
                ]
                if not admins:
                    account = await accounts.create_account(services, "admin", is_admin=True)
                    admins = [account]
                account_id = admins[0]["id"]
            key = await accounts.create_key(services, account_id, args.label)
            print(key["key"])
        else:
            rows = await accounts.list_accounts(services, after=None, limit=200)
            for account in rows:
                for key in await accounts.list_keys(services, account["id"]):
                    state = "revoked" if key["revoked_at"] else "active"
                    admin = " admin" if account["is_admin"] else ""
                    print(f"{key['id']}  {account['id']}{admin}  {state}  {key['label'] or ''}")
    finally:
        await db.dispose()
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bridge", description="Conference Bridge")
    p.add_argument("--version", action="version", version=__version__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="TOML file (BRIDGE_CONFIG)")
    _add_flags(common, COMMON_FLAGS)
    common.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="any setting (repeatable)"
    )
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="run the HTTP API and the engine",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_flags(serve, SERVE_FLAGS)
    sub.add_parser("migrate", parents=[common], help="apply database migrations and exit")
    sub.add_parser(
        "healthcheck", parents=[common], help="GET /healthz of the configured bridge; exit 0 if ok"
    )
    keys = sub.add_parser("keys", parents=[common], help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser(
        "create", parents=[common], help="create a key (admin account by default)"
    )
    create.add_argument("--account", help="account id")
    create.add_argument("--label")
    keys_sub.add_parser("list", parents=[common], help="list keys")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        cfg = _config(args)
    except ConfigError as exc:
        print(f"bridge: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.setup(cfg.log_level)
    redact.install([cfg.ami_secret, cfg.esl_password, *cfg.sip_users.values()])
    if args.command == "serve":
        return _serve(cfg)
    if args.command == "healthcheck":
        return _healthcheck(cfg)
    if args.command == "migrate":
        asyncio.run(_migrate(cfg))
        print(f"database at the newest schema: {logs.public_url(cfg.effective_database_url)}")
        return 0
    return asyncio.run(_keys(cfg, args))


if __name__ == "__main__":
    sys.exit(main())
