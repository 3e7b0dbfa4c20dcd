"""The conference state machine: a transition table and the rules that pick a trigger.

Every function is pure: it takes the current conference and an observation or request and
returns a `Decision` (the new conference, the events to record and the engine commands to
send). Revision and `updated_at` move with every change.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

from bridge.core import engine as cmd
from bridge.core.errors import Conflict
from bridge.core.events import EventType
from bridge.core.models import (
    LIVE_CONFERENCE,
    Conference,
    ConferenceStatus,
    ConferenceType,
    EventDraft,
    LeaveReason,
    Participant,
)

S = ConferenceStatus


class Trigger(StrEnum):
    OPEN = "open"  # a reservation's start time arrived
    FIRST_JOIN = "first_join"
    START = "start"  # a start_on_entry participant is present (latched)
    LAST_LEFT = "last_left"
    TERMINATE = "terminate"  # participants still present: tear down first
    TERMINATE_EMPTY = "terminate_empty"
    ALL_GONE = "all_gone"


TRANSITIONS: Final[dict[tuple[ConferenceStatus, Trigger], ConferenceStatus]] = {
    (S.RESERVED, Trigger.OPEN): S.EMPTY,
    (S.EMPTY, Trigger.FIRST_JOIN): S.POPULATED,
    (S.POPULATED, Trigger.START): S.IN_PROGRESS,
    (S.POPULATED, Trigger.LAST_LEFT): S.EMPTY,
    (S.IN_PROGRESS, Trigger.LAST_LEFT): S.EMPTY,
    (S.TERMINATING, Trigger.ALL_GONE): S.TERMINATED,
    **{(s, Trigger.TERMINATE): S.TERMINATING for s in (S.EMPTY, S.POPULATED, S.IN_PROGRESS)},
    **{
        (s, Trigger.TERMINATE_EMPTY): S.TERMINATED
        for s in (S.RESERVED, S.EMPTY, S.POPULATED, S.IN_PROGRESS, S.TERMINATING)
    },
}


class EndReason(StrEnum):
    API = "api"
    DESTROY_ON_EXIT = "destroy_on_exit"
    TIMEOUT = "timeout"
    RESERVATION_ENDED = "reservation_ended"
    CONNECT_ENDED = "connect_ended"  # type=connect and fewer than two remain


@dataclass(slots=True)
class Decision:
    conference: Conference
    events: list[EventDraft] = field(default_factory=list)
    commands: list[cmd.Command] = field(default_factory=list)
    start_recording: bool = False
    stop_recording: bool = False
    end_reason: EndReason | None = None

    def then(self, other: Decision) -> Decision:
        """Compose two decisions made one after the other."""
        return Decision(
            conference=other.conference,
            events=[*self.events, *other.events],
            commands=[*self.commands, *other.commands],
            start_recording=self.start_recording or other.start_recording,
            stop_recording=self.stop_recording or other.stop_recording,
            end_reason=other.end_reason or self.end_reason,
        )


def fire(conf: Conference, trigger: Trigger, now: datetime, **data: object) -> Decision:
    """Apply one trigger from the table; raises Conflict if the table does not allow it."""
    target = TRANSITIONS.get((conf.status, trigger))
    if target is None:
        raise Conflict(
            "invalid_transition",
            f"conference is {conf.status.value}; cannot {trigger.value}",
            status=conf.status.value,
            trigger=trigger.value,
        )
    new = replace(conf, status=target, revision=conf.revision + 1, updated_at=now)
    if target == S.IN_PROGRESS and new.started_at is None:
        new = replace(new, started_at=now)
    if target == S.TERMINATED:
        new = replace(new, ended_at=now, participant_count=0)
    event = EventDraft(
        EventType.CONFERENCE_STATUS_CHANGED,
        data={"from": conf.status.value, "to": target.value, "trigger": trigger.value, **data},
    )
    return Decision(new, [event])


def can(conf: Conference, trigger: Trigger) -> bool:
    return (conf.status, trigger) in TRANSITIONS


def touch(conf: Conference, now: datetime, **changes: object) -> Conference:
    """A non-status update: new values, next revision."""
    return replace(conf, revision=conf.revision + 1, updated_at=now, **changes)  # type: ignore[arg-type]


def open_reservation(conf: Conference, now: datetime) -> Decision:
    return fire(conf, Trigger.OPEN, now)


def participant_joined(conf: Conference, p: Participant, now: datetime) -> Decision:
    """`p` just became joined. Populate, and start (latched) if it is a start-moderator."""
    if conf.status not in LIVE_CONFERENCE:
        # Too late: the conference is ending or over. The engine must drop the call.
        return Decision(conf, [], [cmd.Kick(conf, p, LeaveReason.CONFERENCE_ENDED)])
    count = conf.participant_count + 1
    counted = replace(
        conf, participant_count=count, peak_participants=max(count, conf.peak_participants)
    )
    decision = Decision(counted)
    if counted.status == S.EMPTY:
        decision = fire(counted, Trigger.FIRST_JOIN, now)
    if p.options.start_on_entry and can(decision.conference, Trigger.START):
        started = fire(decision.conference, Trigger.START, now, participant_id=p.id)
        started.commands.append(cmd.StartConference(started.conference))
        started.start_recording = started.conference.record
        decision = decision.then(started)
    return decision


def participant_left(
    conf: Conference, p: Participant, reason: LeaveReason, now: datetime, *, was_joined: bool
) -> Decision:
    """`p` left (or failed). Decide: back to empty, tear down, or nothing."""
    count = max(0, conf.participant_count - (1 if was_joined else 0))
    counted = replace(conf, participant_count=count)
    if counted.status == S.TERMINATING:
        if count == 0:
            return fire(counted, Trigger.ALL_GONE, now)
        return Decision(counted)
    if counted.status not in LIVE_CONFERENCE:
        return Decision(counted)
    ending_by_choice = reason not in (LeaveReason.CONFERENCE_ENDED, LeaveReason.TIMEOUT)
    if was_joined and p.options.destroy_on_exit and ending_by_choice:
        return terminate(counted, EndReason.DESTROY_ON_EXIT, now, present=count)
    if counted.type == ConferenceType.CONNECT and counted.peak_participants >= 2 and count < 2:
        return terminate(counted, EndReason.CONNECT_ENDED, now, present=count)
    if count == 0 and can(counted, Trigger.LAST_LEFT):
        left = fire(counted, Trigger.LAST_LEFT, now)
        left.stop_recording = True
        return left
    return Decision(counted)


def terminate(conf: Conference, reason: EndReason, now: datetime, *, present: int) -> Decision:
    """End the conference: every call ends, the id is never reused.

    `present` counts the participants still in it (joined); with none, it ends at once.
    """
    if conf.status == S.TERMINATED:
        raise Conflict("conference_terminated", "the conference has already ended")
    if conf.status == S.TERMINATING and present > 0:
        return Decision(conf)  # already tearing down
    trigger = Trigger.TERMINATE if present > 0 else Trigger.TERMINATE_EMPTY
    decision = fire(replace(conf, end_reason=reason.value), trigger, now, reason=reason.value)
    decision.end_reason = reason
    decision.stop_recording = True
    decision.commands.append(cmd.EndConference(decision.conference))
    return decision


def leave_reason_for(end: EndReason) -> LeaveReason:
    """Why participants leave when the conference ends for `end`."""
    return LeaveReason.TIMEOUT if end == EndReason.TIMEOUT else LeaveReason.CONFERENCE_ENDED


def timed_out(conf: Conference, now: datetime) -> bool:
    deadline = conf.deadline()
    return (
        deadline is not None
        and now >= deadline
        and conf.status not in (S.TERMINATED, S.TERMINATING)
    )
