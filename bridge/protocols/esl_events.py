"""Typed views of the ESL events the bridge acts on, and Event-Sequence ordering.

``conference_event()`` turns a CUSTOM ``conference::maintenance`` event into a
``ConferenceEvent``; ``background_job()`` turns ``BACKGROUND_JOB`` into the
result of a ``bgapi``. ``EventOrderer`` restores ``Event-Sequence`` order:
FreeSWITCH fires events from several dispatch threads, so one socket can see
them out of order, and a filtered subscription sees gaps in the sequence.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from bridge.protocols.esl import Event

CONFERENCE_SUBCLASS: Final = "conference::maintenance"


def _int(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.lstrip("-").isdigit():
        return None
    return int(value)


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "true"


@dataclass(frozen=True, slots=True)
class ConferenceEvent:
    """One mod_conference observation. Member fields are None on conference-level actions."""

    action: str
    conference_name: str
    conference_uuid: str | None
    conference_size: int | None
    sequence: int | None
    member_id: int | None = None
    channel_uuid: str | None = None  # Unique-ID: the member's channel
    member_type: str | None = None  # moderator | member
    caller_id_name: str | None = None
    caller_id_number: str | None = None
    hear: bool | None = None
    speak: bool | None = None
    talking: bool | None = None
    hold: bool | None = None
    floor: bool | None = None
    digits: str | None = None  # dtmf-member
    dtmf_key: str | None = None  # caller-control "event" action
    hangup_cause: str | None = None  # del-member after endconf/mintwo teardown
    file: str | None = None  # play-file*, start/stop-recording (Path)
    job_uuid: str | None = None  # bgdial-result
    result: str | None = None
    peer_uuid: str | None = None
    old_id: str | None = None  # floor-change; "none" is possible
    new_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)


def conference_event(event: Event) -> ConferenceEvent | None:
    """The typed view of a conference::maintenance event, or None for anything else."""
    if event.name != "CUSTOM" or event.subclass != CONFERENCE_SUBCLASS:
        return None
    h = event.headers
    action = h.get("Action")
    name = h.get("Conference-Name")
    if action is None or name is None:
        return None
    return ConferenceEvent(
        action=action,
        conference_name=name,
        conference_uuid=h.get("Conference-Unique-ID"),
        conference_size=_int(h.get("Conference-Size")),
        sequence=event.sequence,
        member_id=_int(h.get("Member-ID")),
        channel_uuid=h.get("Unique-ID"),
        member_type=h.get("Member-Type"),
        caller_id_name=h.get("Caller-Caller-ID-Name"),
        caller_id_number=h.get("Caller-Caller-ID-Number"),
        hear=_flag(h.get("Hear")),
        speak=_flag(h.get("Speak")),
        talking=_flag(h.get("Talking")),
        hold=_flag(h.get("Hold")),
        floor=_flag(h.get("Floor")),
        digits=h.get("Digits"),
        dtmf_key=h.get("DTMF-Key"),
        hangup_cause=h.get("Hangup-Cause"),
        file=h.get("File", h.get("Path")),
        job_uuid=h.get("Job-UUID"),
        result=h.get("Result"),
        peer_uuid=h.get("Peer-UUID"),
        old_id=h.get("Old-ID"),
        new_id=h.get("New-ID"),
        headers=h,
    )


@dataclass(frozen=True, slots=True)
class BackgroundJob:
    """The result of a ``bgapi``: its output is text, ``-ERR`` marks a failure."""

    job_uuid: str
    command: str | None
    argument: str | None
    body: str

    @property
    def ok(self) -> bool:
        return not self.body.startswith(("-ERR", "-USAGE"))


def background_job(event: Event) -> BackgroundJob | None:
    if event.name != "BACKGROUND_JOB":
        return None
    job_uuid = event.headers.get("Job-UUID")
    if job_uuid is None:
        return None
    return BackgroundJob(
        job_uuid=job_uuid,
        command=event.headers.get("Job-Command"),
        argument=event.headers.get("Job-Command-Arg"),
        body=event.body or "",
    )


class EventOrderer:
    """Releases events in Event-Sequence order and drops duplicates and late arrivals.

    Each event is held for ``hold`` seconds (or until more than ``window`` are held)
    so that one overtaken by a later-numbered event can still go out first. Gaps are
    normal (a subscription sees a subset of all events), so nothing waits for a
    missing number. An event numbered at or below the last one released is dropped.
    Events without a sequence pass straight through. Call ``reset()`` after a
    reconnect: FreeSWITCH may have restarted and begun numbering again.
    """

    def __init__(self, hold: float = 0.02, window: int = 256) -> None:
        if window < 1 or hold < 0:
            raise ValueError("window must be >= 1 and hold >= 0")
        self._hold = hold
        self._window = window
        self._heap: list[tuple[int, float, Event]] = []
        self._held: set[int] = set()
        self._last: int | None = None
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._heap)

    def reset(self) -> list[Event]:
        """Release everything held, in order, and forget the last sequence seen."""
        out = self._pop_while(lambda _seq: True)
        self._last = None
        return out

    def push(self, event: Event, now: float) -> list[Event]:
        seq = event.sequence
        if seq is None:
            return [*self.poll(now), event]
        if (self._last is not None and seq <= self._last) or seq in self._held:
            self.dropped += 1
            return self.poll(now)
        heapq.heappush(self._heap, (seq, now, event))
        self._held.add(seq)
        return self.poll(now)

    def poll(self, now: float) -> list[Event]:
        """Release what is due: everything up to the highest-numbered expired event."""
        if not self._heap:
            return []
        due = [seq for seq, arrived, _ in self._heap if now - arrived >= self._hold]
        limit = max(due) if due else None
        out = self._pop_while(lambda seq: limit is not None and seq <= limit)
        while len(self._heap) > self._window:
            out.extend(self._pop_one())
        return out

    def next_deadline(self) -> float | None:
        """When the oldest held event falls due (for a reader's wait timeout)."""
        if not self._heap:
            return None
        return min(arrived for _, arrived, _ in self._heap) + self._hold

    def _pop_one(self) -> list[Event]:
        seq, _, event = heapq.heappop(self._heap)
        self._held.discard(seq)
        self._last = seq
        return [event]

    def _pop_while(self, cond: Callable[[int], bool]) -> list[Event]:
        out: list[Event] = []
        while self._heap and cond(self._heap[0][0]):
            out.extend(self._pop_one())
        return out
