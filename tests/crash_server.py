"""The bridge with the FakeBackend standing in for an engine, as a process of its own, for
tests that kill it (tests/component/test_crash_consistency.py, test_webhook_crash.py).

    python tests/crash_server.py <database url> <data dir>

Prints `READY <url> <admin key>` once it listens on 127.0.0.1 (a free port). Tests start it
with `running()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from fakes import FakeBackend
from harness import app_config

from bridge.app import PARTS, build_app


@contextlib.asynccontextmanager
async def running(database_url: str, data_dir: Path) -> AsyncIterator[tuple[str, str, int]]:
    """This server in a child process: (its URL, the admin key, its pid); killed on the way
    out, and waited for."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        database_url,
        str(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.startswith("READY "), f"the server did not start: {line!r}"
        _, url, key = line.split()
        yield url, key, proc.pid
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await proc.wait()


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
