"""The Asterisk side of bench_embedded, and the load both engines share.

Both engines get the same load: N SIPp callers (`uac_stream.xml`, the tone from
tests/bridge_testing/sipp.py, 100 new calls a second) stream into one conference; once all N are
mixed, CPU is read over a fixed window; then every call is ended from the engine's side and
the run waits for the room to empty before the next N.

Asterisk side: a real Asterisk from the tests/asterisk harness, loading our dialplan/. SIPp
dials a plain ConfBridge extension added for the benchmark (BENCH_DIALPLAN) that gives each
caller the dynamic profile our FastAGI asks for with play_beep=never (templates cb_bridge and
cb_user, quiet, silent sounds) and calls ConfBridge() with blank profile arguments. Why not
dial in through our FastAGI: the shipped [bridge-join] passes the profile names explicitly,
so Asterisk ignores the dynamic profile and plays a join sound per caller, one after another
through one announcer: that would be measured as mixing. Asterisk's CPU is utime + stime of
the asterisk process (every thread) from /proc/<pid>/stat.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bridge_testing.ami_test_client import AmiTestClient, next_action_id
from bridge_testing.asterisk_pbx import (
    AMI_USER,
    AsteriskPorts,
    AsteriskProcess,
    asterisk_root,
    root_is_complete,
)
from bridge_testing.sipp import start_sipp
from bridge_testing.wait import until

from bridge.protocols import ami

SIPP_RATE = 100  # new calls per second, both engines
# Callers hang up by themselves only if the engine's hang-up never reaches them.
SAFETY_HOLD_SECONDS = 90
ROOT_BUSY_WAIT_SECONDS = 60.0
BENCH_EXTENSION = "benchmix"
BENCH_ROOM = "cb-bench-mix"
# An exact extension outranks the shipped dial-in patterns of [bridge-dialin].
BENCH_DIALPLAN = f"""
[bridge-dialin](+)
exten => {BENCH_EXTENSION},1,Answer()
 same => n,Set(CONFBRIDGE(bridge,template)=cb_bridge)
 same => n,Set(CONFBRIDGE(bridge,sound_join)=silence/1)
 same => n,Set(CONFBRIDGE(bridge,sound_leave)=silence/1)
 same => n,Set(CONFBRIDGE(bridge,sound_kicked)=silence/1)
 same => n,Set(CONFBRIDGE(user,template)=cb_user)
 same => n,Set(CONFBRIDGE(user,quiet)=yes)
 same => n,ConfBridge({BENCH_ROOM})
 same => n,Hangup()
"""


def cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def why_not_measurable() -> str | None:
    """None when this machine can run the real Asterisk, else the reason it cannot."""
    root = asterisk_root()
    if os.geteuid() != 0:
        return "not running as root (chroot and mounts need it)"
    if not root_is_complete(root):
        return f"no Asterisk root at {root} (built by .ci/asterisk-root.sh)"
    return None


def _pids_running_in(root: Path) -> list[int]:
    target = str(root.resolve())
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "root") == target:
                    pids.append(int(entry.name))
    return pids


async def wait_root_free(within: float = ROOT_BUSY_WAIT_SECONDS) -> bool:
    """Only one Asterisk can run from the root: wait for another run's to end, never kill it."""
    deadline = time.monotonic() + within
    while _pids_running_in(asterisk_root()):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)
    return True


class BenchAsterisk(AsteriskProcess):
    """The harness's Asterisk, plus the benchmark's ConfBridge extension."""

    def install_config(self) -> None:
        super().install_config()
        with (self.root / "etc/asterisk/extensions_bridge_local.conf").open("a") as conf:
            conf.write(BENCH_DIALPLAN)


@dataclass(frozen=True)
class AsteriskSample:
    n: int
    ms_per_caller_second: float
    wall: float


@dataclass
class AsteriskConfbridgeLoad:
    """One Asterisk, reused for every N of the run."""

    pbx: BenchAsterisk
    ami: AmiTestClient
    workdir: Path
    version: str = ""

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, workdir: Path) -> AsyncIterator[AsteriskConfbridgeLoad]:
        pbx = BenchAsterisk(asterisk_root(), AsteriskPorts.pick())
        try:
            pbx.start()
            await asyncio.to_thread(pbx.wait_fully_booted)
            client = await AmiTestClient.connect(
                "127.0.0.1", pbx.ports.ami, AMI_USER, pbx.secret, events="off"
            )
            try:
                shown = await asyncio.to_thread(pbx.cli, "core show version")
                version = shown.strip().split(" built ")[0]
                yield cls(pbx, client, workdir, version)
            finally:
                await client.close()
        finally:
            pbx.stop()

    async def _callers_in(self) -> int:
        """Asterisk's own view: SIP callers ConfbridgeList shows in the room."""
        listing = await self.ami.send(ami.confbridge_list(BENCH_ROOM, next_action_id("bench")))
        if not listing.ok:  # "No Conference by that name found."
            return 0
        return sum(1 for e in listing.events if (e.get("Channel") or "").startswith("PJSIP/"))

    async def _room_gone(self) -> bool:
        rooms = await self.ami.send(ami.confbridge_list_rooms(next_action_id("bench")))
        return not rooms.ok or all(e.get("Conference") != BENCH_ROOM for e in rooms.events)

    async def measure(self, n: int, window: float) -> AsteriskSample:
        pid = self._asterisk_pid()

        async def all_in() -> bool:
            return await self._callers_in() >= n

        sipp = start_sipp(
            self.workdir / f"sipp{n}", ("127.0.0.1", self.pbx.ports.sip), BENCH_EXTENSION,
            scenario="uac_stream.xml", calls=n, rate=SIPP_RATE,
            duration_ms=SAFETY_HOLD_SECONDS * 1000,
        )  # fmt: skip
        try:
            await until(all_in, n / SIPP_RATE + 20, f"{n} callers in ConfBridge", every=0.2)
            cpu0, wall0 = cpu_seconds(pid), time.monotonic()
            await asyncio.sleep(window)  # the measurement window itself
            cpu, wall = cpu_seconds(pid) - cpu0, time.monotonic() - wall0
            still = await self._callers_in()
            assert still == n, f"only {still} of {n} callers stayed through the window"
            kick = await self.ami.send(ami.confbridge_kick(BENCH_ROOM, "all", next_action_id()))
            assert kick.ok, kick.message
            # SIPp answers Asterisk's BYE and counts the call as aborted: exit code not 0.
            await asyncio.to_thread(sipp.process.wait, 60)
            await until(self._room_gone, 30, "the ConfBridge room to empty", every=0.2)
        finally:
            sipp.stop()
        return AsteriskSample(n, cpu * 1000 / (n * wall), wall)

    def _asterisk_pid(self) -> int:
        assert self.pbx.process is not None and self.pbx.process.poll() is None, self.pbx.tail()
        pid = self.pbx.process.pid
        # chroot execs asterisk, so this PID is Asterisk itself, not a wrapper
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        assert comm == "asterisk", f"PID {pid} is {comm!r}, not asterisk"
        return pid
