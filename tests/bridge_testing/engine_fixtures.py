"""Fakes for driving FreeSwitchBackend with the recorded FreeSWITCH traffic.

FakeFreeSwitch answers the backend's inbound ESL connection the way the recording
says FreeSWITCH does: each ``api`` line is looked up among the recorded requests of
20-control (after mapping our names onto the recorded ones, e.g. ``cb-cf-...`` ->
``room1``), and the recorded reply goes back with the names mapped the other way
and its Content-Length recomputed. A command the recording never saw is answered
``+OK`` in the recorded api/response framing and listed in ``unrecorded`` so a test
can pin exactly which commands that is. Events are recorded frames (11-*), pushed
on demand with the same renaming.

FakeFreeSwitchCaller is FreeSWITCH's side of one outbound-socket call (30-*): it
connects to the bridge, answers ``connect`` with the recorded channel data (with the
dialled number and caller id swapped in), and answers every command as recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bridge.core.engine import Observation
from bridge.core.ids import engine_name, new_id
from bridge.core.models import Conference, ConferenceStatus, Participant
from bridge.pbx.backend import InboundCall, Route
from bridge.pbx.freeswitch.backend import FreeSwitchBackend
from bridge.pbx.observations import ObservationQueue
from bridge_testing.fake_esl import GOODBYE, Frame, load_transcript
from bridge_testing.loopback import LoopbackServer

# Replies to commands the recording never saw, as this FreeSWITCH 1.11 answered them
# (body only); test_freeswitch_real_replies.py checks each against the real FreeSWITCH.
REAL_REPLIES: dict[bytes, bytes] = {
    b"api show interface_types\n\n": (
        b"type,total\napi,180\napplication,159\nchat,5\ncodec,6\ndialplan,2\nendpoint,8\n"
        b"file,45\ngeneric,1\njson_api,7\nlimit,2\nmanagement,1\nsay,1\ntimer,1\n\n13 total.\n"
    ),
}


def _split(frame: bytes) -> tuple[bytes, bytes]:
    head, _, body = frame.partition(b"\n\n")
    return head, body


def _swap(data: bytes, swaps: Mapping[bytes, bytes]) -> bytes:
    for old, new in swaps.items():
        data = data.replace(old, new)
    return data


def reframe(frame: bytes, swaps: Mapping[bytes, bytes]) -> bytes:
    """Rename inside a recorded frame and fix every Content-Length (outer and inner)."""
    head, body = _split(frame)
    if b"Content-Length:" not in head:
        return _swap(frame, swaps)
    body = _swap(body, swaps)
    if b"Content-Type: text/event-plain" in head and b"\n\n" in body:
        inner_head, inner_body = _split(body)
        if b"\nContent-Length:" in b"\n" + inner_head:
            inner_head = re.sub(
                rb"(^|\n)Content-Length: \d+",
                lambda m: m.group(1) + b"Content-Length: " + str(len(inner_body)).encode(),
                inner_head,
            )
            body = inner_head + b"\n\n" + inner_body
    head = re.sub(rb"Content-Length: \d+", b"Content-Length: " + str(len(body)).encode(), head)
    return head + b"\n\n" + body


def api_response(body: bytes) -> bytes:
    """The recorded api/response framing (Content-Type first, as FreeSWITCH sends it)."""
    return b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(body), body)


def recorded_exchanges(name: str = "20-control") -> dict[bytes, list[bytes]]:
    """Recorded request -> the replies it got, in order (a request can repeat)."""
    frames = load_transcript(name)
    table: dict[bytes, list[bytes]] = {}
    for i, frame in enumerate(frames):
        if frame.direction != "APP>FS":
            continue
        reply = next((f for f in frames[i + 1 :] if f.direction == "FS>APP"), None)
        if reply is not None:
            table.setdefault(frame.data, []).append(reply.data)
    return table


def conference_events(name: str = "11-events-plain-conference-maintenance") -> list[bytes]:
    return [
        f.data
        for f in load_transcript(name)
        if f.direction == "FS>APP" and b"text/event-plain" in f.data
    ]


def find_event(events: list[bytes], action: str, nth: int = 0, **headers: str) -> bytes:
    """The nth recorded event with ``Action: action`` and the given (encoded) headers."""
    hits = [
        e
        for e in events
        if f"\nAction: {action}\n".encode() in e
        and all(f"\n{k.replace('_', '-')}: {v}\n".encode() in e for k, v in headers.items())
    ]
    return hits[nth]


def with_sequence(frame: bytes, sequence: int) -> bytes:
    return reframe(re.sub(rb"\nEvent-Sequence: \d+\n", b"\nEvent-Sequence: %d\n" % sequence,
                          frame), {})  # fmt: skip


@dataclass
class FakeFreeSwitch(LoopbackServer):
    """FreeSWITCH's inbound event socket, answering from the recording."""

    password: str = "ClueCon"
    names: dict[str, str] = field(default_factory=dict)  # ours -> recorded
    overrides: dict[bytes, bytes] = field(default_factory=dict)  # recorded request -> body
    bg_results: dict[bytes, bytes] = field(default_factory=dict)  # bgapi prefix -> body
    silent: set[bytes] = field(default_factory=set)  # requests (prefixes) never answered
    requests: list[bytes] = field(default_factory=list)
    unrecorded: list[bytes] = field(default_factory=list)
    connections: int = 0
    _table: dict[bytes, list[bytes]] = field(default_factory=recorded_exchanges)
    _used: dict[bytes, int] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def __post_init__(self) -> None:
        control = load_transcript("20-control")
        self._hello = control[0].data  # auth/request
        self._accepted = control[2].data  # +OK accepted
        self._event_ok = control[4].data  # +OK event listener enabled plain
        self._bg_reply = next(f.data for f in control if b"+OK Job-UUID" in f.data)
        self._bg_event = next(f.data for f in control if b"Event-Name: BACKGROUND_JOB" in f.data)
        self._bad_auth = load_transcript("01-bad-auth")[2].data

    # ------------------------------------------------------------------ test side

    def alias(self, ours: str, recorded: str) -> None:
        self.names[ours] = recorded

    def _to_ours(self) -> dict[bytes, bytes]:
        return {r.encode(): o.encode() for o, r in self.names.items()}

    def _to_recorded(self) -> dict[bytes, bytes]:
        return {o.encode(): r.encode() for o, r in self.names.items()}

    async def push(self, *frames: bytes) -> None:
        """Send recorded event frames (renamed to ours) on every open connection."""
        for writer in list(self._writers):
            for frame in frames:
                writer.write(reframe(frame, self._to_ours()))
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def push_raw(self, data: bytes) -> None:
        for writer in list(self._writers):
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    def drop(self) -> None:
        """FreeSWITCH closes the socket (e.g. it killed a listener that lost 500 events)."""
        for writer in list(self._writers):
            writer.close()

    async def wait_for(self, prefix: bytes, count: int = 1, deadline: float = 5.0) -> list[bytes]:
        """Wait until ``count`` requests starting with ``prefix`` arrived."""

        def hits() -> list[bytes]:
            return [r for r in self.requests if r.startswith(prefix)]

        async with asyncio.timeout(deadline), self._changed:
            await self._changed.wait_for(lambda: len(hits()) >= count)
        return hits()

    # ------------------------------------------------------------------ server side

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            writer.write(self._hello)
            while True:
                head = await reader.readuntil(b"\n\n")
                async with self._changed:
                    self.requests.append(head)
                    self._changed.notify_all()
                reply = self._answer(head)
                if reply is None:
                    continue
                writer.write(reply)
                await writer.drain()
                if head.startswith(b"bgapi "):
                    writer.write(self._background_job(head))
                    await writer.drain()
                if reply.endswith(GOODBYE) or reply == self._bad_auth + GOODBYE:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _answer(self, head: bytes) -> bytes | None:
        if any(head.startswith(p) for p in self.silent):
            return None
        if head.startswith(b"auth "):
            if head == b"auth %s\n\n" % self.password.encode():
                return self._accepted
            return self._bad_auth + GOODBYE
        if head.startswith(b"event plain "):
            return self._event_ok
        if head == b"exit\n\n":
            return load_transcript("02-command-before-auth")[-2].data + GOODBYE
        if head.startswith(b"bgapi "):
            job = re.search(rb"\nJob-UUID: ([0-9a-f-]+)\n", head)
            assert job is not None, "the backend always sends its own Job-UUID"
            return self._bg_reply.replace(
                re.search(rb"Job-UUID: ([0-9a-f-]+)", self._bg_reply).group(1),  # type: ignore[union-attr]
                job.group(1),
            )
        if head in REAL_REPLIES:
            return api_response(REAL_REPLIES[head])
        recorded = _swap(head, self._to_recorded())
        if recorded in self.overrides:
            return reframe(api_response(self.overrides[recorded]), self._to_ours())
        replies = self._table.get(recorded)
        if not replies:
            self.unrecorded.append(head)
            return api_response(b"+OK\n")
        used = self._used.get(recorded, 0)
        self._used[recorded] = used + 1
        return reframe(replies[min(used, len(replies) - 1)], self._to_ours())

    def _background_job(self, head: bytes) -> bytes:
        job = re.search(rb"\nJob-UUID: ([0-9a-f-]+)\n", head)
        assert job is not None
        line = head.split(b"\n", 1)[0].removeprefix(b"bgapi ")
        command, _, arg = line.partition(b" ")
        body = next((b for p, b in self.bg_results.items() if line.startswith(p)), None)
        if body is None:
            uuid = re.search(rb"origination_uuid=([0-9a-f-]+)", line)
            body = b"+OK " + (uuid.group(1) if uuid else b"") + b"\n"
        template_head, template_body = _split(self._bg_event)
        inner_head, _ = _split(template_body)
        inner_head = re.sub(rb"Job-UUID: [0-9a-f-]+", b"Job-UUID: " + job.group(1), inner_head)
        inner_head = re.sub(rb"Job-Command: [^\n]*", b"Job-Command: " + command, inner_head)
        encoded = re.sub(rb"[ %{},=|&()@+]", lambda m: b"%%%02X" % m.group(0)[0], arg)
        inner_head = re.sub(rb"Job-Command-Arg: [^\n]*", b"Job-Command-Arg: " + encoded, inner_head)
        inner_head = re.sub(rb"Content-Length: \d+", b"Content-Length: 0", inner_head)
        return reframe(template_head + b"\n\n" + inner_head + b"\n\n" + body, {})


@dataclass
class FakeFreeSwitchCaller:
    """One call that FreeSWITCH's ``socket`` application hands to the bridge."""

    access_code: str
    caller_id: str = "1010"
    uuid: str = "e26359a5-e3f3-4e2a-9b78-f5d0bbb504fa"  # the recorded channel
    commands: list[bytes] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _frames: list[Frame] = field(default_factory=lambda: load_transcript("30-outbound-socket"))
    _writer: asyncio.StreamWriter | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _task: asyncio.Task[None] | None = None

    def _swaps(self) -> dict[bytes, bytes]:
        return {
            b"e26359a5-e3f3-4e2a-9b78-f5d0bbb504fa": self.uuid.encode(),
            b"Caller-Destination-Number: socket": b"Caller-Destination-Number: "
            + self.access_code.encode(),
            b"Caller-Caller-ID-Number: 1010": b"Caller-Caller-ID-Number: "
            + self.caller_id.encode(),
        }

    async def dial(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self._writer = writer
        self._task = asyncio.get_running_loop().create_task(self._serve(reader, writer))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        f = self._frames
        replies = {b"connect": f[1].data, b"myevents": f[3].data, b"linger": f[5].data}
        try:
            while True:
                head = await reader.readuntil(b"\n\n")
                async with self._changed:
                    self.commands.append(head)
                    self._changed.notify_all()
                word = head.split(b"\n", 1)[0].split(b" ", 1)[0]
                if word == b"exit":
                    writer.write(f[24].data + reframe(f[25].data, self._swaps()))
                    await writer.drain()
                    return
                if word == b"api":
                    writer.write(api_response(b"+OK\n"))
                else:
                    writer.write(reframe(replies.get(word, f[7].data), self._swaps()))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self.closed.set()

    async def send(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()

    async def press(self, digit: str) -> None:
        """A DTMF event as recorded on the ALL stream, for this channel."""
        frame = next(
            x.data
            for x in load_transcript("10-events-plain-ALL")
            if b"\nEvent-Name: DTMF\n" in x.data
        )
        frame = re.sub(rb"\nDTMF-Digit: [^\n]*\n", b"\nDTMF-Digit: %s\n" % esl_quote(digit),
                       frame)  # fmt: skip
        frame = re.sub(rb"\nUnique-ID: [^\n]*\n", b"\nUnique-ID: " + self.uuid.encode() + b"\n",
                       frame)  # fmt: skip
        await self.send(reframe(frame, {}))

    async def execute_complete(self, application: str, data: str = "") -> None:
        """CHANNEL_EXECUTE_COMPLETE for ``application`` (the recorded answer one, renamed),
        with Application-Data ``data``."""
        frame = next(x.data for x in self._frames if b"CHANNEL_EXECUTE_COMPLETE" in x.data)
        frame = re.sub(rb"\nApplication-Data: [^\n]*\n", b"\n", frame)
        frame = frame.replace(
            b"\nApplication: answer\n",
            b"\nApplication: %s\nApplication-Data: %s\n"
            % (application.encode(), urllib.parse.quote(data, safe="").encode()),
        )
        await self.send(reframe(frame, self._swaps()))

    async def hang_up(self) -> None:
        """The recorded CHANNEL_HANGUP and the linger disconnect-notice."""
        f = self._frames
        await self.send(reframe(f[15].data, self._swaps()) + reframe(f[16].data, self._swaps()))

    async def wait_for(self, needle: bytes, count: int = 1, deadline: float = 5.0) -> list[bytes]:
        def hits() -> list[bytes]:
            return [c for c in self.commands if needle in c]

        async with asyncio.timeout(deadline), self._changed:
            await self._changed.wait_for(lambda: len(hits()) >= count)
        return hits()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def esl_quote(value: str) -> bytes:
    return value.replace("#", "%23").replace("*", "*").encode()


# --------------------------------------------------------------------------- model builders

ROOM1 = {  # the recorded members of room1: name -> (channel uuid, member id)
    "Alice": ("ff5ab2d7-ffb6-44e7-8367-2590afb06f45", 1),
    "Bob": ("254b4bca-5f90-4b62-9ae3-8ce56cd6eaf4", 2),
    "Carol": ("4beaf37c-5266-41ef-8661-df64eb59bc8e", 3),
    "Dave": ("34ed51e7-f66e-4a8a-804a-05d4ed33c036", 4),
    "Eve": ("be17449b-831f-4cc1-a3f6-4e9b549426a4", 5),
    "Frank": ("be187ba6-a516-4a85-8b25-625a91bb7fb4", 6),
}


def make_conference(**changes: object) -> Conference:
    now = datetime.now(UTC)
    conf = Conference(new_id("conference"), "ac_test", "test", now, now)
    return replace(conf, **changes)  # type: ignore[arg-type]


def make_participant(conf: Conference, **changes: object) -> Participant:
    now = datetime.now(UTC)
    p = Participant(new_id("participant"), conf.id, conf.account_id, now, now)
    return replace(p, **changes)  # type: ignore[arg-type]


class StubSession:
    """Stands in for the outbound-socket call when a test registers a member directly."""

    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        self.released: list[str] = []
        self.hung_up = 0

    async def release(self, target: str) -> None:
        self.released.append(target)

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        self.hung_up += 1


class Observations(ObservationQueue):
    """The engine's queue, applied at once by recording: every observation, with a way to
    wait for some."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Observation] = []
        self._changed = asyncio.Event()

    def report(self, observation: Observation) -> None:
        self.reported += 1
        self.items.append(observation)
        self._changed.set()

    def of(self, kind: type) -> list[Any]:
        return [o for o in self.items if isinstance(o, kind)]

    async def wait(self, kind: type, count: int = 1, deadline: float = 5.0) -> list[Any]:
        async with asyncio.timeout(deadline):
            while len(self.of(kind)) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.of(kind)


class NoRouter:
    async def route(self, call: InboundCall) -> Route:
        raise AssertionError("no dial-in expected")


# ------------------------------------------------------------------ the backend on the fake

EVENTS = conference_events()


@dataclass
class EslRig:
    """FreeSwitchBackend connected (inbound ESL only) to a FakeFreeSwitch, with one
    in-progress conference whose engine name the fake maps onto the recorded room1."""

    fake: FakeFreeSwitch
    backend: FreeSwitchBackend
    seen: Observations
    conf: Conference
    name: str
    sequence: int = 10_000

    async def push(self, *frames: bytes) -> None:
        """Recorded events, renumbered in push order (the backend drops late numbers)."""
        for frame in frames:
            self.sequence += 1
            await self.fake.push(with_sequence(frame, self.sequence))

    def member(self, who: str, **changes: object) -> Participant:
        """Register one recorded room1 member as ours (as the outbound socket would)."""
        uuid, _ = ROOM1[who]
        p = make_participant(self.conf, call_ref=uuid, **changes)
        self.backend.admitted(self.conf, p, StubSession(uuid))  # type: ignore[arg-type]
        return p

    async def join(self, who: str) -> None:
        await self.push(find_event(EVENTS, "add-member", Member_ID=str(ROOM1[who][1])))

    def sent_since(self, mark: int) -> list[bytes]:
        return [r for r in self.fake.requests[mark:] if not r.startswith(b"event ")]


@contextlib.asynccontextmanager
async def esl_rig(**options: float) -> AsyncIterator[EslRig]:
    """The rig, connected and ready; `options` are FreeSwitchBackend's timing arguments."""
    fake = await FakeFreeSwitch().start()
    backend = FreeSwitchBackend(
        "127.0.0.1", fake.port, "ClueCon", outbound_port=None, profile="default",
        order_hold=0.0, backoff_initial=0.05, **options,  # type: ignore[arg-type]
    )  # fmt: skip
    seen = Observations()
    try:
        await backend.start(seen, NoRouter())
        await asyncio.wait_for(backend.ready.wait(), 5)
        conf = make_conference(status=ConferenceStatus.IN_PROGRESS)
        name = engine_name(conf.id)
        fake.alias(name, "room1")
        yield EslRig(fake, backend, seen, conf, name)
    finally:
        await backend.stop()
        await fake.close()
