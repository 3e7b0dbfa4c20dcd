"""The bridge with the FakeBackend standing in for an engine, as a process of its own, for
tests that kill it (tests/component/test_crash_consistency.py).

    python tests/crash_server.py <database url> <data dir>

Prints `READY <url> <admin key>` once it listens on 127.0.0.1 (a free port).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiohttp import web
from fakes import FakeBackend
from harness import app_config

from bridge.app import PARTS, build_app


async def main(database_url: str, data_dir: Path) -> None:
    app = build_app(app_config(data_dir, database_url), backend=FakeBackend(), run_scheduler=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"READY http://127.0.0.1:{port} {app[PARTS].admin_key}", flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
