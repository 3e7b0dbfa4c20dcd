"""One conference's media: members, the 20 ms mixing tick, beeps, announcements, recording.

Every tick drains each member's RTP socket and pulls one decoded frame from its jitter buffer
(the call's `RtpCore`, in C when built), then calls the mixer kernel once for the whole room.
Two extra rows ride along in that call: an *overlay* row (announcements and beeps, heard by
everyone who hears the room) that speaks and does not hear, and a *listener* row that hears
and does not speak, whose output is the full conference mix: what every member who is not
speaking hears (encoded once per codec), and what is recorded.

Until the conference starts (latched start), members are not mixed: each hears its wait
media looped, or the overlay when an announcement plays. A member's private source (an
announcement to one participant, a prompt, an error tone) replaces what it would hear.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.media import FRAME_BYTES, FRAME_MS, SILENCE_FRAME, g711
from bridge.media.mixer import MixFunction
from bridge.media.talk import TalkDetector
from bridge.media.wav import WavRecorder
from bridge.pbx.embedded import codec
from bridge.pbx.embedded.rtp_core_py import RtpCore
from bridge.pbx.embedded.rtp_stream import RtpStream

log = logging.getLogger(__name__)

TICK_SECONDS = FRAME_MS / 1000
MAX_CATCH_UP_TICKS = 10  # further behind than this (a stalled loop): skip ahead, do not burst

_SILENCE_ENCODED = {
    pt: g711.encode(pt, SILENCE_FRAME) for pt in (g711.PCMU_PAYLOAD_TYPE, g711.PCMA_PAYLOAD_TYPE)
}


class Source:
    """Frames played once (then `on_done`) or looped until replaced."""

    def __init__(
        self, frames: list[bytes], *, loop: bool = False, on_done: Callable[[], None] | None = None
    ) -> None:
        self.frames = frames or [SILENCE_FRAME]
        self.loop = loop
        self.on_done = on_done
        self._index = 0

    def next(self) -> bytes | None:
        if self._index >= len(self.frames):
            if not self.loop:
                return None
            self._index = 0
        frame = self.frames[self._index]
        self._index += 1
        return frame


def _next_of(queue: deque[Source]) -> bytes | None:
    """The head source's next frame; finished sources are dropped and their on_done called."""
    while queue:
        frame = queue[0].next()
        if frame is not None:
            return frame
        done = queue.popleft().on_done
        if done is not None:
            done()
    return None


def _receive(stream: RtpStream) -> RtpCore | None:
    """Drain the call's socket for this tick (its digits go to their sink as they are read);
    its core, or None while it has no socket."""
    core = stream.core
    if core is not None:
        core.receive()
    return core


@dataclass(eq=False)
class Member:
    participant_id: str
    stream: RtpStream
    talker: bool = True
    muted: bool = False
    deaf: bool = False
    hold: bool = False
    wait: Source | None = None  # heard while the conference has not started
    hold_source: Source | None = None
    private: deque[Source] = field(default_factory=deque)
    detector: TalkDetector = field(default_factory=TalkDetector)

    @property
    def may_speak(self) -> bool:
        # A phone that put us on hold (we may not send) is not mixed either: no hold music in.
        stream = self.stream
        return self.talker and not self.muted and not self.hold and stream.sending

    @property
    def hears(self) -> bool:
        return not self.deaf and not self.hold


class Room:
    """The media side of one conference (or of the callers still giving a PIN)."""

    def __init__(
        self,
        name: str,
        mix: MixFunction,
        *,
        on_talking: Callable[[str, bool], None],
        started: bool = False,
    ) -> None:
        self.name = name
        self.started = started
        self._mix = mix
        self._on_talking = on_talking
        self.members: dict[str, Member] = {}
        self._order: list[Member] = []
        self.overlay: deque[Source] = deque()
        self.recorder: WavRecorder | None = None
        self.recording_paused = False
        self._frames = bytearray()
        self._out = bytearray()
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        self.late_ticks = 0

    # membership ---------------------------------------------------------------------

    def add(self, member: Member) -> None:
        self.members[member.participant_id] = member
        self._order = list(self.members.values())
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"room-{self.name}")

    def remove(self, participant_id: str) -> Member | None:
        member = self.members.pop(participant_id, None)
        self._order = list(self.members.values())
        if member is not None and member.detector.talking:
            member.detector.reset()
            self._on_talking(participant_id, False)
        return member

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # the clock ----------------------------------------------------------------------

    async def _run(self) -> None:
        """Tick on an absolute 20 ms schedule from the loop's clock; catch up, never drift."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            behind = int((loop.time() - due) / TICK_SECONDS)
            if behind > MAX_CATCH_UP_TICKS:
                self.late_ticks += behind
                due += behind * TICK_SECONDS
            while due <= loop.time():
                try:
                    self.tick()
                except Exception:
                    log.exception("mixing tick failed in %s", self.name)
                due += TICK_SECONDS
            await asyncio.sleep(due - loop.time())

    # one frame ----------------------------------------------------------------------

    def tick(self) -> None:
        self.ticks += 1
        if self.started:
            self._tick_mixing()
        else:
            self._tick_waiting()

    def _tick_waiting(self) -> None:
        overlay = _next_of(self.overlay)
        for member in self._order:
            stream = member.stream
            core = _receive(stream)
            if core is None:
                continue
            core.pull(None, 0)  # keep the buffer fresh: waiting callers are not mixed
            frame = _next_of(member.private)
            if frame is None:
                frame = overlay
            if frame is None and member.wait is not None:
                frame = member.wait.next()
            self._send(member, frame)

    def _tick_mixing(self) -> None:
        members = self._order
        n = len(members)
        rows = n + 2
        if len(self._frames) != rows * FRAME_BYTES:
            self._frames = bytearray(rows * FRAME_BYTES)
            self._out = bytearray(rows * FRAME_BYTES)
        frames, out = self._frames, self._out
        speaking = bytearray(rows)
        hearing = bytearray(rows)
        for i, member in enumerate(members):
            stream = member.stream
            core = _receive(stream)
            if core is None:
                continue
            level = core.pull(frames, i)  # the decoded frame lands in row i
            detector = member.detector
            if member.may_speak:
                change = detector.feed_level(max(level, 0.0))
                if change is not None:
                    self._on_talking(member.participant_id, change)
                if level >= 0.0:
                    speaking[i] = 1
            elif detector.talking:
                detector.reset()
                self._on_talking(member.participant_id, False)
            hearing[i] = member.hears
        overlay = _next_of(self.overlay)
        if overlay is not None:
            frames[n * FRAME_BYTES : (n + 1) * FRAME_BYTES] = overlay
            speaking[n] = 1
        hearing[n + 1] = 1
        self._mix(frames, speaking, hearing, out)
        common = bytes(memoryview(out)[(n + 1) * FRAME_BYTES :])
        common_encoded: dict[int, bytes] = {}
        for i, member in enumerate(members):
            stream = member.stream
            core = stream.core
            if core is None:
                continue
            if not stream.sending:
                core.skip()
                continue
            frame: bytes | None = _next_of(member.private) if member.private else None
            if frame is None:
                if member.hold:
                    source = member.hold_source
                    frame = source.next() if source is not None else None
                elif not member.deaf:
                    if speaking[i]:
                        core.send_pcm(out, i)  # their own N-1 mix
                        continue
                    pt = core.payload_type
                    encoded = common_encoded.get(pt)
                    if encoded is None:
                        encoded = common_encoded[pt] = codec.encode(pt, common)
                    core.send_payload(encoded)
                    continue
            self._send(member, frame)  # a private or hold source, or silence
        if self.recorder is not None and not self.recording_paused:
            self.recorder.write(common)

    def _send(self, member: Member, frame: bytes | None) -> None:
        stream = member.stream
        core = stream.core
        if core is None:
            return
        if not stream.sending:
            core.skip()
        elif frame is None:
            core.send_payload(_SILENCE_ENCODED[core.payload_type])
        else:
            core.send_pcm(frame)
