"""Recordings and announcements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bridge.core import engine as cmd
from bridge.core import validate as v
from bridge.core.errors import Conflict, NotFound, invalid_field
from bridge.core.events import EventType
from bridge.core.ids import new_id
from bridge.core.models import (
    ConferenceStatus,
    EventDraft,
    ParticipantStatus,
    Recording,
    RecordingStatus,
)
from bridge.core.options import parse_media_list
from bridge.services.context import Services, Unit
from bridge.services.live import in_conference
from bridge.store import repos

SPEAKABLE = (ConferenceStatus.POPULATED, ConferenceStatus.IN_PROGRESS)


async def announce(
    s: Services, account_id: str, conference_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    v.reject_unknown(body, {"media", "participant_id"}, "announcement")
    media = parse_media_list(body.get("media"), "media")
    if not media:
        raise invalid_field("media", "is required")
    for item in media:
        problem = s.backend.media_problem(item)
        if problem is not None:
            raise invalid_field("media", problem, code="media_unavailable")
    target = body.get("participant_id")
    if target is not None and not isinstance(target, str):
        raise invalid_field("participant_id", "must be a participant id")

    async def work(u: Unit) -> dict[str, Any]:
        conf = u.conference
        if conf.status not in SPEAKABLE:
            raise Conflict(
                "conference_not_populated",
                f"say/play need participants; the conference is {conf.status.value}",
                status=conf.status.value,
            )
        participant = None
        if target is not None:
            participant = u.participant(target)
            if participant is None or participant.status != ParticipantStatus.JOINED:
                raise NotFound("participant_not_found", f"no joined participant {target!r}")
        ann_id = new_id("announcement")
        data = {"announcement_id": ann_id, "media": [m.to_dict() for m in media]}
        u.event(EventDraft(EventType.ANNOUNCEMENT_STARTED, target, data), participant)
        u.commands.append(cmd.Play(conf, media, participant, ann_id))
        return {"id": ann_id, "conference_id": conf.id, "participant_id": target, **data}

    return await in_conference(s, conference_id, work, account_id=account_id)


async def start_recording(s: Services, account_id: str, conference_id: str) -> Recording:
    async def work(u: Unit) -> Recording:
        if u.conference.status != ConferenceStatus.IN_PROGRESS:
            raise Conflict(
                "conference_not_started",
                "recording runs while the conference is in progress",
                status=u.conference.status.value,
            )
        rec = await u.start_recording()
        if rec is None:
            raise Conflict("already_recording", "the conference is already being recorded")
        return rec

    return await in_conference(s, conference_id, work, account_id=account_id)


# What a recording's status can be set to (PATCH); the OpenAPI enum reads it.
RECORDING_TARGETS = tuple(
    str(x) for x in (RecordingStatus.PAUSED, RecordingStatus.IN_PROGRESS, RecordingStatus.STOPPED)
)


async def change_recording(
    s: Services, account_id: str, conference_id: str, recording_id: str, body: Mapping[str, Any]
) -> Recording:
    v.reject_unknown(body, {"status"}, "recording")
    target = v.choice(body.get("status"), "status", RECORDING_TARGETS)

    async def work(u: Unit) -> Recording:
        rec = u.recording(recording_id)
        if rec is None:
            raise NotFound("recording_not_found", f"no recording {recording_id!r}")
        if rec.status in (RecordingStatus.STOPPED, RecordingStatus.FAILED):
            raise Conflict("recording_ended", "the recording has ended")
        if target == "stopped":
            stopped = await u.stop_recording()
            return stopped or rec
        paused = target == "paused"
        if (rec.status == RecordingStatus.PAUSED) == paused:
            return rec
        rec = replace(
            rec,
            status=RecordingStatus.PAUSED if paused else RecordingStatus.IN_PROGRESS,
            updated_at=u.now,
            revision=rec.revision + 1,
        )
        u.set_recording(rec)
        kind = EventType.RECORDING_PAUSED if paused else EventType.RECORDING_RESUMED
        u.event(EventDraft(kind, data={"recording_id": rec.id}))
        u.commands.append(cmd.PauseRecording(u.conference, rec.id, paused))
        return rec

    return await in_conference(s, conference_id, work, account_id=account_id)


async def list_recordings(s: Services, account_id: str, conference_id: str) -> list[Recording]:
    async with s.db.read() as conn:
        if await repos.get_conference(conn, conference_id, account_id=account_id) is None:
            raise NotFound("conference_not_found", f"no conference {conference_id!r}")
        return await repos.list_recordings(conn, conference_id)


async def get_recording(
    s: Services, account_id: str, conference_id: str, recording_id: str
) -> Recording:
    async with s.db.read() as conn:
        if await repos.get_conference(conn, conference_id, account_id=account_id) is None:
            raise NotFound("conference_not_found", f"no conference {conference_id!r}")
        rec = await repos.get_recording(conn, recording_id, conference_id=conference_id)
    if rec is None:
        raise NotFound("recording_not_found", f"no recording {recording_id!r}")
    return rec


def recording_file(s: Services, rec: Recording) -> Path:
    """The audio file, if the engine wrote it where we can read it."""
    path = Path(rec.path or "")
    if not rec.path or not path.is_file() or s.recordings_dir not in path.parents:
        raise NotFound("recording_audio_unavailable", "the recording's audio is not available here")
    return path
