"""The bridge with the AsteriskBackend as a process of its own, for tests that SIGKILL it
with live calls (test_asterisk_truth.py).

    python tests/asterisk/bridge_process.py <database url> <data dir> <ami port> <agi port>

The AMI secret comes in the environment (BRIDGE_TEST_AMI_SECRET), never on the command
line. Prints `READY <url> <admin key>` once it listens on 127.0.0.1 (a free port); a
restart on the same data dir prints the key the first run wrote.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from aiohttp import web
from harness import app_config

from bridge.app import PARTS, build_app
from bridge.pbx.asterisk.backend import AsteriskBackend


async def main(database_url: str, data_dir: Path, ami_port: int, agi_port: int) -> None:
    backend = AsteriskBackend(
        ami_port=ami_port,
        ami_secret=os.environ["BRIDGE_TEST_AMI_SECRET"],
        agi_port=agi_port,
        ready_timeout=20.0,
    )
    app = build_app(app_config(data_dir, database_url), backend=backend, run_scheduler=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    key = app[PARTS].admin_key or (data_dir / "data" / "admin-api-key").read_text().strip()
    print(f"READY http://127.0.0.1:{port} {key}", flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    # the backend's INFO lines (adoption, moves, lost commands) in bridge.log, for a failure
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
