"""The engine contract in data: commands the services send, observations the engines report.

Engines never decide policy. They execute these commands and report what they saw; the
state machines in core/ decide what it means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.core.models import (
    Conference,
    FailureReason,
    LeaveReason,
    MediaItem,
    Participant,
)

# --- commands (services -> engine) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartConference:
    """The conference started (latched): release waiting callers, start mixing."""

    conference: Conference


@dataclass(frozen=True, slots=True)
class EndConference:
    """Every call in the conference ends."""

    conference: Conference


@dataclass(frozen=True, slots=True)
class Kick:
    conference: Conference
    participant: Participant
    reason: LeaveReason


@dataclass(frozen=True, slots=True)
class SetMute:
    conference: Conference
    participant: Participant
    muted: bool


@dataclass(frozen=True, slots=True)
class SetDeaf:
    conference: Conference
    participant: Participant
    deaf: bool


@dataclass(frozen=True, slots=True)
class SetHold:
    """Hold = not heard, hears nothing of the room, hears `media` instead."""

    conference: Conference
    participant: Participant
    hold: bool
    media: MediaItem | None = None


@dataclass(frozen=True, slots=True)
class Play:
    """Play or say into the whole conference, or to one participant."""

    conference: Conference
    media: tuple[MediaItem, ...]
    participant: Participant | None = None
    announcement_id: str | None = None


@dataclass(frozen=True, slots=True)
class StartRecording:
    conference: Conference
    recording_id: str
    path: str


@dataclass(frozen=True, slots=True)
class StopRecording:
    conference: Conference
    recording_id: str


@dataclass(frozen=True, slots=True)
class PauseRecording:
    conference: Conference
    recording_id: str
    paused: bool


@dataclass(frozen=True, slots=True)
class Originate:
    """Dial out and, on answer, join the participant to the conference."""

    conference: Conference
    participant: Participant


Command = (
    StartConference
    | EndConference
    | Kick
    | SetMute
    | SetDeaf
    | SetHold
    | Play
    | StartRecording
    | StopRecording
    | PauseRecording
    | Originate
)

# --- observations (engine -> services) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallAnswered:
    participant_id: str


@dataclass(frozen=True, slots=True)
class MemberJoined:
    participant_id: str
    call_ref: str | None = None


@dataclass(frozen=True, slots=True)
class MemberLeft:
    participant_id: str
    reason: LeaveReason | None = None  # None: the engine does not know (hangup unless we kicked)


@dataclass(frozen=True, slots=True)
class CallFailed:
    participant_id: str
    reason: FailureReason


@dataclass(frozen=True, slots=True)
class TalkingChanged:
    participant_id: str
    talking: bool


@dataclass(frozen=True, slots=True)
class MuteChanged:
    participant_id: str
    muted: bool


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    """The engine says a member's flags are these (changed on the PBX itself, or found on a
    resync to differ from ours). None: the engine did not say."""

    participant_id: str
    muted: bool | None = None
    deaf: bool | None = None
    hold: bool | None = None


@dataclass(frozen=True, slots=True)
class DigitPressed:
    participant_id: str
    digit: str


@dataclass(frozen=True, slots=True)
class RecordingEnded:
    conference_id: str
    recording_id: str
    size_bytes: int = 0
    duration_seconds: float = 0.0
    failed: bool = False


@dataclass(frozen=True, slots=True)
class AnnouncementFinished:
    conference_id: str
    announcement_id: str
    failed: bool = False  # the engine refused or could not play it


@dataclass(frozen=True, slots=True)
class MemberFlags:
    muted: bool
    deaf: bool
    hold: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    """After a (re)connect, or a start next to a PBX that already has calls: who the engine
    says is in each conference it knows, by our participant id, and, where it can tell, their
    flags. The adoption contract: whoever is listed is (still) joined with these flags; whoever
    we have as present and is not listed has left."""

    present: dict[str, frozenset[str]] = field(default_factory=dict)
    flags: dict[str, MemberFlags] = field(default_factory=dict)


Observation = (
    CallAnswered
    | MemberJoined
    | MemberLeft
    | CallFailed
    | TalkingChanged
    | MuteChanged
    | FlagsChanged
    | DigitPressed
    | RecordingEnded
    | AnnouncementFinished
    | Snapshot
)
