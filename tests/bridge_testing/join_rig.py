"""What bench_joins drives, black-box: the bridge in a child process, SIPp callers, a webhook
receiver that notes arrival times, and a PostgreSQL schema per run.

- `BridgeChild` runs join_server.py under a tree's `bridge` package (the current tree or the
  baseline checkout) and talks to it over its HTTP API only.
- `Callers` is one SIPp process placing N calls, each streaming a looped tone from its ACK on,
  as a phone does (Asterisk's Answer() waits up to 500 ms for the first audio frame). Each
  caller's From user is `CALLER_PREFIX<call number>`, which the bridge keeps
  as the participant's `from`. The scenario logs, per call, the wall-clock time it sent the
  INVITE and the time the 200 OK arrived (SIPp's gettimeofday action, -trace_logs), then
  holds the call until it receives an INFO from us: `hang_up_all()` sends one to every call at
  once (SIPp matches it to the call by Call-ID), and each caller sends its BYE, as when a
  meeting ends and everyone hangs up. A caller that never gets its INFO hangs up after
  `hold_seconds` by itself.
- `TimedReceiver` is tests/receiver.py's real HTTP receiver, plus the wall-clock time every
  webhook arrived (the same clock as SIPp's gettimeofday: both are CLOCK_REALTIME).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from receiver import WebhookReceiver

from bridge_testing.sipp import Sipp, launch, request
from bridge_testing.wait import until

SERVER = Path(__file__).resolve().parents[1] / "benchmarks" / "join_server.py"  # a script
SOCKET_BUFFER = 4 * 1024 * 1024  # SIPp's SIP socket; its default (64 KiB) drops a burst of INFOs
RESEND_SECONDS = 0.25
CALL_ID = "%u-%p@%s"  # SIPp's -cid_str: call number, SIPp's pid, its IP (127.0.0.1)
CALLER_PREFIX = "4420794"  # + call number: a phone-number-like, unique From user per call


async def wait_for(
    predicate: Callable[[], Awaitable[bool]], within: float, every: float = 0.1
) -> bool:
    """`until` for a benchmark: True when the condition held, False on the deadline (a
    figure notes it; the run goes on)."""
    try:
        await until(predicate, within, every=every)
    except AssertionError:
        return False
    return True


# --------------------------------------------------------------------------- the bridge


@dataclass
class BridgeChild:
    """One bridge process of one design, and an HTTP client for its API."""

    process: subprocess.Popen[bytes]
    url: str
    admin_key: str
    module: str
    schema_hook: bool
    log: Path
    session: aiohttp.ClientSession

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, tree: Path, config: dict[str, Any], log: Path, *, pg_schema: str | None = None
    ) -> AsyncIterator[BridgeChild]:
        process = _spawn(tree, {"config": config, "pg_schema": pg_schema}, log)
        try:
            assert process.stdout is not None
            try:
                line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 60)
            except TimeoutError:
                line = b""
            if not line:
                raise RuntimeError(f"the bridge of {tree} did not start:\n{_tail(log)}")
            ready = json.loads(line)
            async with aiohttp.ClientSession(
                ready["url"], headers={"Authorization": f"Bearer {ready['admin_key']}"}
            ) as session:
                yield cls(
                    process, ready["url"], ready["admin_key"], ready["bridge"],
                    bool(ready["schema_hook"]), log, session,
                )  # fmt: skip
        finally:
            await asyncio.to_thread(_end, process)

    def tail(self) -> str:
        return _tail(self.log)

    async def ok(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        async with self.session.request(method, path, **kw) as resp:
            body = (
                await resp.json() if resp.content_type == "application/json" else await resp.text()
            )
            assert resp.status == expect, (method, path, resp.status, body)
            return body

    async def participants(self, conference_id: str, status: str) -> list[dict[str, Any]]:
        """Every participant of the conference with one of `status` (comma-separated)."""
        items: list[dict[str, Any]] = []
        after = ""
        while True:
            query = f"status={status}&limit=100" + (f"&after={after}" if after else "")
            page = await self.ok("GET", f"/v1/conferences/{conference_id}/participants?{query}")
            items += page["items"]
            after = page.get("next_after") or ""
            if not after or not page["items"]:
                return items

    async def engine_ready(self, within: float = 30.0) -> bool:
        async def ready() -> bool:
            body = await self.ok("GET", "/healthz")
            engine = body.get("engine") if isinstance(body, dict) else None
            return not isinstance(engine, dict) or bool(engine.get("ok", True))

        return await wait_for(ready, within)


def _spawn(tree: Path, request: dict[str, Any], log: Path) -> subprocess.Popen[bytes]:
    """join_server.py under `tree`'s bridge package, its request already on its stdin."""
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{tree}{os.pathsep}{tree / 'tests'}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, str(SERVER)], cwd=tree, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
        )  # fmt: skip
    assert process.stdin is not None
    process.stdin.write((json.dumps(request) + "\n").encode())
    process.stdin.flush()
    return process


def _end(process: subprocess.Popen[bytes]) -> None:
    """Close the child's stdin (it shuts down), then terminate or kill it if it lingers."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no output)"


# --------------------------------------------------------------------------- SIPp callers

_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- bench_joins caller: INVITE offering PCMU, note the INVITE and 200 OK times, ACK, stream
     a looped tone, hold until an INFO arrives (or the safety timeout), BYE. -->
<scenario name="bench_joins caller">
  <nop><action><gettimeofday assign_to="inv_s,inv_us"/></action></nop>
"""


def caller_scenario(hold_seconds: float) -> str:
    user = CALLER_PREFIX + "[call_number]"
    invite = request("INVITE", 1, user=user, sdp=True)
    ack = request("ACK", 1, user=user, in_dialog=True)
    bye = request("BYE", 2, user=user, in_dialog=True)
    return (
        _HEAD
        + invite
        + '  <recv response="100" optional="true"/>\n'
        + '  <recv response="180" optional="true"/>\n'
        + '  <recv response="183" optional="true"/>\n'
        + '  <recv response="200" rtd="true">\n'
        + '    <action><gettimeofday assign_to="ok_s,ok_us"/></action>\n'
        + "  </recv>\n"
        + ack
        # a phone sends audio from the ACK on (Asterisk's Answer() waits up to 500 ms for it)
        + '  <nop><action><exec rtp_stream="tone.ulaw,-1,0"/></action></nop>\n'
        + '  <nop><action><log message="answered [call_number] [call_id]'
        + ' [$inv_s] [$inv_us] [$ok_s] [$ok_us]"/></action></nop>\n'
        + f'  <recv request="INFO" timeout="{int(hold_seconds * 1000)}" ontimeout="1"/>\n'
        + '  <label id="1"/>\n'
        + '  <nop><action><log message="hangup [call_number]"/></action></nop>\n'
        + bye
        + '  <recv response="200" crlf="true"/>\n'
        + "</scenario>\n"
    )


@dataclass(frozen=True)
class Answered:
    call_number: int
    call_id: str
    invite_at: float  # wall clock, s
    ok_at: float


@dataclass
class Callers(Sipp):
    """One SIPp process: `calls` callers at `rate` per second dialling `service` at `server`."""

    calls: int = 0

    @classmethod
    def start(
        cls, workdir: Path, server: tuple[str, int], service: str, *,
        calls: int, rate: int, hold_seconds: float, extra: tuple[str, ...] = (),
    ) -> Callers:  # fmt: skip
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "caller.xml").write_text(caller_scenario(hold_seconds))
        sipp = launch(
            # one second of a quiet 440 Hz tone, looped: the audio every caller sends
            workdir, "caller.xml", server, service=service, calls=calls, rate=rate,
            timeout=hold_seconds + calls / rate + 60, tone_hz=440.0, tone_amplitude=2000,
            options=[
                "-trace_logs", "-buff_size", str(SOCKET_BUFFER),
                "-cid_str", CALL_ID,  # SIPp's default, written out: call_id() depends on it
                # a repeated hang-up INFO (see hang_up_all) is ignored, not a reason to abort
                "-default_behaviors", "all,-abortunexp", *extra,
            ],
        )  # fmt: skip
        return cls(sipp.process, sipp.workdir, sipp.port, calls)

    def _log_lines(self) -> list[list[str]]:
        return [
            line.split()
            for log in self.workdir.glob("caller_*_logs.log")
            for line in log.read_text(errors="replace").splitlines()
        ]

    def answered(self) -> dict[int, Answered]:
        """The calls that got their 200 OK so far, by call number."""
        out: dict[int, Answered] = {}
        for parts in self._log_lines():
            if len(parts) != 7 or parts[0] != "answered":
                continue
            n = int(parts[1])
            invite_at = float(parts[3]) + float(parts[4]) / 1e6
            ok_at = float(parts[5]) + float(parts[6]) / 1e6
            out[n] = Answered(n, parts[2], invite_at, ok_at)
        return out

    def call_id(self, call_number: int) -> str:
        """The Call-ID SIPp gives call `call_number` (CALL_ID: %u call number, %p pid, %s ip)."""
        return f"{call_number}-{self.process.pid}@127.0.0.1"

    def hung_up(self) -> set[int]:
        """The calls that have started hanging up (sent or are sending their BYE)."""
        return {int(p[1]) for p in self._log_lines() if len(p) == 2 and p[0] == "hangup"}

    async def hang_up_all(self, connected: Iterable[int] = (), within: float = 10.0) -> None:
        """Every answered caller hangs up now: one INFO to each, all at once. The callers are
        those SIPp's log says answered plus `connected` (call numbers the caller's peer
        reports connected): SIPp writes its log
        through a buffer, so the last lines may not be in the file yet, and a caller left out
        would hold its call until `hold_seconds`. UDP may drop some of a burst at SIPp's
        socket, so an INFO is sent again, every RESEND_SECONDS, to a caller that has not
        logged its hang-up yet (a repeated INFO reaching a caller that is already hanging up
        is ignored: abortunexp is off)."""
        calls = {n: self.call_id(n) for n in {*self.answered(), *connected}}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            via = f"127.0.0.1:{sock.getsockname()[1]}"
            deadline = time.monotonic() + within
            pending = set(calls)
            while pending and time.monotonic() < deadline:
                for n in sorted(pending):
                    info = (
                        f"INFO sip:caller@127.0.0.1:{self.port} SIP/2.0\r\n"
                        f"Via: SIP/2.0/UDP {via};branch=z9hG4bK-{uuid.uuid4().hex}\r\n"
                        "From: <sip:bench@127.0.0.1>;tag=hangup\r\n"
                        f"To: <sip:caller@127.0.0.1:{self.port}>\r\n"
                        f"Call-ID: {calls[n]}\r\nCSeq: 1 INFO\r\n"
                        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                    )
                    sock.sendto(info.encode(), ("127.0.0.1", self.port))
                await asyncio.sleep(RESEND_SECONDS)  # the resend interval
                pending -= self.hung_up()

    async def ended(self, within: float) -> int | None:
        """SIPp's exit status, or None if it is still running after `within` seconds."""
        try:
            return await self.finished(within)
        except subprocess.TimeoutExpired:
            return None


def call_number(from_user: str | None) -> int | None:
    """The SIPp call number in a participant's `from`, or None if it is not one of ours."""
    if not from_user or not from_user.startswith(CALLER_PREFIX):
        return None
    rest = from_user[len(CALLER_PREFIX) :]
    return int(rest) if rest.isdigit() else None


# --------------------------------------------------------------------------- webhooks


@dataclass
class Arrival:
    at: float  # wall clock, s
    event: dict[str, Any]


@dataclass
class TimedReceiver(WebhookReceiver):
    """tests/receiver.py's receiver, noting when each webhook arrived."""

    arrivals: list[Arrival] = field(default_factory=list)

    async def _handle(self, request: web.Request) -> web.Response:
        at = time.time()
        response = await super()._handle(request)
        body = json.loads(self.received[-1].body)
        event = body.get("event", body) if isinstance(body, dict) else {}
        self.arrivals.append(Arrival(at, event))
        return response

    def first(self, kind: str, conference_id: str) -> dict[str, float]:
        """participant id -> when its first `kind` webhook of the conference arrived."""
        out: dict[str, float] = {}
        for a in self.arrivals:
            e = a.event
            if e.get("type") == kind and e.get("conference_id") == conference_id:
                out.setdefault(str(e.get("participant_id")), a.at)
        return out

    def callers_by_participant(self, conference_id: str) -> dict[str, str]:
        """participant id -> `from`, where an event carries it (participant.joining does)."""
        out: dict[str, str] = {}
        for a in self.arrivals:
            e = a.event
            data = e.get("data") if isinstance(e.get("data"), dict) else {}
            if e.get("conference_id") == conference_id and data and data.get("from"):
                out.setdefault(str(e.get("participant_id")), str(data["from"]))
        return out


# --------------------------------------------------------------------------- PostgreSQL


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.asynccontextmanager
async def postgres_schema(url: str, prefix: str, run: int) -> AsyncIterator[str]:
    """A fresh schema `<prefix>_<our pid>_<run>` of the shared test database for one run,
    dropped afterwards. Schemas `<prefix>_<pid>_...` of processes no longer running (killed
    before their clean-up) are dropped first."""
    import asyncpg

    name = f"{prefix}_{os.getpid()}_{run}"
    conn = await asyncpg.connect(url)
    try:
        for record in await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", prefix + "_"
        ):
            stale = str(record["nspname"])
            pid = stale.removeprefix(prefix + "_").split("_")[0]
            if pid.isdigit() and not _running(int(pid)):
                await conn.execute(f'DROP SCHEMA IF EXISTS "{stale}" CASCADE')
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE; CREATE SCHEMA "{name}"')
    finally:
        await conn.close()
    try:
        yield name
    finally:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()
