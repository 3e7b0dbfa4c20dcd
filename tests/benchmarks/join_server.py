"""The bridge under test of bench_joins, run as a child process, for either design.

The parent starts it with PYTHONPATH=<tree>:<tree>/tests and cwd=<tree>, so `bridge` is the
package of that tree (the current working tree, or the baseline checkout of baseline.py), and
writes one JSON line to its stdin:

    {"config": {<Config field>: <value>, ...}, "pg_schema": "<schema>" | null}

It builds the app with `bridge.app.build_app(Config(...))`, the one composition root both
designs have, serves it on a free loopback port and prints one JSON line:

    {"url": "http://127.0.0.1:<port>", "admin_key": "...", "bridge": "<bridge/__init__.py>",
     "schema_hook": true | false}

The admin key is the one the bridge wrote to <data_dir>/admin-api-key on first start. It
runs until its stdin closes (the parent ended it, or died), then shuts the app down.

`pg_schema` keeps a PostgreSQL run in its own schema of the shared test database: every
connection SQLAlchemy opens gets `search_path=<schema>` (a do_connect listener on all
engines; the role may not create databases). `schema_hook` says whether a connection took it.
Only interfaces both designs have are used: build_app, Config fields of the baseline commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

SCHEMA_HOOK_FIRED = False


def _install_schema_hook(schema: str) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def do_connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        global SCHEMA_HOOK_FIRED
        SCHEMA_HOOK_FIRED = True
        settings = dict(cparams.get("server_settings") or {})
        settings["search_path"] = schema
        cparams["server_settings"] = settings

    event.listen(Engine, "do_connect", do_connect)


def _config(fields: dict[str, Any]) -> Any:
    from bridge.config import Config

    values = dict(fields)
    values["data_dir"] = Path(values["data_dir"])
    for name in ("outbound_allowed_cidrs", "outbound_allowed_hosts"):
        if name in values:
            values[name] = tuple(values[name])
    return Config(**values)


async def _serve(request: dict[str, Any]) -> None:
    import bridge
    from bridge.app import build_app

    if request.get("pg_schema"):
        _install_schema_hook(str(request["pg_schema"]))
    config = _config(request["config"])
    app = build_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()  # runs the app's start-up: migrations, the admin key, the engine
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        key = (config.data_dir / "admin-api-key").read_text().strip()
        ready = {
            "url": f"http://127.0.0.1:{port}",
            "admin_key": key,
            "bridge": bridge.__file__,
            "schema_hook": SCHEMA_HOOK_FIRED,
        }
        print(json.dumps(ready), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    finally:
        await runner.cleanup()


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    request = json.loads(sys.stdin.readline())
    asyncio.run(_serve(request))


if __name__ == "__main__":
    main()
