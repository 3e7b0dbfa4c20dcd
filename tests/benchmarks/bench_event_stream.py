"""The event stream with two bridge instances on one PostgreSQL (BRIDGE_TEST_POSTGRES_URL).

Instance B commits conference changes from 10 concurrent writers; a stream on A and a stream
on B receive them. Printed: B's changes per second with event positions numbered under the
advisory lock (this design) and, measured in the same run, with the previous numbering
(microseconds in process, no lock: not one order across processes), and how long after B's
last answer each stream had every event.

    python -m pytest tests/benchmarks/bench_event_stream.py -m benchmark -s
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "component"))

from fakes import FakeBackend
from harness import Bridge, app_config, reset_postgres
from sqlalchemy.ext.asyncio import AsyncConnection
from test_event_stream import conference, has, stream, wait_for

from bridge.app import PARTS, build_app
from bridge.core.clock import OffsetClock
from bridge.services.commit import GroupCommitter, Pending

pytestmark = pytest.mark.benchmark

POSTGRES_URL = os.environ.get("BRIDGE_TEST_POSTGRES_URL")
CHANGES = 600
WRITERS = 10


@asynccontextmanager
async def instance(tmp: Path, url: str) -> AsyncIterator[Bridge]:
    app = build_app(app_config(tmp, url), backend=FakeBackend(), run_scheduler=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    parts = app[PARTS]
    try:
        yield Bridge(client, parts, FakeBackend(), OffsetClock(), parts.admin_key or "")
    finally:
        await client.close()


def previous_numbering(committer: GroupCommitter) -> None:
    """The numbering before this design, on this committer: wall-time microseconds."""
    last = [int(time.time() * 1_000_000)]

    async def number(_conn: AsyncConnection, batch: Sequence[Pending]) -> None:
        for p in batch:
            numbered = []
            for e in p.changes.events:
                last[0] = max(last[0] + 1, int(time.time() * 1_000_000))
                numbered.append(dataclasses.replace(e, position=last[0]))
            p.changes.events = numbered

    committer._number_events = number  # type: ignore[method-assign]


async def measure(tmp: Path, url: str, design: str) -> dict[str, float]:
    await reset_postgres(url)
    async with instance(tmp / "a", url) as a, instance(tmp / "b", url) as b:
        b.admin_key = a.admin_key
        if design == "previous":
            previous_numbering(b.parts.services.owners.committer)
        cids = [await conference(b, f"c{i}") for i in range(WRITERS)]
        async with stream(a) as on_a, stream(b) as on_b:

            async def writer(cid: str) -> None:
                for i in range(CHANGES // WRITERS):
                    await b.ok("PATCH", f"/v1/conferences/{cid}", json={"alias": f"a{i}"})

            started = time.perf_counter()
            await asyncio.gather(*(writer(c) for c in cids))
            answered = time.perf_counter()
            out: dict[str, Any] = {"per_second": CHANGES / (answered - started)}
            for name, sse in (("on_b", on_b), ("on_a", on_a)):
                await wait_for(has(sse, CHANGES), within=30, what=name)
                out[name] = (time.perf_counter() - answered) * 1000
            return out


def test_stream_across_instances(tmp_path: Path) -> None:
    if not POSTGRES_URL:
        pytest.skip("set BRIDGE_TEST_POSTGRES_URL (two instances share PostgreSQL)")
    print(f"\n{CHANGES} changes on instance B from {WRITERS} writers; streams on B and on A")
    print(f"  {'design':9} {'changes/s':>10} {'B has all':>10} {'A has all':>10}")
    for design in ("previous", "current"):
        r = asyncio.run(measure(tmp_path / design, POSTGRES_URL, design))
        a = "no order" if design == "previous" else f"{r['on_a']:.0f} ms"
        print(f"  {design:9} {r['per_second']:>10.0f} {r['on_b']:>7.0f} ms {a:>10}")
    print("  previous: positions in no order across instances (and before, no tail: A never")
    print("  showed B's commits live); the figure that matters is the commit rate beside it")
