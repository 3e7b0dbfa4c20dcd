"""Model dataclasses. Immutable: state machines return new values with `replace`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bridge.core.events import EventType, payload_problem


class ConferenceStatus(StrEnum):
    RESERVED = "reserved"
    EMPTY = "empty"
    POPULATED = "populated"
    IN_PROGRESS = "in_progress"
    TERMINATING = "terminating"
    TERMINATED = "terminated"


LIVE_CONFERENCE = frozenset(
    {ConferenceStatus.EMPTY, ConferenceStatus.POPULATED, ConferenceStatus.IN_PROGRESS}
)


class ConferenceType(StrEnum):
    CONFERENCE = "conference"
    CONNECT = "connect"  # VoIPbin: ends when fewer than two participants remain


class PlayBeep(StrEnum):
    ALWAYS = "always"
    NEVER = "never"
    ENTRY_ONLY = "entry_only"
    EXIT_ONLY = "exit_only"

    @property
    def on_entry(self) -> bool:
        return self in (PlayBeep.ALWAYS, PlayBeep.ENTRY_ONLY)

    @property
    def on_exit(self) -> bool:
        return self in (PlayBeep.ALWAYS, PlayBeep.EXIT_ONLY)


class ParticipantStatus(StrEnum):
    JOINING = "joining"
    JOINED = "joined"
    LEAVING = "leaving"
    LEFT = "left"
    FAILED = "failed"


ACTIVE_PARTICIPANT = frozenset({ParticipantStatus.JOINING, ParticipantStatus.JOINED})
PRESENT_PARTICIPANT = frozenset(
    {ParticipantStatus.JOINING, ParticipantStatus.JOINED, ParticipantStatus.LEAVING}
)


class LeaveReason(StrEnum):
    HANGUP = "hangup"
    KICKED = "kicked"
    EXIT_DIGIT = "exit_digit"
    CONFERENCE_ENDED = "conference_ended"
    TIMEOUT = "timeout"
    FAILED = "failed"
    CAPACITY = "capacity"


class FailureReason(StrEnum):
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    REJECTED = "rejected"
    CAPACITY = "capacity"
    ERROR = "error"
    CANCELLED = "cancelled"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ReservationStatus(StrEnum):
    RESERVED = "reserved"
    HOLDING = "holding"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class RecordingStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class MediaItem:
    """A play action: a file to play, or text to say."""

    kind: str  # "play" | "say"
    file: str | None = None
    text: str | None = None
    language: str = "en"
    gender: str | None = None  # a voice hint (VoIPbin's talk action); engines may ignore it
    url: str | None = None  # where the file came from (FreeClimb waitUrl); never fetched

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "play":
            if self.url is not None:
                return {"play": {"file": self.file, "url": self.url}}
            return {"play": {"file": self.file}}
        say: dict[str, Any] = {"text": self.text, "language": self.language}
        if self.gender is not None:
            say["gender"] = self.gender
        return {"say": say}


@dataclass(frozen=True, slots=True)
class ParticipantOptions:
    """Aculab conference_participant + FreeClimb privileges, with their documented defaults."""

    talker: bool = True
    listen: bool = True
    start_on_entry: bool = True
    destroy_on_exit: bool = False
    beep_on_entry: bool = True
    start_muted: bool = False
    dtmf_enabled: bool = True
    exit_digit: str | None = None
    mute_digit: str | None = None
    unmute_digit: str | None = None
    while_stopped_media: MediaItem | None = None
    name: MediaItem | None = None
    has_joined_message: MediaItem | None = None
    has_left_message: MediaItem | None = None
    call_control_sequence: str | None = None
    call_control_url: str | None = None
    leave_conference_url: str | None = None
    notification_url: str | None = None


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Aculab secondary_call for dial-out participants."""

    call_recording: bool = False
    minutes_max_call_duration: int = 240
    first_page: str | None = None
    final_page: str | None = None
    error_page: str | None = None
    next_page: str | None = None


@dataclass(frozen=True, slots=True)
class DialIn:
    """How SIP callers reach a conference: the dialled code, PINs and their participant options."""

    access_code: str
    pin: str | None = None
    moderator_pin: str | None = None
    participant_options: ParticipantOptions = field(default_factory=ParticipantOptions)
    moderator_options: ParticipantOptions = field(default_factory=ParticipantOptions)


@dataclass(frozen=True, slots=True)
class Conference:
    id: str
    account_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    status: ConferenceStatus = ConferenceStatus.EMPTY
    type: ConferenceType = ConferenceType.CONFERENCE
    alias: str | None = None
    detail: str | None = None
    play_beep: PlayBeep = PlayBeep.ALWAYS
    record: bool = False
    max_participants: int | None = None
    timeout: int = 0
    wait_media: MediaItem | None = None
    action_url: str | None = None
    status_callback_url: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    pre_actions: tuple[MediaItem, ...] = ()
    post_actions: tuple[MediaItem, ...] = ()
    dial_in: DialIn | None = None
    reservation_id: str | None = None
    revision: int = 1
    started_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    participant_count: int = 0
    peak_participants: int = 0
    recording_id: str | None = None

    @property
    def final(self) -> bool:
        return self.status == ConferenceStatus.TERMINATED

    def deadline(self) -> datetime | None:
        """When `timeout` ends the conference (seconds from creation; 0 = never)."""
        if self.timeout <= 0:
            return None
        return self.created_at + timedelta(seconds=self.timeout)


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    conference_id: str
    account_id: str
    created_at: datetime
    updated_at: datetime
    direction: Direction = Direction.INBOUND
    status: ParticipantStatus = ParticipantStatus.JOINING
    options: ParticipantOptions = field(default_factory=ParticipantOptions)
    call_options: CallOptions | None = None
    from_: str | None = None
    to: str | None = None
    name: str | None = None  # display name (SIP From display name, or set at dial-out)
    call_ref: str | None = None
    moderator: bool = False
    muted: bool = False
    deaf: bool = False
    hold: bool = False
    talking: bool = False
    dtmf_enabled: bool = True
    answer_timeout: int = 30
    hold_media: MediaItem | None = None
    revision: int = 1
    joined_at: datetime | None = None
    left_at: datetime | None = None
    leave_reason: LeaveReason | None = None
    failure_reason: FailureReason | None = None
    recent_digits: str = ""

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_PARTICIPANT

    def seconds_connected(self, until: datetime) -> float:
        """One decimal, as Aculab's seconds_connected_duration."""
        if self.joined_at is None:
            return 0.0
        end = self.left_at or until
        return round(max(0.0, (end - self.joined_at).total_seconds()), 1)


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str  # the reservation token
    account_id: str
    conference_id: str
    conference_name: str
    max_participants: int
    start_time: datetime
    duration_minutes: int
    created_at: datetime
    updated_at: datetime
    divert: str | None = None
    status: ReservationStatus = ReservationStatus.RESERVED
    revision: int = 1

    @property
    def end_time(self) -> datetime:
        return self.start_time + timedelta(minutes=self.duration_minutes)


@dataclass(frozen=True, slots=True)
class Recording:
    id: str
    conference_id: str
    account_id: str
    created_at: datetime
    updated_at: datetime
    status: RecordingStatus = RecordingStatus.IN_PROGRESS
    path: str | None = None
    ended_at: datetime | None = None
    duration_seconds: float = 0.0
    size_bytes: int = 0
    format: str = "wav"
    revision: int = 1


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    account_id: str
    conference_id: str
    sequence: int
    occurred_at: datetime
    participant_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    position: int | None = None  # commit order across conferences, set by the group commit


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event decided by a state machine, before it gets its id and sequence."""

    type: EventType
    participant_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A payload that drifts from its declared type fails where it is made, in every test.
        problem = payload_problem(self.type, self.data)
        if problem is not None:
            raise ValueError(f"event payload does not match its type: {problem}")
