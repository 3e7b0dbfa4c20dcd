"""Rows <-> core dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bridge.core.clock import utc
from bridge.core.models import (
    Conference,
    ConferenceStatus,
    ConferenceType,
    Direction,
    Event,
    FailureReason,
    LeaveReason,
    MediaItem,
    Participant,
    ParticipantStatus,
    PlayBeep,
    Recording,
    RecordingStatus,
    Reservation,
    ReservationStatus,
)
from bridge.core.options import (
    call_options_to_dict,
    dial_in_to_dict,
    parse_call_options,
    parse_dial_in,
    parse_media,
    parse_participant_options,
    participant_options_to_dict,
)


def _t(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _media(value: Any) -> MediaItem | None:
    return None if value is None else parse_media(value, "media")


def conference_from_row(r: Mapping[Any, Any]) -> Conference:
    return Conference(
        id=r["id"],
        account_id=r["account_id"],
        name=r["name"],
        alias=r["alias"],
        detail=r["detail"],
        type=ConferenceType(r["type"]),
        status=ConferenceStatus(r["status"]),
        play_beep=PlayBeep(r["play_beep"]),
        record=r["record"],
        max_participants=r["max_participants"],
        timeout=r["timeout"],
        wait_media=_media(r["wait_media"]),
        action_url=r["action_url"],
        status_callback_url=r["status_callback_url"],
        data=dict(r["data"] or {}),
        pre_actions=tuple(parse_media(m, "pre_actions") for m in r["pre_actions"] or ()),
        post_actions=tuple(parse_media(m, "post_actions") for m in r["post_actions"] or ()),
        dial_in=parse_dial_in(r["dial_in"]),
        reservation_id=r["reservation_id"],
        revision=r["revision"],
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
        started_at=_t(r["started_at"]),
        ended_at=_t(r["ended_at"]),
        end_reason=r["end_reason"],
        participant_count=r["participant_count"],
        peak_participants=r["peak_participants"],
        recording_id=r["recording_id"],
    )


def conference_to_row(c: Conference) -> dict[str, Any]:
    return {
        "id": c.id,
        "account_id": c.account_id,
        "name": c.name,
        "alias": c.alias,
        "detail": c.detail,
        "type": c.type.value,
        "status": c.status.value,
        "play_beep": c.play_beep.value,
        "record": c.record,
        "max_participants": c.max_participants,
        "timeout": c.timeout,
        "wait_media": c.wait_media.to_dict() if c.wait_media else None,
        "action_url": c.action_url,
        "status_callback_url": c.status_callback_url,
        "data": c.data,
        "pre_actions": [m.to_dict() for m in c.pre_actions],
        "post_actions": [m.to_dict() for m in c.post_actions],
        "dial_in": dial_in_to_dict(c.dial_in) if c.dial_in else None,
        "access_code": c.dial_in.access_code if c.dial_in else None,
        "reservation_id": c.reservation_id,
        "revision": c.revision,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "started_at": c.started_at,
        "ended_at": c.ended_at,
        "end_reason": c.end_reason,
        "participant_count": c.participant_count,
        "peak_participants": c.peak_participants,
        "recording_id": c.recording_id,
    }


def participant_from_row(r: Mapping[Any, Any]) -> Participant:
    return Participant(
        id=r["id"],
        conference_id=r["conference_id"],
        account_id=r["account_id"],
        direction=Direction(r["direction"]),
        status=ParticipantStatus(r["status"]),
        options=parse_participant_options(r["options"]),
        call_options=parse_call_options(r["call_options"]) if r["call_options"] else None,
        from_=r["from_"],
        to=r["to"],
        name=r["name"],
        call_ref=r["call_ref"],
        moderator=r["moderator"],
        muted=r["muted"],
        deaf=r["deaf"],
        hold=r["hold"],
        talking=r["talking"],
        dtmf_enabled=r["dtmf_enabled"],
        answer_timeout=r["answer_timeout"],
        hold_media=_media(r["hold_media"]),
        revision=r["revision"],
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
        joined_at=_t(r["joined_at"]),
        left_at=_t(r["left_at"]),
        leave_reason=LeaveReason(r["leave_reason"]) if r["leave_reason"] else None,
        failure_reason=FailureReason(r["failure_reason"]) if r["failure_reason"] else None,
        recent_digits=r["recent_digits"],
    )


def participant_to_row(p: Participant) -> dict[str, Any]:
    return {
        "id": p.id,
        "conference_id": p.conference_id,
        "account_id": p.account_id,
        "direction": p.direction.value,
        "status": p.status.value,
        "options": participant_options_to_dict(p.options),
        "call_options": call_options_to_dict(p.call_options) if p.call_options else None,
        "from_": p.from_,
        "to": p.to,
        "name": p.name,
        "call_ref": p.call_ref,
        "moderator": p.moderator,
        "muted": p.muted,
        "deaf": p.deaf,
        "hold": p.hold,
        "talking": p.talking,
        "dtmf_enabled": p.dtmf_enabled,
        "answer_timeout": p.answer_timeout,
        "hold_media": p.hold_media.to_dict() if p.hold_media else None,
        "revision": p.revision,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "joined_at": p.joined_at,
        "left_at": p.left_at,
        "leave_reason": p.leave_reason.value if p.leave_reason else None,
        "failure_reason": p.failure_reason.value if p.failure_reason else None,
        "recent_digits": p.recent_digits,
    }


def reservation_from_row(r: Mapping[Any, Any]) -> Reservation:
    return Reservation(
        id=r["id"],
        account_id=r["account_id"],
        conference_id=r["conference_id"],
        conference_name=r["conference_name"],
        max_participants=r["max_participants"],
        start_time=utc(r["start_time"]),
        duration_minutes=r["duration_minutes"],
        divert=r["divert"],
        status=ReservationStatus(r["status"]),
        revision=r["revision"],
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
    )


def reservation_to_row(r: Reservation) -> dict[str, Any]:
    return {
        "id": r.id,
        "account_id": r.account_id,
        "conference_id": r.conference_id,
        "conference_name": r.conference_name,
        "max_participants": r.max_participants,
        "start_time": r.start_time,
        "duration_minutes": r.duration_minutes,
        "divert": r.divert,
        "status": r.status.value,
        "revision": r.revision,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    }


def recording_from_row(r: Mapping[Any, Any]) -> Recording:
    return Recording(
        id=r["id"],
        conference_id=r["conference_id"],
        account_id=r["account_id"],
        status=RecordingStatus(r["status"]),
        path=r["path"],
        format=r["format"],
        duration_seconds=r["duration_seconds"],
        size_bytes=r["size_bytes"],
        revision=r["revision"],
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
        ended_at=_t(r["ended_at"]),
    )


def recording_to_row(r: Recording) -> dict[str, Any]:
    return {
        "id": r.id,
        "conference_id": r.conference_id,
        "account_id": r.account_id,
        "status": r.status.value,
        "path": r.path,
        "format": r.format,
        "duration_seconds": r.duration_seconds,
        "size_bytes": r.size_bytes,
        "revision": r.revision,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "ended_at": r.ended_at,
    }


def event_from_row(r: Mapping[Any, Any]) -> Event:
    return Event(
        id=r["id"],
        type=r["type"],
        account_id=r["account_id"],
        conference_id=r["conference_id"],
        participant_id=r["participant_id"],
        sequence=r["sequence"],
        occurred_at=utc(r["occurred_at"]),
        data=dict(r["data"] or {}),
    )
