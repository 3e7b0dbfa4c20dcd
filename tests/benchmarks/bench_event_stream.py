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
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from bridge_testing.wait import Not, until
from harness import Bridge, app_config, reset_postgres, serve_bridge
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.services.commit import GroupCommitter, Pending

pytestmark = pytest.mark.benchmark

POSTGRES_URL = os.environ.get("BRIDGE_TEST_POSTGRES_URL")
CHANGES = 600
WRITERS = 10


class Counter:
    """A stream's events, counted as they arrive (the `id:` lines)."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.events = 0
        self.ready = asyncio.Event()

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.bridge.admin_key}"}
        async with self.bridge.client.get("/v1/events/stream", headers=headers) as resp:
            async for line in resp.content:
                if line.startswith(b"id: "):
                    self.events += 1
                elif line.startswith(b"event: ready"):
                    self.ready.set()


async def streamed(counter: Counter, n: int, within: float = 30.0) -> None:
    def enough() -> bool | Not:
        return counter.events >= n or Not(f"the stream had {counter.events} of {n} events")

    await until(enough, within, f"{n} streamed events", every=0.001)


@asynccontextmanager
async def instance(tmp: Path, url: str) -> AsyncIterator[Bridge]:
    async with serve_bridge(app_config(tmp, url)) as running:
        yield running


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

    committer._number_events = number  # type: ignore[assignment]


async def measure(tmp: Path, url: str, design: str) -> dict[str, float]:
    await reset_postgres(url)
    async with instance(tmp / "a", url) as a, instance(tmp / "b", url) as b:
        b.admin_key = a.admin_key
        if design == "previous":
            previous_numbering(b.parts.services.owners.committer)
        cids = []
        for i in range(WRITERS):
            cids.append((await b.ok("POST", "/v1/conferences", 201, json={"name": f"c{i}"}))["id"])
        on_a, on_b = Counter(a), Counter(b)
        tasks = [asyncio.create_task(c.run()) for c in (on_a, on_b)]
        try:
            await asyncio.wait_for(asyncio.gather(on_a.ready.wait(), on_b.ready.wait()), 10)

            async def writer(cid: str) -> None:
                for i in range(CHANGES // WRITERS):
                    await b.ok("PATCH", f"/v1/conferences/{cid}", json={"alias": f"a{i}"})

            started = time.perf_counter()
            await asyncio.gather(*(writer(c) for c in cids))
            answered = time.perf_counter()
            out = {"per_second": CHANGES / (answered - started)}
            for name, counter in (("on_b", on_b), ("on_a", on_a)):
                await streamed(counter, CHANGES)
                out[name] = (time.perf_counter() - answered) * 1000
            return out
        finally:
            for t in tasks:
                t.cancel()


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
