"""Every event type the bridge emits, each with the type of its `data`: the one list that
the state machines, the services, subscription and stream filters, the webhook bodies and the
OpenAPI document read, so a misspelt type is a mypy error or a 400, never a silent no-match."""

# No `from __future__ import annotations`: TypedDict reads NotRequired at runtime.

from enum import StrEnum
from typing import Any, NotRequired, TypedDict


class EventType(StrEnum):
    CONFERENCE_CREATED = "conference.created"
    CONFERENCE_UPDATED = "conference.updated"
    CONFERENCE_STATUS_CHANGED = "conference.status_changed"
    CONFERENCE_CALLER_REFUSED = "conference.caller_refused"
    PARTICIPANT_JOINING = "participant.joining"
    PARTICIPANT_ANSWERED = "participant.answered"
    PARTICIPANT_JOINED = "participant.joined"
    PARTICIPANT_LEAVING = "participant.leaving"
    PARTICIPANT_LEFT = "participant.left"
    PARTICIPANT_FAILED = "participant.failed"
    PARTICIPANT_UPDATED = "participant.updated"
    PARTICIPANT_TALKING = "participant.talking"
    PARTICIPANT_DIGIT = "participant.digit"
    PARTICIPANT_CALL_CONTROL = "participant.call_control"
    RESERVATION_CREATED = "reservation.created"
    RESERVATION_EXTENDED = "reservation.extended"
    RESERVATION_CANCELLED = "reservation.cancelled"
    RESERVATION_STATUS_CHANGED = "reservation.status_changed"
    RECORDING_STARTED = "recording.started"
    RECORDING_PAUSED = "recording.paused"
    RECORDING_RESUMED = "recording.resumed"
    RECORDING_STOPPED = "recording.stopped"
    RECORDING_COMPLETED = "recording.completed"
    RECORDING_FAILED = "recording.failed"
    ANNOUNCEMENT_STARTED = "announcement.started"
    ANNOUNCEMENT_FINISHED = "announcement.finished"

    @property
    def family(self) -> str:
        """`participant.*` for participant.joined: what a filter may name instead."""
        return self.value.split(".", 1)[0] + ".*"


FAMILIES = frozenset(t.family for t in EventType)


# The `data` of each event type. `total=False` where which keys appear depends on the change.
class ConferenceCreated(TypedDict):
    status: str


class ConferenceUpdated(TypedDict):
    fields: list[str]


# The functional form where a key is a Python keyword ("from").
ConferenceStatusChanged = TypedDict(
    "ConferenceStatusChanged",
    {
        "from": str,
        "to": str,
        "trigger": str,
        "participant_id": NotRequired[str],  # the start moderator, on start
        "reason": NotRequired[str],  # why it ends, on terminate
        "forced": NotRequired[bool],  # the scheduler ended it
    },
)


class CallerRefused(TypedDict):
    outcome: str
    caller_id: str | None


ParticipantJoining = TypedDict(
    "ParticipantJoining",
    {
        "direction": str,
        "to": NotRequired[str],
        "from": NotRequired[str | None],
        "moderator": NotRequired[bool],
        "name": NotRequired[str | None],  # the display name (SIP From, or given at dial-out)
    },
)


class Empty(TypedDict):
    pass


class ParticipantJoined(TypedDict):
    muted: bool
    deaf: bool


class ParticipantLeaving(TypedDict):
    reason: str


class ParticipantLeft(TypedDict):
    reason: str
    seconds_connected_duration: float


class ParticipantFailed(TypedDict):
    reason: str
    leave_reason: str
    seconds_connected_duration: float


class ParticipantFlags(TypedDict, total=False):
    """Only the flags that changed."""

    muted: bool
    deaf: bool
    hold: bool
    dtmf_enabled: bool
    talking: bool


class ParticipantDigit(TypedDict):
    digit: str
    action: str


class CallControl(TypedDict):
    sequence: str


class ReservationCreated(TypedDict):
    reservation_token: str
    start_time: str


class ReservationExtended(TypedDict):
    reservation_token: str
    duration: int


class ReservationCancelled(TypedDict):
    reservation_token: str


ReservationStatusChanged = TypedDict(
    "ReservationStatusChanged", {"reservation_token": str, "from": str, "to": str}
)


class RecordingRef(TypedDict):
    recording_id: str


class RecordingEnded(TypedDict):
    recording_id: str
    size_bytes: int | None


class AnnouncementStarted(TypedDict):
    announcement_id: str
    media: list[dict[str, Any]]


class AnnouncementFinished(TypedDict):
    announcement_id: str
    failed: NotRequired[bool]


PAYLOADS: dict[EventType, type] = {
    EventType.CONFERENCE_CREATED: ConferenceCreated,
    EventType.CONFERENCE_UPDATED: ConferenceUpdated,
    EventType.CONFERENCE_STATUS_CHANGED: ConferenceStatusChanged,
    EventType.CONFERENCE_CALLER_REFUSED: CallerRefused,
    EventType.PARTICIPANT_JOINING: ParticipantJoining,
    EventType.PARTICIPANT_ANSWERED: Empty,
    EventType.PARTICIPANT_JOINED: ParticipantJoined,
    EventType.PARTICIPANT_LEAVING: ParticipantLeaving,
    EventType.PARTICIPANT_LEFT: ParticipantLeft,
    EventType.PARTICIPANT_FAILED: ParticipantFailed,
    EventType.PARTICIPANT_UPDATED: ParticipantFlags,
    EventType.PARTICIPANT_TALKING: ParticipantFlags,
    EventType.PARTICIPANT_DIGIT: ParticipantDigit,
    EventType.PARTICIPANT_CALL_CONTROL: CallControl,
    EventType.RESERVATION_CREATED: ReservationCreated,
    EventType.RESERVATION_EXTENDED: ReservationExtended,
    EventType.RESERVATION_CANCELLED: ReservationCancelled,
    EventType.RESERVATION_STATUS_CHANGED: ReservationStatusChanged,
    EventType.RECORDING_STARTED: RecordingRef,
    EventType.RECORDING_PAUSED: RecordingRef,
    EventType.RECORDING_RESUMED: RecordingRef,
    EventType.RECORDING_STOPPED: RecordingRef,
    EventType.RECORDING_COMPLETED: RecordingEnded,
    EventType.RECORDING_FAILED: RecordingEnded,
    EventType.ANNOUNCEMENT_STARTED: AnnouncementStarted,
    EventType.ANNOUNCEMENT_FINISHED: AnnouncementFinished,
}


def payload_keys(t: EventType) -> tuple[frozenset[str], frozenset[str]]:
    """(required, optional) keys of `t`'s data."""
    td: Any = PAYLOADS[t]
    return frozenset(td.__required_keys__), frozenset(td.__optional_keys__)


_KEYS = {t: payload_keys(t) for t in EventType}


def payload_problem(t: EventType, data: dict[str, Any]) -> str | None:
    """Why `data` is not a `t` payload (missing or unknown keys), or None."""
    required, optional = _KEYS[t]
    missing = required - data.keys()
    unknown = data.keys() - required - optional
    if missing or unknown:
        return f"{t.value}: missing {sorted(missing)}, unknown {sorted(unknown)}"
    return None


def known_filter(name: str) -> bool:
    """A subscription or stream filter entry: an event type or a family (`participant.*`)."""
    return name in FAMILIES or name in EventType._value2member_map_
