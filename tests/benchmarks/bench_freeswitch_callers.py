"""N SIPp callers through the real FreeSWITCH into one conference, beside the embedded
engine under the same load in the same run. Prints figures only.

FreeSWITCH side: a real FreeSWITCH in its own tree with our freeswitch-conf/ installed
(tests/bridge_testing/real_freeswitch.py), the real app with the FreeSWITCH engine; the
callers dial the access code through the shipped SIP profile and the shipped dialplan's
outbound socket, so every join goes through the bridge. The tree gets two load settings
that are no install step: more RTP ports and more new sessions a second than the trimmed
config allows (16384-16584, 30/s).

Figures, per engine: join -> webhook p50/p99 (from a participant.joined event's
``occurred_at``, the moment the bridge applied FreeSWITCH's add-member, to the webhook's
arrival at a receiver on the loopback) and joining -> joined p50/p99 (webhook arrivals:
admitted on the outbound socket -> a member on FreeSWITCH); CPU per caller-second once all
N are mixed, over a fixed window: FreeSWITCH's process (utime + stime) and, beside it, the
bridge process driving it (time.process_time); the embedded engine: the bridge process,
which mixes itself.

N is 200 (BRIDGE_BENCH_FS_CALLERS overrides; .ci/run may set a smaller N, and the table
says which N ran). Run: pytest tests/benchmarks/bench_freeswitch_callers.py -m benchmark -s
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from asterisk_confbridge_load import SAFETY_HOLD_SECONDS, cpu_seconds
from bridge_testing.join_rig import TimedReceiver
from bridge_testing.live_app import start_live
from bridge_testing.real_freeswitch import (
    FreeSwitchPorts,
    FreeSwitchProcess,
    freeswitch_home,
    installed,
)
from bridge_testing.sipp import sipp_available, start_sipp
from bridge_testing.wait import until

from bridge.app import PARTS, build_app
from bridge.config import Config
from bridge.pbx.embedded.backend import EmbeddedBackend

pytestmark = pytest.mark.benchmark

CALLERS = int(os.environ.get("BRIDGE_BENCH_FS_CALLERS", "200"))
RATE = 50  # new calls a second, both engines
WINDOW_SECONDS = 4.0


@dataclass
class Figures:
    engine: str
    callers: int
    join_to_webhook: list[float]
    joining_to_joined: list[float]
    engine_cpu_ms: float | None  # per caller-second, the PBX process
    bridge_cpu_ms: float  # per caller-second, this (the bridge's) process


def _pct(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.1f}"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _latencies(receiver: TimedReceiver, conf_id: str) -> tuple[list[float], list[float]]:
    joined_at = receiver.first("participant.joined", conf_id)
    joining_at = receiver.first("participant.joining", conf_id)
    to_webhook: list[float] = []
    for a in receiver.arrivals:
        e = a.event
        if e.get("type") == "participant.joined" and e.get("conference_id") == conf_id:
            occurred = datetime.fromisoformat(str(e["occurred_at"]).replace("Z", "+00:00"))
            to_webhook.append(a.at - occurred.timestamp())
    admitted = [joined_at[p] - joining_at[p] for p in joined_at if p in joining_at]
    return to_webhook, admitted


class BenchFreeSwitch(FreeSwitchProcess):
    """A session tree with room for the load (not an install step: see the docstring)."""

    def prepare(self) -> None:
        super().prepare()
        switch = self.conf / "autoload_configs/switch.conf.xml"
        xml = switch.read_text()
        for name, value in (
            ("rtp-end-port", "18384"),
            ("sessions-per-second", "500"),
            ("max-sessions", "2000"),
        ):
            xml = re.sub(
                rf'(<param name="{name}" value=")[^"]*(")', rf"\g<1>{value}\g<2>", xml, count=1
            )
        switch.write_text(xml)


def _pid(fs: FreeSwitchProcess) -> int:
    return int((fs.tree / "var/run/freeswitch/freeswitch.pid").read_text().strip())


async def _conference(call: Any, n: int, code: str, hook: str) -> str:
    status, conf = await call(
        "POST",
        "/v1/conferences",
        {
            "name": f"bench{n}",
            "play_beep": "never",
            "status_callback_url": hook,
            "dial_in": {"access_code": code},
        },
    )
    assert status == 201, conf
    return str(conf["id"])


async def _measure_freeswitch(tmp: Path, receiver: TimedReceiver) -> Figures:
    fs = BenchFreeSwitch(freeswitch_home(), tmp / "fs", FreeSwitchPorts.pick())
    fs.prepare()
    fs.start()
    try:
        async with start_live(
            fs,
            tmp / "app",
            unreserved_max_participants=CALLERS + 10,
            outbound_allowed_cidrs=("127.0.0.1/32",),
        ) as live:
            code = "7800"
            cid = await _conference(live.call, CALLERS, code, receiver.url)
            sipp = start_sipp(
                tmp / "sipp-fs", ("127.0.0.1", fs.ports.sip), code, scenario="uac_stream.xml",
                tone_hz=660.0, calls=CALLERS, rate=RATE, duration_ms=SAFETY_HOLD_SECONDS * 1000,
            )  # fmt: skip
            try:

                async def all_in() -> bool:
                    return int(live.backend.health()["members"]) >= CALLERS

                async def all_hooked() -> bool:
                    return len(receiver.first("participant.joined", cid)) >= CALLERS

                await until(all_in, CALLERS / RATE + 60, f"{CALLERS} FreeSWITCH members")
                pid = _pid(fs)
                fs0, cpu0, wall0 = cpu_seconds(pid), time.process_time(), time.monotonic()
                await asyncio.sleep(WINDOW_SECONDS)  # the measurement window itself
                wall = time.monotonic() - wall0
                fs_cpu, bridge_cpu = cpu_seconds(pid) - fs0, time.process_time() - cpu0
                await until(all_hooked, 60, "every participant.joined webhook")
                to_webhook, admitted = _latencies(receiver, cid)
                status, body = await live.call("DELETE", f"/v1/conferences/{cid}")
                assert status == 200, body
                await asyncio.to_thread(sipp.process.wait, 60)
            finally:
                sipp.stop()
    finally:
        fs.stop()
    per = CALLERS * wall
    return Figures(
        "freeswitch", CALLERS, to_webhook, admitted, fs_cpu * 1000 / per, bridge_cpu * 1000 / per
    )


async def _measure_embedded(tmp: Path, receiver: TimedReceiver) -> Figures:
    config = Config(
        data_dir=tmp / "data",
        database_url=f"sqlite:///{tmp / 'bridge.db'}",
        unreserved_max_participants=CALLERS + 10,
        outbound_allowed_cidrs=("127.0.0.1/32",),
        webhook_poll_seconds=0.2,
        sip_port=0,
    )
    backend = EmbeddedBackend(
        sip_host="127.0.0.1",
        sip_port=0,
        rtp_port_min=34000,
        rtp_port_max=35998,
        media_dir=config.media_dir,
        recordings_dir=config.recordings_dir,
    )
    app = build_app(config, backend=backend, run_scheduler=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    parts = app[PARTS]
    key = parts.admin_key
    assert key is not None

    async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        resp = await client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {key}"}
        )
        return resp.status, await resp.json()

    try:
        code = "7801"
        cid = await _conference(call, CALLERS, code, receiver.url)
        sipp = start_sipp(
            tmp / "sipp-embedded", backend.sip_address, code, scenario="uac_stream.xml",
            tone_hz=660.0, calls=CALLERS, rate=RATE, duration_ms=SAFETY_HOLD_SECONDS * 1000,
        )  # fmt: skip
        try:

            async def all_in() -> bool:
                room = backend.rooms.get(cid)
                return room is not None and len(room.members) >= CALLERS

            async def all_hooked() -> bool:
                return len(receiver.first("participant.joined", cid)) >= CALLERS

            await until(all_in, CALLERS / RATE + 60, f"{CALLERS} embedded members")
            await parts.observer.drain()
            cpu0, wall0 = time.process_time(), time.monotonic()
            await asyncio.sleep(WINDOW_SECONDS)  # the measurement window itself
            wall = time.monotonic() - wall0
            bridge_cpu = time.process_time() - cpu0
            await until(all_hooked, 60, "every participant.joined webhook")
            to_webhook, admitted = _latencies(receiver, cid)
            status, body = await call("DELETE", f"/v1/conferences/{cid}")
            assert status == 200, body
            await asyncio.to_thread(sipp.process.wait, 60)
        finally:
            sipp.stop()
    finally:
        await client.close()
    return Figures(
        "embedded", CALLERS, to_webhook, admitted, None, bridge_cpu * 1000 / (CALLERS * wall)
    )


def _print(rows: list[Figures]) -> None:
    print(f"\nFreeSWITCH vs embedded engine, {CALLERS} SIPp callers in one conference ({RATE}/s)")
    print(
        f"{'engine':<11}{'join->webhook p50/p99 ms':>26}{'joining->joined p50/p99 ms':>29}"
        f"{'PBX CPU ms/caller-s':>21}{'bridge CPU ms/caller-s':>24}"
    )
    for r in rows:
        hook = f"{_pct(r.join_to_webhook, 0.5)} / {_pct(r.join_to_webhook, 0.99)}"
        admit = f"{_pct(r.joining_to_joined, 0.5)} / {_pct(r.joining_to_joined, 0.99)}"
        pbx = "-" if r.engine_cpu_ms is None else f"{r.engine_cpu_ms:.2f}"
        print(f"{r.engine:<11}{hook:>26}{admit:>29}{pbx:>21}{r.bridge_cpu_ms:>24.2f}")
    print(
        "(embedded: the bridge mixes itself, so its bridge CPU is the engine's; "
        f"percentiles over {len(rows[0].join_to_webhook)} joins per engine)"
    )


async def test_freeswitch_callers_beside_the_embedded_engine() -> None:
    if not installed(freeswitch_home()):
        _unavailable(f"no FreeSWITCH at {freeswitch_home()}; run bash .ci/freeswitch.sh")
    if not sipp_available():
        _unavailable("sipp not installed (apt-get install sip-tester)")
    with tempfile.TemporaryDirectory(prefix="cb-bench-fs-") as tmp:
        receiver = TimedReceiver()
        await receiver.start()
        try:
            rows = [
                await _measure_freeswitch(Path(tmp) / "fs-run", receiver),
                await _measure_embedded(Path(tmp) / "embedded-run", receiver),
            ]
        finally:
            await receiver.stop()
    _print(rows)
