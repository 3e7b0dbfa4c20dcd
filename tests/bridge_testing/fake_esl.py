"""FakeEslServer: replays recorded FreeSWITCH ESL traffic, byte for byte.

A recording (tests/data/freeswitch/NN-name.transcript.txt.gz) is a list of frames in
wire order, each FS>APP or APP>FS. On every connection the fake walks that list:
FS>APP frames are written as recorded; at an APP>FS frame it reads one command
from the client, checks that it is well-formed ESL and equal to the recorded
request, and goes on. A request may add a ``Job-UUID`` header the recording
lacks; the fake then puts that UUID where the recorded one was in the replies,
as FreeSWITCH does. Faults (first connection only, so reconnects see a healthy
server): cut a frame and close, go silent at a request, or say goodbye.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bridge_testing.loopback import LoopbackServer

# The recordings, gzipped, in the repository (tests/data/freeswitch/README.md says how
# they were made).
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "freeswitch"
_MARKER = re.compile(rb"#### (\d+) t=\+[0-9.]+ (FS>APP|APP>FS) (\d+) bytes")
_COMMANDS = {
    b"auth", b"event", b"api", b"bgapi", b"exit", b"filter", b"linger", b"nolinger",
    b"connect", b"myevents", b"sendmsg", b"noevents", b"nixevent", b"log", b"nolog",
}  # fmt: skip
GOODBYE = (
    b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
    b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
)


@dataclass(frozen=True)
class Frame:
    direction: Literal["FS>APP", "APP>FS"]
    data: bytes


def load_transcript(name: str) -> list[Frame]:
    """Frames of ``NN-name.transcript.txt``: after each marker line, N bytes, then one LF."""
    raw = recorded(f"{name}.transcript.txt")
    frames: list[Frame] = []
    pos = 0
    while pos < len(raw):
        eol = raw.find(b"\n", pos)
        eol = len(raw) if eol < 0 else eol
        match = _MARKER.fullmatch(raw[pos:eol])
        if match is None:
            pos = eol + 1  # NOTE lines, the header, blank lines
            continue
        size = int(match.group(3))
        start = eol + 1
        direction: Literal["FS>APP", "APP>FS"] = (
            "FS>APP" if match.group(2) == b"FS>APP" else "APP>FS"
        )
        frames.append(Frame(direction, raw[start : start + size]))
        pos = start + size + 1
    return frames


def recorded(file: str) -> bytes:
    """One recorded file (stored as ``<file>.gz``)."""
    return gzip.decompress((REFERENCE / f"{file}.gz").read_bytes())


def raw_stream(name: str, direction: Literal["fs2app", "app2fs"]) -> bytes:
    return recorded(f"{name}.{direction}.raw")


def _exit_reply() -> bytes:
    """The recorded answer to ``exit``: ``+OK bye`` and the goodbye notice."""
    frames = load_transcript("02-command-before-auth")
    return b"".join(f.data for f in frames[-2:])


def _job_uuid(frame: bytes) -> bytes | None:
    match = re.search(rb"^Job-UUID: ([0-9a-f-]+)$", frame, re.M)
    return None if match is None else match.group(1)


@dataclass
class Faults:
    """What goes wrong on the first connection."""

    cut_frame: int | None = None  # index of an FS>APP frame to cut ...
    cut_at: int = 0  # ... after this many bytes, then close
    silent_at_request: int | None = None  # never answer this request (0-based)
    goodbye_at_request: int | None = None  # answer this request with a disconnect-notice


@dataclass
class FakeEslServer(LoopbackServer):
    frames: list[Frame] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    requests: list[bytes] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    connections: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        faulty = self.connections == 1
        try:
            await self._replay(reader, writer, faulty)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.closed.set()

    async def _replay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, faulty: bool
    ) -> None:
        faults = self.faults if faulty else Faults()
        swaps: dict[bytes, bytes] = {}  # recorded Job-UUID -> the client's own
        awaiting: bytes | None = None  # the client's Job-UUID, until the reply names ours
        request_no = 0
        for index, frame in enumerate(self.frames):
            if frame.direction == "FS>APP":
                recorded_job = _job_uuid(frame.data)
                if awaiting is not None and recorded_job is not None:
                    swaps[recorded_job] = awaiting
                    awaiting = None
                data = frame.data
                for old, new in swaps.items():
                    data = data.replace(old, new)
                if faults.cut_frame == index:
                    writer.write(data[: faults.cut_at])
                    await writer.drain()
                    return
                writer.write(data)
                await writer.drain()
                continue
            got = await self._read_command(reader)
            if got is None:
                return
            self.requests.append(got)
            if faults.silent_at_request == request_no:
                await reader.read()  # keep the socket open, answer nothing, until EOF
                return
            if faults.goodbye_at_request == request_no:
                writer.write(GOODBYE)
                await writer.drain()
                return
            request_no += 1
            if got == frame.data:
                continue
            if got == b"exit\n\n":  # leaving early: answer as FreeSWITCH did in 02-*
                writer.write(_exit_reply())
                await writer.drain()
                return
            awaiting = _with_own_job_uuid(frame.data, got)
            if awaiting is None:
                self.mismatches.append(f"expected {frame.data!r}, got {got!r}")
                return
        await reader.read()  # the script is done; wait for the client to leave

    async def _read_command(self, reader: asyncio.StreamReader) -> bytes | None:
        try:
            head = await reader.readuntil(b"\n\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                self.mismatches.append(f"EOF inside a command: {exc.partial!r}")
            return None
        except asyncio.LimitOverrunError:
            self.mismatches.append("command header block too long")
            return None
        problem = _malformed(head)
        if problem:
            self.mismatches.append(f"{problem}: {head!r}")
            return None
        length = re.search(rb"^Content-Length: (\d+)$", head, re.M)
        body = await reader.readexactly(int(length.group(1))) if length else b""
        return head + body


def _with_own_job_uuid(recorded: bytes, got: bytes) -> bytes | None:
    """The client's Job-UUID if ``got`` is ``recorded`` plus only that header."""
    ours = _job_uuid(got)
    if ours is None or _job_uuid(recorded) is not None:
        return None
    stripped = re.sub(rb"\nJob-UUID: [0-9a-f-]+\n\n$", b"\n\n", got)
    return ours if stripped == recorded else None


def _malformed(head: bytes) -> str | None:
    if b"\r" in head or b"\x00" in head:
        return "CR or NUL in a command"
    lines = head[:-2].split(b"\n")
    if not lines or lines[0].split(b" ", 1)[0] not in _COMMANDS:
        return "unknown command"
    for line in lines[1:]:
        if b": " not in line:
            return "malformed command header"
    return None


RECORDINGS = [
    "01-bad-auth",
    "02-command-before-auth",
    "10-events-plain-ALL",
    "11-events-plain-conference-maintenance",
    "12-events-json-conference-maintenance",
    "13-events-xml-conference-maintenance",
    "20-control",
    "30-outbound-socket",
]

FakeFactory = Callable[..., Coroutine[Any, Any, FakeEslServer]]
