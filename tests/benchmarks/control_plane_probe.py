"""One control-plane measurement in a process of its own, so that the same script measures the
current tree and the baseline tree (tests/benchmarks/baseline.py) the same way. It uses only
what both have: build_app, the HTTP API, the FakeBackend's phones and the observer sink.

    python control_plane_probe.py observations <database url> <work dir> <callers> <n>
    python control_plane_probe.py memory <database url> <work dir> <conferences> <callers>

Prints one line of JSON with the figures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from fakes import FakeBackend

from bridge.app import PARTS, build_app
from bridge.config import Config
from bridge.core import engine as e


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Rig:
    def __init__(self, database_url: str, work: Path, capacity: int) -> None:
        config = Config(
            data_dir=work / "data", database_url=database_url, unreserved_max_participants=capacity
        )
        self.backend = FakeBackend()
        self.app = build_app(config, backend=self.backend, run_scheduler=False)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.url = ""
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Rig:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        key = self.app[PARTS].admin_key
        self.session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()
        await self.runner.cleanup()

    async def conference(self, code: str, capacity: int) -> str:
        assert self.session is not None
        body = {"name": code, "max_participants": capacity, "dial_in": {"access_code": code}}
        async with self.session.post(f"{self.url}/v1/conferences", json=body) as r:
            assert r.status == 201, await r.text()
            return str((await r.json())["id"])

    async def fill(self, code: str, callers: int, first: int) -> list[str]:
        pids = []
        for i in range(callers):
            route = await self.backend.dial_in(code, caller=str(first + i))
            assert route.participant is not None, route
            pids.append(route.participant.id)
        await self.app[PARTS].observer.drain()
        return pids


async def observations(database_url: str, work: Path, callers: int, n: int) -> dict[str, Any]:
    async with Rig(database_url, work, callers) as rig:
        await rig.conference("5000", callers)
        pids = await rig.fill("5000", callers, 1000)
        observer = rig.app[PARTS].observer
        started = time.perf_counter()
        for i in range(n):  # talk on / talk off, round the room
            await observer(e.TalkingChanged(pids[i % callers], (i // callers) % 2 == 0))
        await observer.drain()
        seconds = time.perf_counter() - started
    return {"observations": n, "seconds": seconds, "per_second": n / seconds}


async def memory(database_url: str, work: Path, conferences: int, callers: int) -> dict[str, Any]:
    async with Rig(database_url, work, callers) as rig:
        gc.collect()
        before = _rss_mb()
        started = time.perf_counter()
        for c in range(conferences):
            code = str(6000 + c)
            await rig.conference(code, callers)
            await rig.fill(code, callers, 100_000 + c * callers)
        seconds = time.perf_counter() - started
        gc.collect()
        after = _rss_mb()
    live = conferences * callers
    return {
        "participants": live,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "kb_per_participant": (after - before) * 1024 / live,
        "join_seconds": seconds,
    }


def main() -> None:
    kind, url, work, a, b = sys.argv[1:6]
    probe = observations if kind == "observations" else memory
    print(json.dumps(asyncio.run(probe(url, Path(work), int(a), int(b)))), flush=True)


if __name__ == "__main__":
    main()
