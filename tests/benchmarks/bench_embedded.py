"""The embedded engine beside a real Asterisk ConfBridge: CPU per caller-second (issue #5).

N SIPp callers (Debian sip-tester, `uac_stream.xml`) stream PCMU into one conference of the
embedded engine, running inside the real app in this process; then the same callers stream
into one ConfBridge room of a real Asterisk (asterisk_confbridge_load.py says how, and why SIPp
dials a plain ConfBridge extension there rather than our FastAGI).
Once all N are mixed, CPU time is read over a fixed window: for the embedded engine the
whole bridge process (time.process_time: every thread, API and store included), for
Asterisk the asterisk process (utime + stime from /proc). Prints one table; asserts nothing
about speed. Without the Asterisk root (or root privileges) the Asterisk column falls back
to the reference figures of shared/reference/real-pbx.md, clearly labelled.

Run: pytest tests/benchmarks/bench_embedded.py -m benchmark -s
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from asterisk_confbridge_load import (
    SAFETY_HOLD_SECONDS,
    SIPP_RATE,
    AsteriskConfbridgeLoad,
    AsteriskSample,
    wait_root_free,
    why_not_measurable,
)
from bridge_testing.sipp import Sipp, sipp_available, start_sipp
from bridge_testing.wait import until

from bridge.app import PARTS, build_app
from bridge.config import Config
from bridge.media.mixer import IMPLEMENTATION
from bridge.pbx.embedded.backend import EmbeddedBackend

pytestmark = pytest.mark.benchmark

CALLERS = (10, 50, 100, 200)
WINDOW_SECONDS = 4.0
# shared/reference/real-pbx.md: Asterisk ConfBridge, same SIPp load, this machine kind, 20 s
ASTERISK_REFERENCE_MS = {10: 2.8, 50: 1.9, 100: 1.5, 200: 1.5}


@dataclass
class Conference:
    """One conference of the app under test, and the SIPp callers streaming into it."""

    client: TestClient[Any, Any]
    key: str
    id: str = ""
    sipp: Sipp | None = None

    async def create(self, name: str, code: str) -> str:
        resp = await self.client.post(
            "/v1/conferences",
            json={"name": name, "play_beep": "never", "dial_in": {"access_code": code}},
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert resp.status == 201, await resp.text()
        self.id = (await resp.json())["id"]
        return self.id

    def call_in(self, workdir: Path, server: tuple[str, int], code: str, n: int) -> None:
        self.sipp = start_sipp(
            workdir, server, code, scenario="uac_stream.xml",
            calls=n, rate=SIPP_RATE, duration_ms=SAFETY_HOLD_SECONDS * 1000,
        )  # fmt: skip

    async def terminate(self) -> None:
        """End every call from the bridge's side and wait for SIPp to see them all end."""
        resp = await self.client.delete(
            f"/v1/conferences/{self.id}", headers={"Authorization": f"Bearer {self.key}"}
        )
        assert resp.status == 200, await resp.text()
        assert self.sipp is not None
        # SIPp answers the bridge's BYE and counts the call as aborted: its exit code is not 0.
        await asyncio.to_thread(self.sipp.process.wait, 60)

    def stop(self) -> None:
        if self.sipp is not None:
            self.sipp.stop()


async def _measure_embedded(tmp_path: Path) -> list[tuple[int, float, int]]:
    """(callers, ms CPU per caller-second, late ticks in the window) for each N."""
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
    parts = app[PARTS]
    assert parts.admin_key is not None
    rows: list[tuple[int, float, int]] = []
    try:
        for n in CALLERS:
            code = f"77{n:03d}"
            conf = Conference(client, parts.admin_key)
            cid = await conf.create(f"embedded{n}", code)

            async def all_in(cid: str = cid, n: int = n) -> bool:
                room = backend.rooms.get(cid)
                return room is not None and len(room.members) >= n

            async def all_gone() -> bool:
                return not backend.ua.calls

            try:
                conf.call_in(tmp_path / f"sipp{n}", backend.sip_address, code, n)
                await until(all_in, n / SIPP_RATE + 20, f"{n} callers to join")
                await parts.observer.drain()  # the joins' database work is done
                r = backend.rooms[cid]
                ticks, late = r.ticks, r.late_ticks
                cpu0, wall0 = time.process_time(), time.monotonic()
                await asyncio.sleep(WINDOW_SECONDS)  # the measurement window itself
                cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
                assert len(r.members) == n, f"only {len(r.members)} of {n} stayed in the window"
                rows.append((n, cpu * 1000 / (n * wall), r.late_ticks - late))
                print(f"  embedded n={n}: {r.ticks - ticks} ticks in {wall:.2f} s")
                await conf.terminate()
                await until(all_gone, 30, "callers to hang up")
            finally:
                conf.stop()
    finally:
        await client.close()
    return rows


async def _measure_asterisk(tmp_path: Path) -> tuple[dict[int, AsteriskSample], str]:
    """Samples per N, or none and the reason Asterisk was not measured."""
    reason = why_not_measurable()
    if reason is None and not await wait_root_free():
        reason = "another Asterisk kept running from the root"
    if reason is not None:
        return {}, reason
    samples: dict[int, AsteriskSample] = {}
    async with AsteriskConfbridgeLoad.running(tmp_path) as load:
        print(f"  {load.version}")
        for n in CALLERS:
            samples[n] = await load.measure(n, WINDOW_SECONDS)
            print(f"  asterisk n={n}: window {samples[n].wall:.2f} s")
    return samples, ""


def _print_table(
    embedded: list[tuple[int, float, int]], asterisk: dict[int, AsteriskSample], missing: str
) -> None:
    mark = "" if asterisk else "*"
    print(f"\nSIPp PCMU callers streaming into one conference, CPU over {WINDOW_SECONDS:.0f} s "
          "windows once all callers are in")  # fmt: skip
    print(f"  embedded: bridge process (app, API, store), mixer implementation {IMPLEMENTATION}")
    if asterisk:
        print(
            "  Asterisk: asterisk process, app_confbridge + bridge_softmix, measured in this run;\n"
            "  SIPp dials a plain ConfBridge extension (our cb_bridge/cb_user profiles, quiet)"
        )
    print(f"{'callers':>8} {'embedded ms/caller-s':>21} {'Asterisk ms/caller-s' + mark:>22} "
          f"{'ratio (emb/Ast)':>16} {'late ticks':>11}")  # fmt: skip
    for n, ms, late in embedded:
        ref = asterisk[n].ms_per_caller_second if asterisk else ASTERISK_REFERENCE_MS[n]
        ratio = f"{ms / ref:.2f}" if ref > 0 else "n/a"
        print(f"{n:>8} {ms:>21.2f} {ref:>22.2f} {ratio:>16} {late:>11}")
    if not asterisk:
        print(
            f"* Asterisk was NOT measured in this run ({missing}): reference figures"
            " from shared/reference/real-pbx.md (same SIPp load, machine kind, 20 s)"
        )
    else:
        known = ", ".join(f"{n}: {ms}" for n, ms in ASTERISK_REFERENCE_MS.items())
        print(f"  (Asterisk in shared/reference/real-pbx.md, 20 s windows: {known})")


@pytest.mark.skipif(not sipp_available(), reason="sipp (Debian sip-tester) is not installed")
async def test_embedded_and_asterisk_cpu_per_caller(tmp_path: Path) -> None:
    embedded = await _measure_embedded(tmp_path / "embedded")
    try:
        asterisk, missing = await _measure_asterisk(tmp_path / "asterisk")
    except Exception:
        _print_table(embedded, {}, "its measurement FAILED, see below")
        raise
    _print_table(embedded, asterisk, missing)
