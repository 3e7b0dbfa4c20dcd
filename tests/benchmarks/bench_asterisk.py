"""Asterisk engine under load: SIPp callers (100; BRIDGE_BENCH_ASTERISK_CALLERS up to 200)
join and leave one conference.

Prints (never asserts) the observations the spine applied per second of observer time,
the join → webhook latency (ConfbridgeJoin handled by the backend → participant.joined
webhook received) p50/p99, and CPU time per join of the bridge process beside the
asterisk process (from /proc). Needs the Asterisk root (.ci/asterisk-root.sh), root and
sipp; skipped otherwise (the asterisk-marked suite is where a missing Asterisk fails).

    python -m pytest -m benchmark -s tests/benchmarks/bench_asterisk.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "asterisk"))

from ami_test_client import AmiTestClient
from asterisk_pbx import (
    AMI_USER,
    AsteriskPorts,
    AsteriskProcess,
    asterisk_root,
    root_is_complete,
)
from live_bridge import Live, running_bridge, until
from receiver import Received, WebhookReceiver
from sipp_phones import _run, uac_scenario
from sipp_runner import sipp_available

from bridge.pbx.asterisk.backend import AsteriskBackend

pytestmark = pytest.mark.benchmark

CALLERS = int(os.environ.get("BRIDGE_BENCH_ASTERISK_CALLERS", "100"))  # up to 200
RATE = 50  # new calls per second
HOLD_MS = 3000


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TimedReceiver(WebhookReceiver):
    """The real receiver, noting when each participant.joined arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.joined_at: dict[str, float] = {}

    async def _handle(self, request: Any) -> Any:
        response = await super()._handle(request)
        last: Received = self.received[-1]
        event = last.json["event"]
        if event["type"] == "participant.joined":
            self.joined_at.setdefault(event["participant_id"], time.monotonic())
        return response


@pytest.fixture(scope="module")
def pbx() -> Iterator[AsteriskProcess]:
    root = asterisk_root()
    if not root_is_complete(root) or os.geteuid() != 0 or not sipp_available():
        pytest.skip("needs the Asterisk root, root privileges and sipp")
    process = AsteriskProcess(root, AsteriskPorts.pick())
    try:
        process.start()
        process.wait_fully_booted()
        yield process
    finally:
        process.stop()


@pytest.fixture
async def bench_live(pbx: AsteriskProcess, tmp_path: Path) -> AsyncIterator[Live]:
    receiver = TimedReceiver()
    await receiver.start()
    client = await AmiTestClient.connect("127.0.0.1", pbx.ports.ami, AMI_USER, pbx.secret)
    try:
        async with running_bridge(
            pbx, client, receiver, tmp_path, unreserved_max=max(40, CALLERS)
        ) as live:
            yield live
    finally:
        await client.close()
        await receiver.stop()


def _patch_timing(backend: AsteriskBackend, observer: Any) -> tuple[dict[str, float], list[float]]:
    joined: dict[str, float] = {}
    busy: list[float] = []
    report = backend._joined
    apply = observer.apply

    def joined_hook(call: Any) -> None:
        joined.setdefault(call.participant_id, time.monotonic())
        report(call)

    async def timed_apply(o: Any) -> None:
        start = time.perf_counter()
        try:
            await apply(o)
        finally:
            busy.append(time.perf_counter() - start)

    backend._joined = joined_hook  # type: ignore[method-assign]
    observer.apply = timed_apply
    return joined, busy


async def test_callers_join_and_leave_one_conference(bench_live: Live) -> None:
    live = bench_live
    receiver = live.receiver
    assert isinstance(receiver, TimedReceiver)
    # No beeps: ConfBridge plays join/leave sounds one after another through one
    # announcer, and the last leave waits for that queue (~1 s per join in a burst).
    conf = await live.conference("7777", play_beep="never")
    joined, busy = _patch_timing(live.backend, live.parts.observer)
    assert live.pbx.process is not None
    pbx_pid = live.pbx.process.pid
    cpu_bridge0, cpu_pbx0 = time.process_time(), _cpu_seconds(pbx_pid)
    started = time.monotonic()
    scenario = uac_scenario(steps=(("pause", HOLD_MS),), wait_for_bye_ms=1)
    phones = _run(
        live.workdir / "sipp-bench",
        scenario,
        ["-s", "7777", "-m", str(CALLERS), "-r", str(RATE), "-l", str(CALLERS),
         f"127.0.0.1:{live.pbx.ports.sip}"],
    )  # fmt: skip
    live.phones.append(phones)
    try:
        # Cheap conditions while the load runs (no API polling to compete with the spine).
        await asyncio.to_thread(phones.process.wait, 90)
        with contextlib.suppress(AssertionError):
            await until(lambda: not live.backend.registry.calls, within=10)
    finally:
        phones.stop()
    stuck = [(c.uniqueid, c.where.value) for c in live.backend.registry.calls.values()]
    await live.parts.observer.drain()
    await receiver.wait_for(lambda r: len(receiver.joined_at) >= CALLERS, within=60)
    left = len(await live.participants(conf["id"], status="left"))
    elapsed = time.monotonic() - started
    cpu_bridge = time.process_time() - cpu_bridge0
    cpu_pbx = _cpu_seconds(pbx_pid) - cpu_pbx0

    latencies = sorted(
        (receiver.joined_at[pid] - t) * 1000
        for pid, t in joined.items()
        if pid in receiver.joined_at
    )
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    observed = live.backend.observations_reported
    print(
        f"\nasterisk bench: {CALLERS} SIPp callers, {RATE}/s, {HOLD_MS} ms each, "
        f"{elapsed:.1f} s wall\n"
        f"  observations: {observed} reported, applied at "
        f"{len(busy) / sum(busy):.0f}/s of observer time ({observed / elapsed:.0f}/s wall)\n"
        f"  join -> participant.joined webhook: p50 {statistics.median(latencies):.1f} ms, "
        f"p99 {p99:.1f} ms (n={len(latencies)})\n"
        f"  CPU per join: bridge {cpu_bridge / CALLERS * 1000:.1f} ms "
        f"(whole test process: app, receiver, SIPp driver excluded), "
        f"asterisk {cpu_pbx / CALLERS * 1000:.1f} ms (mixing included)\n"
        f"  left: {left}/{CALLERS}; calls Asterisk had not finished 10 s after SIPp: {stuck}"
    )
