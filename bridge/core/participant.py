"""The participant state machine: joining -> joined -> leaving -> left, or joining -> failed.

Forward only. Observations that would move a participant backwards (a late join after a
leave, a second leave) are ignored: `None` is returned and nothing changes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Final

from bridge.core.events import EventType
from bridge.core.models import (
    EventDraft,
    FailureReason,
    LeaveReason,
    Participant,
    ParticipantStatus,
)

P = ParticipantStatus

ALLOWED: Final[frozenset[tuple[ParticipantStatus, ParticipantStatus]]] = frozenset(
    {
        (P.JOINING, P.JOINED),
        (P.JOINING, P.FAILED),
        (P.JOINING, P.LEAVING),
        (P.JOINED, P.LEAVING),
        (P.JOINED, P.LEFT),
        (P.LEAVING, P.LEFT),
    }
)

ORDER: Final[dict[ParticipantStatus, int]] = {
    P.JOINING: 0,
    P.JOINED: 1,
    P.LEAVING: 2,
    P.LEFT: 3,
    P.FAILED: 3,
}


def can_move(current: ParticipantStatus, target: ParticipantStatus) -> bool:
    return (current, target) in ALLOWED


def _move(
    p: Participant, target: ParticipantStatus, now: datetime, **changes: object
) -> Participant:
    return replace(p, status=target, revision=p.revision + 1, updated_at=now, **changes)  # type: ignore[arg-type]


def joined(p: Participant, now: datetime) -> tuple[Participant, EventDraft] | None:
    if not can_move(p.status, P.JOINED):
        return None
    new = _move(p, P.JOINED, now, joined_at=now)
    return new, EventDraft(
        EventType.PARTICIPANT_JOINED, p.id, {"muted": new.muted, "deaf": new.deaf}
    )


def leaving(
    p: Participant, reason: LeaveReason, now: datetime
) -> tuple[Participant, EventDraft] | None:
    if not can_move(p.status, P.LEAVING):
        return None
    new = _move(p, P.LEAVING, now, leave_reason=reason)
    return new, EventDraft(EventType.PARTICIPANT_LEAVING, p.id, {"reason": reason.value})


def left(
    p: Participant, reason: LeaveReason, now: datetime
) -> tuple[Participant, EventDraft] | None:
    """The call is out of the conference. A participant that never joined fails instead."""
    if p.status == P.JOINING:
        capacity = reason == LeaveReason.CAPACITY
        return failed(p, FailureReason.CAPACITY if capacity else FailureReason.CANCELLED, now)
    if not can_move(p.status, P.LEFT):
        return None
    final_reason = p.leave_reason if p.status == P.LEAVING and p.leave_reason else reason
    new = _move(p, P.LEFT, now, left_at=now, leave_reason=final_reason, talking=False)
    data = {
        "reason": final_reason.value,
        "seconds_connected_duration": new.seconds_connected(now),
    }
    return new, EventDraft(EventType.PARTICIPANT_LEFT, p.id, data)


def failed(
    p: Participant, reason: FailureReason, now: datetime
) -> tuple[Participant, EventDraft] | None:
    if not can_move(p.status, P.FAILED):
        return None
    new = _move(p, P.FAILED, now, failure_reason=reason, left_at=now)
    data = {
        "reason": reason.value,
        "leave_reason": LeaveReason.FAILED.value,
        "seconds_connected_duration": 0.0,
    }
    return new, EventDraft(EventType.PARTICIPANT_FAILED, p.id, data)


def set_flags(
    p: Participant, now: datetime, **flags: bool
) -> tuple[Participant, EventDraft] | None:
    """Runtime flags (muted, deaf, hold, dtmf_enabled, talking); None when nothing changes."""
    changed = {k: v for k, v in flags.items() if getattr(p, k) != v}
    if not changed:
        return None
    new = replace(p, revision=p.revision + 1, updated_at=now, **changed)  # type: ignore[arg-type]
    kind = (
        EventType.PARTICIPANT_TALKING
        if set(changed) == {"talking"}
        else EventType.PARTICIPANT_UPDATED
    )
    return new, EventDraft(kind, p.id, dict(changed))
