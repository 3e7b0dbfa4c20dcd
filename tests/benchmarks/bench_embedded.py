"""The embedded engine under SIPp load: CPU of the bridge process per caller-second.

N SIPp callers (Debian sip-tester) stream PCMU into one conference of the embedded engine,
running inside the real app in this process. Once all N are mixed, the process CPU time
(time.process_time: every thread of the bridge, API and store included) is measured over a
fixed window. Prints a table beside the Asterisk ConfBridge reference; asserts nothing.

Run: pytest tests/benchmarks/bench_embedded.py -m benchmark -s
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "embedded"))

from sipp import sipp_available, start_sipp

from bridge.app import PARTS, build_app
from bridge.config import Config
from bridge.media.mixer import IMPLEMENTATION
from bridge.pbx.embedded.backend import EmbeddedBackend

pytestmark = pytest.mark.benchmark

CALLERS = (10, 50, 100, 200)
WINDOW_SECONDS = 3.0
# shared/reference/real-pbx.md: Asterisk ConfBridge, same SIPp load, this machine kind
ASTERISK_MS_PER_CALLER_SECOND = {10: 2.8, 50: 1.9, 100: 1.5, 200: 1.5}


async def _wait(predicate: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        await asyncio.sleep(0.05)


def _joined(backend: EmbeddedBackend, cid: str, n: int) -> bool:
    room = backend.rooms.get(cid)
    return room is not None and len(room.members) >= n


@pytest.mark.skipif(not sipp_available(), reason="sipp (Debian sip-tester) is not installed")
async def test_embedded_cpu_per_caller(tmp_path: Path) -> None:
    config = Config(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        unreserved_max_participants=max(CALLERS) + 10,
        sip_port=0,
    )
    backend = EmbeddedBackend(
        sip_host="127.0.0.1",
        sip_port=0,
        rtp_port_min=32000,
        rtp_port_max=33998,
        media_dir=config.media_dir,
        recordings_dir=config.recordings_dir,
    )
    app = build_app(config, backend=backend, run_scheduler=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    key = app[PARTS].admin_key
    rows: list[tuple[int, float, int]] = []
    try:
        for n in CALLERS:
            code = f"77{n:03d}"
            resp = await client.post(
                "/v1/conferences",
                json={"name": f"bench{n}", "play_beep": "never", "dial_in": {"access_code": code}},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert resp.status == 201, await resp.text()
            cid = (await resp.json())["id"]
            hold_ms = int((n / 100 + 2 + WINDOW_SECONDS + 1) * 1000)
            sipp = start_sipp(
                tmp_path / f"sipp{n}", backend.sip_address, code, scenario="uac_stream.xml",
                calls=n, rate=100, duration_ms=hold_ms,
            )  # fmt: skip
            try:
                await _wait(functools.partial(_joined, backend, cid, n), n / 10 + 15,
                            f"{n} callers to join")  # fmt: skip
                await asyncio.sleep(0.5)  # let the joins' database work finish
                r = backend.rooms[cid]
                ticks, late = r.ticks, r.late_ticks
                cpu0, wall0 = time.process_time(), time.monotonic()
                await asyncio.sleep(WINDOW_SECONDS)  # the measurement window itself
                cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
                rows.append((n, cpu * 1000 / (n * wall), r.late_ticks - late))
                print(f"  n={n}: {r.ticks - ticks} ticks in {wall:.2f} s")
                await asyncio.to_thread(sipp.process.wait, hold_ms / 1000 + 30)
                await _wait(lambda: not backend.ua.calls, 30, "callers to hang up")
            finally:
                sipp.stop()
    finally:
        await client.close()
    print(f"\nembedded engine (mixer: {IMPLEMENTATION}), SIPp PCMU callers in one conference,")
    print(f"bridge process CPU over {WINDOW_SECONDS:.0f} s windows")
    print(f"{'callers':>8} {'embedded ms/caller-s':>22} {'Asterisk ms/caller-s*':>22} "
          f"{'ratio':>7} {'late ticks':>11}")  # fmt: skip
    for n, ms, late in rows:
        ref = ASTERISK_MS_PER_CALLER_SECOND[n]
        print(f"{n:>8} {ms:>22.2f} {ref:>22.1f} {ms / ref:>7.2f} {late:>11}")
    print("* Asterisk was NOT measured in this run: reference figures from "
          "shared/reference/real-pbx.md (same SIPp load, same machine kind)")  # fmt: skip
