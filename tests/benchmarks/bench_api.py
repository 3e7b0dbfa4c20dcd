"""API throughput and latency: create, read and list conferences with 50 concurrent clients.

The bridge runs in a process of its own (this file run as a script, with the FakeBackend
standing in for an engine) on 127.0.0.1, so the clients do not share its interpreter. Every
request is timed from send to body read. On SQLite, and on PostgreSQL when
BRIDGE_TEST_POSTGRES_URL is set. Prints figures; asserts only that requests succeed.

    python -m pytest tests/benchmarks/bench_api.py -m benchmark -s
    BRIDGE_BENCH_API_REQUESTS=2000 python -m pytest ...   (more requests per operation)
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

# per operation and database; 1,000 keeps a database's run near 30 s on 2 busy cores
REQUESTS = int(os.environ.get("BRIDGE_BENCH_API_REQUESTS", "1000"))
CLIENTS = 50
PAGE = 50
POSTGRES_URL = os.environ.get("BRIDGE_TEST_POSTGRES_URL")
HERE = Path(__file__).resolve()


@dataclass
class Server:
    url: str
    admin_key: str


# --- the server process --------------------------------------------------------------------


async def _serve(database_url: str, data_dir: Path) -> None:
    sys.path.insert(0, str(HERE.parent.parent))  # tests/, for the FakeBackend
    from aiohttp import web
    from fakes import FakeBackend

    from bridge.app import PARTS, build_app
    from bridge.config import Config

    config = Config(data_dir=data_dir, database_url=database_url)
    app = build_app(config, backend=FakeBackend(), run_scheduler=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"READY http://127.0.0.1:{port} {app[PARTS].admin_key}", flush=True)
    try:
        # Serve until the benchmark closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await runner.cleanup()


# --- the benchmark -------------------------------------------------------------------------


async def _reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


async def _start_server(database_url: str, data_dir: Path) -> tuple[Any, Server]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE),
        database_url,
        str(data_dir),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(HERE.parents[2])},
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
    if not line.startswith(b"READY "):
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"the server did not start: {line!r}")
    _, url, key = line.decode().split()
    return proc, Server(url, key)


async def _stop_server(proc: Any) -> None:
    proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), timeout=30)
    except TimeoutError:
        proc.kill()
        await proc.wait()


@pytest.fixture
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    database: str = request.param
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        if not POSTGRES_URL:
            pytest.skip("set BRIDGE_TEST_POSTGRES_URL to benchmark PostgreSQL")
        url = POSTGRES_URL
        try:
            await _reset_postgres(url)
        except Exception as exc:  # never fail a benchmark on a missing server
            pytest.skip(f"PostgreSQL is not reachable: {exc}")
    proc, srv = await _start_server(url, tmp_path / "data")
    try:
        yield srv
    finally:
        await _stop_server(proc)


Request = Callable[[aiohttp.ClientSession, int], Awaitable[Any]]


async def _run(session: aiohttp.ClientSession, request: Request) -> tuple[float, list[float]]:
    """REQUESTS requests through CLIENTS concurrent workers: (wall seconds, latencies)."""
    counter = itertools.count()
    latencies: list[float] = []

    async def worker() -> None:
        while (i := next(counter)) < REQUESTS:
            t0 = time.perf_counter()
            await request(session, i)
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return time.perf_counter() - started, latencies


def _row(database: str, operation: str, wall: float, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{database:<10} {operation:<22} {len(ordered):>6} {len(ordered) / wall:>9.0f}"
        f" {statistics.median(ordered) * 1000:>9.1f} {p99 * 1000:>9.1f}"
    )


@pytest.mark.benchmark
@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
async def test_api_throughput(server: Server, request: pytest.FixtureRequest) -> None:
    database = request.node.callspec.params["server"]
    created: list[str] = []

    async def create(session: aiohttp.ClientSession, i: int) -> None:
        body = {"name": f"bench {i}", "data": {"i": i}}
        async with session.post(server.url + "/v1/conferences", json=body) as resp:
            assert resp.status == 201, await resp.text()
            created.append((await resp.json())["id"])

    async def read(session: aiohttp.ClientSession, i: int) -> None:
        cid = created[i % len(created)]
        async with session.get(f"{server.url}/v1/conferences/{cid}") as resp:
            assert resp.status == 200, await resp.text()
            await resp.read()

    async def list_(session: aiohttp.ClientSession, i: int) -> None:
        # walk pages from different starting points so each request reads its own page
        after = created[(i * PAGE) % len(created)]
        url = f"{server.url}/v1/conferences?limit={PAGE}&after={after}"
        async with session.get(url) as resp:
            assert resp.status == 200, await resp.text()
            await resp.read()

    headers = {"Authorization": f"Bearer {server.admin_key}"}
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    rows = []
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        for name, fn in (
            ("create conference", create),
            ("read conference", read),
            (f"list {PAGE} conferences", list_),
        ):
            wall, latencies = await _run(session, fn)
            rows.append(_row(database, name, wall, latencies))

    print()
    print(f"API, {CLIENTS} concurrent clients, {REQUESTS} requests per operation")
    print(f"{'database':<10} {'operation':<22} {'n':>6} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}")
    for row in rows:
        print(row)


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], Path(sys.argv[2])))
