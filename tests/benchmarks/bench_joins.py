"""The control plane at meeting scale: N SIPp callers dial into ONE conference, then all hang up.

N callers (BRIDGE_BENCH_JOIN_CALLERS, default 200) dial the conference's access code at 50
new calls a second (the conference has play_beep=never) and hold their calls; they send no
RTP (the control plane is measured, not the mixer). Once all are listed joined and every
participant.joined webhook has arrived (at most WEBHOOK_DEADLINE), they all hang up at once:
join_rig.Callers sends each SIPp call an INFO and it sends its BYE, as at the end of a
meeting. Per run it measures, black-box (HTTP API, webhooks, SIP only):

- join -> webhook: per caller, from the SIP 200 OK as the caller saw it (SIPp notes the wall
  clock when the 200 arrives) to the participant.joined webhook arriving at a local aiohttp
  receiver (the conference's status_callback_url). The call is matched to the participant
  by the From user set per call, which the bridge keeps as the participant's `from`.
  p50, p99, max and count, in ms.
- all joined listed: from the first INVITE until GET .../participants?status=joined lists
  all N (polled every 0.1 s, so up to 0.1 s late).
- all left: from the mass hangup until no participant is joining, joined or leaving.
- hangup -> left webhook: per caller, from the mass hangup (the first INFO that makes the
  callers send their BYE) to its participant.left webhook arriving; p50 and p99, in ms.

Engines: the embedded engine (SIPp dials the bridge) and a real Asterisk (SIPp dials
Asterisk, which hands each call to the bridge's FastAGI dial-in, as bench_asterisk.py does);
each on SQLite, and on PostgreSQL when BRIDGE_TEST_POSTGRES_URL is set (a schema of its own
per run). Designs: the bridge of this tree ("current") beside the bridge of the pre-redesign
commit ("baseline", tests/benchmarks/baseline.py), each run the same way, in a child process
(join_server.py) built by bridge.app.build_app(Config(...)) with default settings except the
ports, the database, capacity, loopback allowed for webhooks and no RTP timeout.

Prints one table; asserts only correctness of the current design (every call connected,
every caller produced a participant.joined webhook), never timings.

    python -m pytest tests/benchmarks/bench_joins.py -m benchmark -s
"""

from __future__ import annotations

import asyncio
import contextlib
import filecmp
import io
import os
import random
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from asterisk_confbridge_load import wait_root_free, why_not_measurable
from baseline import BASELINE_COMMIT, ROOT, baseline_tree
from bridge_testing.asterisk_pbx import AsteriskPorts, AsteriskProcess, asterisk_root
from bridge_testing.join_rig import (
    BridgeChild,
    Callers,
    TimedReceiver,
    call_number,
    postgres_schema,
    wait_for,
)
from bridge_testing.process import free_port
from bridge_testing.real_pbx import asterisk_config
from secret_guard import register_secret

pytestmark = pytest.mark.benchmark

CALLERS = int(os.environ.get("BRIDGE_BENCH_JOIN_CALLERS", "200"))
RATE = 50  # new calls per second
TARGET_P99_MS = 50.0  # join -> participant.joined webhook
POSTGRES_URL = os.environ.get("BRIDGE_TEST_POSTGRES_URL")
ACCESS_CODE = "246810"
POLL_SECONDS = 0.1
# deadlines: none of them is a wait that passes by itself
JOIN_DEADLINE = CALLERS / RATE + 60.0
WEBHOOK_DEADLINE = 60.0
LEAVE_DEADLINE = 60.0
# a caller that never gets its hang-up INFO hangs up by itself after this
HOLD_SAFETY_SECONDS = JOIN_DEADLINE + WEBHOOK_DEADLINE + 30.0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: this is a failure, not a skip)")
    pytest.skip(reason)


@dataclass
class Row:
    engine: str
    database: str
    design: str
    latencies_ms: list[float] = field(default_factory=list)
    leave_ms: list[float] = field(default_factory=list)  # mass hangup -> participant.left
    all_listed_s: float | None = None
    all_left_s: float | None = None
    connected: int = 0
    joined_webhooks: int = 0  # callers (call numbers) with a participant.joined webhook
    module: str = ""  # the bridge package the child process ran
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return CALLERS - self.connected

    def percentile(self, q: float, of: list[float] | None = None) -> float | None:
        values = self.latencies_ms if of is None else of
        if not values:
            return None
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def print(self) -> None:
        print(
            f"\nbench_joins: {CALLERS} SIPp callers (streaming PCMU) dial into one conference at "
            f"{RATE}/s (placing them takes {CALLERS / RATE:.1f} s), hold, then all hang up at once"
        )
        print(
            "  join->webhook: caller's 200 OK -> participant.joined at the receiver (ms); "
            "listed: first INVITE -> GET ?status=joined lists all (s);\n"
            "  left: mass hangup -> none joining/joined/leaving (s); "
            "leave p50/p99: mass hangup -> each participant.left webhook (ms);\n  "
            f"target: join->webhook p99 <= {TARGET_P99_MS:.0f} ms"
        )
        head = (
            f"{'engine':<9}{'db':<9}{'design':<9}{'p50':>8}{'p99':>8}{'max':>8}{'n':>5}"
            f"{'p99<=50':>9}{'listed':>8}{'left':>7}{'failed':>7}{'joined hooks':>13}"
            f"{'leave p50':>10}{'leave p99':>10}"
        )
        print(head)
        print("-" * len(head))
        for r in self.rows:
            p99 = r.percentile(0.99)
            target = "-" if p99 is None else ("met" if p99 <= TARGET_P99_MS else "MISSED")
            print(
                f"{r.engine:<9}{r.database:<9}{r.design:<9}{_ms(r.percentile(0.5)):>8}"
                f"{_ms(p99):>8}{_ms(max(r.latencies_ms, default=None)):>8}"
                f"{len(r.latencies_ms):>5}{target:>9}{_s(r.all_listed_s):>8}"
                f"{_s(r.all_left_s):>7}{r.failures:>7}{r.joined_webhooks:>8}/{CALLERS:<4}"
                f"{_ms(r.percentile(0.5, r.leave_ms)):>10}{_ms(r.percentile(0.99, r.leave_ms)):>10}"
            )
            for note in r.notes:
                print(f"    {r.engine}/{r.database}/{r.design}: {note}")
        ran = {f"{r.design} ran {r.module}" for r in self.rows if r.module}
        for note in [*sorted(ran), *self.notes]:
            print(f"  {note}")


def _progress(row: Row, what: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {row.engine}/{row.database}/{row.design}: {what}")


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


@pytest.fixture(scope="module")
def table() -> Iterator[Table]:
    t = Table()
    yield t
    t.print()


@pytest.fixture(scope="module")
def designs(table: Table) -> list[tuple[str, Path]]:
    """(name, tree): the baseline checkout first when there is one, then this tree."""
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        tree = baseline_tree()
    if tree is None:
        why = said.getvalue().strip() or "baseline_tree() gave no checkout"
        table.notes.append(f"baseline not measured: {why}")
        return [("current", ROOT)]
    table.notes.append(f"baseline: commit {BASELINE_COMMIT}, checked out at {tree}")
    return [("baseline", tree), ("current", ROOT)]


def _databases(table: Table) -> list[str]:
    if POSTGRES_URL:
        return ["sqlite", "postgres"]
    table.notes.append("PostgreSQL not measured: BRIDGE_TEST_POSTGRES_URL is not set")
    return ["sqlite"]


def _check(rows: list[Row]) -> None:
    """Correctness of the current design only; the baseline's figures are just reported."""
    for r in rows:
        if r.design != "current":
            continue
        where = f"{r.engine}/{r.database}"
        assert r.connected == CALLERS, f"{where}: {r.failures} of {CALLERS} calls did not connect"
        assert r.joined_webhooks == CALLERS, (
            f"{where}: {r.joined_webhooks} of {CALLERS} callers produced a participant.joined"
        )


async def _measure(
    row: Row,
    tree: Path,
    engine_config: dict[str, Any],
    sip_server: tuple[str, int],
    workdir: Path,
    run: int,
) -> None:
    config: dict[str, Any] = {
        "data_dir": str(workdir / "data"),
        "outbound_allowed_cidrs": ["127.0.0.1/32"],  # the receiver is on the loopback
        "unreserved_max_participants": CALLERS + 10,
        **engine_config,
    }
    receiver = TimedReceiver()
    await receiver.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            schema: str | None = None
            if row.database == "postgres":
                assert POSTGRES_URL is not None
                schema = await stack.enter_async_context(
                    postgres_schema(POSTGRES_URL, "bench_joins", run)
                )
                config["database_url"] = POSTGRES_URL
            else:
                config["database_url"] = f"sqlite:///{workdir / 'bridge.db'}"
            bridge = await stack.enter_async_context(
                BridgeChild.running(tree, config, workdir / "bridge.log", pg_schema=schema)
            )
            if schema is not None and not bridge.schema_hook:
                row.notes.append(f"the bridge ignored search_path={schema}: ran in public")
            try:
                await _scenario(row, bridge, receiver, sip_server, workdir)
            except BaseException:
                print(
                    f"\n--- {row.engine}/{row.database}/{row.design} bridge log:\n{bridge.tail()}"
                )
                raise
    finally:
        await receiver.stop()


async def _scenario(
    row: Row,
    bridge: BridgeChild,
    receiver: TimedReceiver,
    sip_server: tuple[str, int],
    workdir: Path,
) -> None:
    if not await bridge.engine_ready():
        row.notes.append("the engine did not report ok on /healthz within 30 s; measured anyway")
    conf = await bridge.ok(
        "POST", "/v1/conferences", 201,
        json={
            "name": "meeting", "play_beep": "never", "status_callback_url": receiver.url,
            "dial_in": {"access_code": ACCESS_CODE},
        },
    )  # fmt: skip
    cid = conf["id"]
    callers = Callers.start(
        workdir / "sipp", sip_server, ACCESS_CODE,
        calls=CALLERS, rate=RATE, hold_seconds=HOLD_SAFETY_SECONDS,
    )  # fmt: skip
    try:
        listed_at: float | None = None
        most = 0

        async def all_joined() -> bool:
            nonlocal listed_at, most
            joined = await bridge.participants(cid, "joined")
            most = max(most, len(joined))
            if len(joined) >= CALLERS:
                listed_at = time.time()
                return True
            return callers.process.poll() is not None  # SIPp ended: no more joins come

        await wait_for(all_joined, JOIN_DEADLINE, POLL_SECONDS)
        _progress(row, f"{most} listed joined")
        if listed_at is None:
            row.notes.append(f"at most {most} of {CALLERS} were listed joined")

        def hooks_in(_: object) -> bool:
            return len(receiver.first("participant.joined", cid)) >= most

        with contextlib.suppress(AssertionError):
            await receiver.wait_for(hooks_in, WEBHOOK_DEADLINE)

        async def answers_logged() -> bool:
            return len(callers.answered()) >= most

        _progress(row, f"{len(receiver.first('participant.joined', cid))} joined webhooks")
        await wait_for(answers_logged, 10.0, POLL_SECONDS)
        # the callers the bridge lists joined hang up too, though SIPp's log may lag (join_rig)
        listed = await bridge.participants(cid, "joined")
        connected = {n for p in listed if (n := call_number(p.get("from"))) is not None}
        # the INFOs are re-sent in the background until SIPp logs each hang-up; the leave is
        # measured meanwhile, from the first INFO
        hung_up_at = time.time()
        hanging_up = asyncio.ensure_future(callers.hang_up_all(connected))
        left_at: float | None = None

        async def none_active() -> bool:
            nonlocal left_at
            if await bridge.participants(cid, "joining,joined,leaving"):
                return False
            left_at = time.time()
            return True

        try:
            if not await wait_for(none_active, LEAVE_DEADLINE, POLL_SECONDS):
                row.notes.append(
                    f"participants still active {LEAVE_DEADLINE:.0f} s after the hangup"
                )
        finally:
            hanging_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hanging_up
        _progress(row, "all left" if left_at is not None else "not all left")
        code = await callers.ended(30.0)
        _progress(row, f"SIPp ended: {code}")
        if code != 0:
            row.notes.append(f"SIPp exit code {code}: {callers.output()[-600:]!r}")
    finally:
        callers.stop()

    answered = callers.answered()
    row.connected = len(answered)
    everyone = await bridge.participants(cid, "joining,joined,leaving,left,failed")
    by_pid = {p["id"]: p.get("from") for p in everyone}
    for pid, caller in receiver.callers_by_participant(cid).items():
        by_pid.setdefault(pid, caller)
    joined_at = receiver.first("participant.joined", cid)
    callers_joined: set[int] = set()
    for pid, at in joined_at.items():
        n = call_number(by_pid.get(pid))
        if n is None or n in callers_joined:
            continue
        callers_joined.add(n)
        if n in answered:
            row.latencies_ms.append((at - answered[n].ok_at) * 1000)
    row.joined_webhooks = len(callers_joined)
    if answered and listed_at is not None:
        row.all_listed_s = listed_at - min(a.invite_at for a in answered.values())
    if left_at is not None:
        row.all_left_s = left_at - hung_up_at
    row.leave_ms = [
        (at - hung_up_at) * 1000 for at in receiver.first("participant.left", cid).values()
    ]
    row.module = str(Path(bridge.module).parent)


# --------------------------------------------------------------------------- embedded


async def test_joins_embedded(
    table: Table, designs: list[tuple[str, Path]], tmp_path: Path
) -> None:
    if shutil.which("sipp") is None:
        _unavailable("sipp is not installed: apt install sip-tester")
    rows: list[Row] = []
    for database in _databases(table):
        for design, tree in designs:
            row = Row("embedded", database, design)
            table.rows.append(row)
            rows.append(row)
            sip_port = free_port(socket.SOCK_DGRAM, both=True)
            low = random.randrange(30000, 60000 - 2 * CALLERS - 200, 2)
            engine = {
                "engine": "embedded",
                "sip_host": "127.0.0.1",
                "sip_port": sip_port,
                "rtp_port_min": low,
                "rtp_port_max": low + 2 * CALLERS + 200,
                "rtp_timeout_seconds": 3600.0,  # never hang a caller up for a late packet
            }
            workdir = tmp_path / f"embedded-{database}-{design}"
            await _measure(row, tree, engine, ("127.0.0.1", sip_port), workdir, len(table.rows))
    _check(rows)


# --------------------------------------------------------------------------- Asterisk


@dataclass
class TreeAsterisk(AsteriskProcess):
    """The harness's Asterisk, loading the dialplan/ of the design under test."""

    dialplan: Path = ROOT / "dialplan"

    def install_config(self) -> None:
        super().install_config()  # this tree's dialplan/ and the generated local files
        etc = self.root / "etc/asterisk"
        for conf in sorted(self.dialplan.glob("*.conf")):
            shutil.copyfile(conf, etc / conf.name)


def _same_dialplan(a: Path, b: Path) -> bool:
    names = sorted({p.name for p in a.glob("*.conf")} | {p.name for p in b.glob("*.conf")})
    _same, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    return not mismatch and not errors


async def test_joins_asterisk(
    table: Table, designs: list[tuple[str, Path]], tmp_path: Path
) -> None:
    if shutil.which("sipp") is None:
        _unavailable("sipp is not installed: apt install sip-tester")
    reason = why_not_measurable()
    if reason is None and not await wait_root_free():
        reason = "another Asterisk kept running from the root for 60 s"
    if reason is not None:
        table.notes.append(f"Asterisk not measured: {reason}")
        _unavailable(f"Asterisk not measured: {reason}")
    # one Asterisk per distinct dialplan/: both designs share it while their dialplans agree
    groups: list[tuple[Path, list[tuple[str, Path]]]] = []
    for design, tree in designs:
        for dialplan, members in groups:
            if _same_dialplan(dialplan, tree / "dialplan"):
                members.append((design, tree))
                break
        else:
            groups.append((tree / "dialplan", [(design, tree)]))
    databases = _databases(table)
    rows: list[Row] = []
    for dialplan, members in groups:
        pbx = TreeAsterisk(asterisk_root(), AsteriskPorts.pick(), dialplan=dialplan)
        register_secret(pbx.secret)  # the AMI secret must never reach the log
        try:
            pbx.start()
            pbx.wait_fully_booted()
            engine = asterisk_config(pbx)
            for database in databases:
                for design, tree in members:
                    row = Row("asterisk", database, design)
                    table.rows.append(row)
                    rows.append(row)
                    workdir = tmp_path / f"asterisk-{database}-{design}"
                    await _measure(
                        row, tree, engine, ("127.0.0.1", pbx.ports.sip), workdir, len(table.rows)
                    )
        finally:
            pbx.stop()
    if len(groups) > 1:
        table.notes.append("Asterisk: the designs' dialplan/ differ; one Asterisk each")
    _check(rows)
