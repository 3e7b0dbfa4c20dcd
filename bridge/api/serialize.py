"""Resources as the API shows them (snake_case, RFC 3339 UTC, revision counters)."""

from __future__ import annotations

import re
from typing import Any

from bridge.core import spec
from bridge.core.clock import rfc3339
from bridge.core.models import (
    Conference,
    ConferenceStatus,
    Participant,
    ParticipantStatus,
    Recording,
    Reservation,
)
from bridge.core.options import call_options_to_dict, participant_options_to_dict

# How each seed API names our canonical statuses.
FREECLIMB = {
    ConferenceStatus.RESERVED: "creating",
    ConferenceStatus.EMPTY: "empty",
    ConferenceStatus.POPULATED: "populated",
    ConferenceStatus.IN_PROGRESS: "inProgress",
    ConferenceStatus.TERMINATING: "inProgress",
    ConferenceStatus.TERMINATED: "terminated",
}
ACULAB = {
    ConferenceStatus.RESERVED: "RESERVED",
    ConferenceStatus.EMPTY: "HOLDING",
    ConferenceStatus.POPULATED: "HOLDING",
    ConferenceStatus.IN_PROGRESS: "ACTIVE",
    ConferenceStatus.TERMINATING: "ACTIVE",
    ConferenceStatus.TERMINATED: "COMPLETED",
}
VOIPBIN = {
    ConferenceStatus.RESERVED: "starting",
    ConferenceStatus.EMPTY: "starting",
    ConferenceStatus.POPULATED: "progressing",
    ConferenceStatus.IN_PROGRESS: "progressing",
    ConferenceStatus.TERMINATING: "terminating",
    ConferenceStatus.TERMINATED: "terminated",
}
VOIPBIN_CALL = {
    ParticipantStatus.JOINING: "joining",
    ParticipantStatus.JOINED: "joined",
    ParticipantStatus.LEAVING: "leaving",
    ParticipantStatus.LEFT: "leaved",
    ParticipantStatus.FAILED: "leaved",
}


def conference(c: Conference, booking: Reservation | None = None) -> dict[str, Any]:
    """`booking`: the reservation that booked it, shown as Aculab's Conference List does
    (size, start, duration, divert, status)."""
    base = f"/v1/conferences/{c.id}"
    return {
        "id": c.id,
        "uri": base,
        "account_id": c.account_id,
        **spec.CONFERENCE.show(c),
        "status": c.status.value,
        "vendor_status": {
            "freeclimb": FREECLIMB[c.status],
            "aculab": ACULAB[c.status],
            "voipbin": VOIPBIN[c.status],
        },
        # a booked conference without its own size shows the booking's
        "max_participants": (
            c.max_participants
            if c.max_participants is not None or booking is None
            else booking.max_participants
        ),
        "reservation_token": c.reservation_id,
        "reservation": _booking(booking) if booking is not None else None,
        "participant_count": c.participant_count,
        "recording_id": c.recording_id,
        "end_reason": c.end_reason,
        "revision": c.revision,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
        "started_at": rfc3339(c.started_at),
        "ended_at": rfc3339(c.ended_at),
        "subresource_uris": {
            "participants": f"{base}/participants",
            "recordings": f"{base}/recordings",
            "events": f"{base}/events",
        },
    }


def _booking(r: Reservation) -> dict[str, Any]:
    return {
        "reservation_token": r.id,
        "conference_name": r.conference_name,
        "max_participants": r.max_participants,
        "start_time": r.start_time.strftime("%Y-%m-%d_%H:%M:%S"),
        "start_datetime": rfc3339(r.start_time),
        "end_datetime": rfc3339(r.end_time),
        "duration": r.duration_minutes,
        "divert": r.divert,
        "status": r.status.value,
        "vendor_status": {"aculab": r.status.value.upper()},
    }


def participant(p: Participant) -> dict[str, Any]:
    return {
        "id": p.id,
        "uri": f"/v1/conferences/{p.conference_id}/participants/{p.id}",
        "conference_id": p.conference_id,
        "account_id": p.account_id,
        "direction": p.direction.value,
        "status": p.status.value,
        "vendor_status": {"voipbin": VOIPBIN_CALL[p.status]},
        "from": p.from_,
        "to": p.to,
        "name": p.name,
        "moderator": p.moderator,
        "muted": p.muted,
        "deaf": p.deaf,
        "listen": not p.deaf,
        "hold": p.hold,
        "talking": p.talking,
        "dtmf_enabled": p.dtmf_enabled,
        "options": participant_options_to_dict(p.options),
        "secondary_call": call_options_to_dict(p.call_options) if p.call_options else None,
        "seconds_answer_timeout": p.answer_timeout,
        "hold_media": p.hold_media.to_dict() if p.hold_media else None,
        "leave_reason": p.leave_reason.value if p.leave_reason else None,
        "failure_reason": p.failure_reason.value if p.failure_reason else None,
        "seconds_connected_duration": p.seconds_connected(p.left_at or p.updated_at),
        "revision": p.revision,
        "created_at": rfc3339(p.created_at),
        "updated_at": rfc3339(p.updated_at),
        "joined_at": rfc3339(p.joined_at),
        "left_at": rfc3339(p.left_at),
    }


def reservation(r: Reservation) -> dict[str, Any]:
    return {
        "reservation_token": r.id,
        "uri": f"/v1/reservations/{r.id}",
        "account_id": r.account_id,
        "conference_id": r.conference_id,
        "conference_name": r.conference_name,
        "max_participants": r.max_participants,
        "start_time": r.start_time.strftime("%Y-%m-%d_%H:%M:%S"),
        "start_datetime": rfc3339(r.start_time),
        "end_datetime": rfc3339(r.end_time),
        "duration": r.duration_minutes,
        "divert": r.divert,
        "status": r.status.value,
        "vendor_status": {"aculab": r.status.value.upper()},
        "revision": r.revision,
        "created_at": rfc3339(r.created_at),
        "updated_at": rfc3339(r.updated_at),
    }


def recording(r: Recording) -> dict[str, Any]:
    return {
        "id": r.id,
        "uri": f"/v1/conferences/{r.conference_id}/recordings/{r.id}",
        "audio_uri": f"/v1/conferences/{r.conference_id}/recordings/{r.id}/audio",
        "conference_id": r.conference_id,
        "status": r.status.value,
        "format": r.format,
        "duration_seconds": r.duration_seconds,
        "size_bytes": r.size_bytes,
        "revision": r.revision,
        "created_at": rfc3339(r.created_at),
        "updated_at": rfc3339(r.updated_at),
        "ended_at": rfc3339(r.ended_at),
    }


def row(values: dict[str, Any], *, hide: tuple[str, ...] = ()) -> dict[str, Any]:
    """Accounts, keys, subscriptions, deliveries: plain rows with times in RFC 3339."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in hide:
            continue
        out[key] = rfc3339(value) if hasattr(value, "isoformat") else value
    return out


_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def delivery(values: dict[str, Any]) -> dict[str, Any]:
    """A webhook delivery: `last_error` only ever as a stable code (webhooks/outbound.py);
    anything else (rows written before the codes) shows as `delivery_failed`."""
    out = row(values, hide=("lease_until",))
    error = out.get("last_error")
    if error is not None and not (isinstance(error, str) and _ERROR_CODE.fullmatch(error)):
        out["last_error"] = "delivery_failed"
    return out
