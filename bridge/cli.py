"""`bridge serve | migrate | keys`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from bridge import __version__, redact
from bridge.config import Config, ConfigError, load


def _config(args: argparse.Namespace) -> Config:
    flags: dict[str, Any] = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "data_dir": args.data_dir,
        "database_url": args.database_url,
        "engine": getattr(args, "engine", None),
    }
    return load(flags=flags, config_file=args.config)


def _serve(cfg: Config) -> int:
    from bridge.api import server
    from bridge.app import build_app

    app = build_app(cfg)
    print(
        f"Conference Bridge {__version__}: http://{cfg.host}:{cfg.port}/docs"
        f"  (engine: {cfg.engine})"
    )
    server.run(app, host=cfg.host, port=cfg.port)
    return 0


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
    common.add_argument("--config", type=Path, help="TOML file (or BRIDGE_CONFIG)")
    common.add_argument("--data-dir", type=Path, help="data directory (or BRIDGE_DATA_DIR)")
    common.add_argument(
        "--database-url", help="sqlite:///file or postgresql://... (or BRIDGE_DATABASE_URL)"
    )
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", parents=[common], help="run the HTTP API and the engine")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8080)")
    serve.add_argument("--engine", choices=("embedded", "asterisk", "freeswitch"))
    sub.add_parser("migrate", parents=[common], help="apply database migrations and exit")
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
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        cfg = _config(args)
    except ConfigError as exc:
        print(f"bridge: configuration error: {exc}", file=sys.stderr)
        return 2
    redact.install([cfg.ami_secret, cfg.esl_password, *cfg.sip_users.values()])
    if args.command == "serve":
        return _serve(cfg)
    if args.command == "migrate":
        asyncio.run(_migrate(cfg))
        print(f"database at the newest schema: {cfg.effective_database_url}")
        return 0
    return asyncio.run(_keys(cfg, args))


if __name__ == "__main__":
    sys.exit(main())
