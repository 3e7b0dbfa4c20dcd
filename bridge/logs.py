"""Logging for `bridge serve`: one format, quiet libraries, and the start-up summary."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bridge import __version__
from bridge.config import Config

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# libraries whose INFO lines say nothing an operator acts on (alembic: one per plugin and
# migration step at every start; aiohttp.access: one per request, on at log_level=debug)
QUIET = ("alembic", "aiohttp.access")

log = logging.getLogger("bridge")


def setup(level: str = "info") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    logging.basicConfig(level=numeric, format=FORMAT)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def public_url(url: str) -> str:
    """A database URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _http(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def summary(cfg: Config, admin_key_file: Path) -> list[str]:
    """What an operator needs once the bridge listens: where, which engine and database,
    where the admin key is."""
    lines = [f"Conference Bridge {__version__}: API {_http(cfg.host, cfg.port)} (docs at /docs)"]
    if cfg.engine == "embedded":
        transports = "UDP and TCP" if cfg.sip_tcp else "UDP"
        advertised = cfg.sip_advertised_host or (
            "127.0.0.1" if cfg.sip_host in ("0.0.0.0", "::") else cfg.sip_host
        )
        lines.append(
            f"engine embedded: SIP {transports} on {cfg.sip_host}:{cfg.sip_port}"
            f" (phones dial sip:<access code>@{advertised}:{cfg.sip_port}),"
            f" RTP {cfg.rtp_port_min}-{cfg.rtp_port_max}"
        )
    elif cfg.engine == "asterisk":
        lines.append(
            f"engine asterisk: AMI {cfg.ami_host}:{cfg.ami_port},"
            f" FastAGI server on {cfg.agi_host}:{cfg.agi_port}"
        )
    else:
        lines.append(
            f"engine freeswitch: ESL {cfg.esl_host}:{cfg.esl_port},"
            f" outbound socket on port {cfg.esl_outbound_port}"
        )
    lines.append(f"database {public_url(cfg.effective_database_url)}")
    if admin_key_file.exists():
        lines.append(f"admin API key in {admin_key_file.resolve()}")
    else:
        lines.append("admin API key: none on disk (`bridge keys create` makes one)")
    return lines
