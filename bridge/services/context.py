"""What every use case shares, and the one place where a decision is written down.

`Unit.commit()` persists a conference decision, participant changes, their events and the
outbox entries in the caller's transaction; the engine commands are returned and sent only
after the commit (`Services.send`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.core import conference as csm
from bridge.core import engine as cmd
from bridge.core import participant as psm
from bridge.core import reservation as rsm
from bridge.core.callbacks import callback_urls
from bridge.core.clock import Clock
from bridge.core.ids import new_id
from bridge.core.models import (
    Conference,
    ConferenceStatus,
    Event,
    EventDraft,
    FailureReason,
    Participant,
    ParticipantStatus,
    Recording,
    RecordingStatus,
)
from bridge.core.netpolicy import DEFAULT_POLICY, OutboundPolicy
from bridge.metrics import Metrics
from bridge.pbx.backend import Backend, EngineError
from bridge.services.locks import KeyedLocks
from bridge.store import repos
from bridge.store.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limits:
    unreserved_max_participants: int = 40
    terminate_grace_seconds: float = 30.0


@dataclass
class Services:
    """The shared context of every use case (one per application)."""

    db: Database
    clock: Clock
    backend: Backend
    metrics: Metrics
    recordings_dir: Path
    media_dir: Path
    limits: Limits = field(default_factory=Limits)
    on_events: Callable[[list[Event]], None] = lambda events: None
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    outbound: OutboundPolicy = DEFAULT_POLICY  # where stored URLs may point (core/netpolicy)

    def now(self) -> datetime:
        return self.clock.now()

    async def send(self, commands: list[cmd.Command]) -> list[tuple[cmd.Command, Exception]]:
        """Send commands after the commit. Failures are logged and returned, never raised:
        the state is already true in the store, and the engine's observations will follow."""
        failed: list[tuple[cmd.Command, Exception]] = []
        for command in commands:
            kind = type(command).__name__
            try:
                await self.backend.execute(command)
                self.metrics.commands.labels(kind, "ok").inc()
            except EngineError as exc:
                log.warning("engine refused %s: %s", kind, exc)
                self.metrics.commands.labels(kind, "error").inc()
                failed.append((command, exc))
            except Exception as exc:
                log.exception("engine failed on %s", kind)
                self.metrics.commands.labels(kind, "error").inc()
                failed.append((command, exc))
        return failed


@dataclass
class Unit:
    """One transaction's worth of changes to one conference."""

    services: Services
    conn: AsyncConnection
    conference: Conference
    now: datetime
    events: list[tuple[EventDraft, Participant | None]] = field(default_factory=list)
    commands: list[cmd.Command] = field(default_factory=list)
    participants: dict[str, Participant] = field(default_factory=dict)
    _conference_changed: bool = False

    def event(self, draft: EventDraft, participant: Participant | None = None) -> None:
        self.events.append((draft, participant))

    def set_participant(self, p: Participant, draft: EventDraft | None = None) -> None:
        self.participants[p.id] = p
        if draft is not None:
            self.event(draft, p)

    def set_conference(self, c: Conference) -> None:
        self.conference = c
        self._conference_changed = True

    async def apply(self, decision: csm.Decision) -> None:
        """Take a conference decision: new state, its events and commands, and what follows
        (recording on start, everyone out on termination)."""
        if decision.conference is not self.conference:
            self.set_conference(decision.conference)
        for draft in decision.events:
            self.event(draft)
        if decision.start_recording:
            await self.start_recording()
        if decision.stop_recording:
            await self.stop_recording()
        if decision.end_reason is not None:
            await self._everyone_out(decision.end_reason)
        self.commands.extend(decision.commands)

    async def _everyone_out(self, end: csm.EndReason) -> None:
        reason = csm.leave_reason_for(end)
        for p in await repos.present_participants(self.conn, self.conference.id):
            p = self.participants.get(p.id, p)
            if p.status == ParticipantStatus.JOINING:
                moved = psm.failed(p, FailureReason.CANCELLED, self.now)
            elif self.conference.status == ConferenceStatus.TERMINATED:
                moved = psm.left(p, reason, self.now)  # the engine had nobody left
            else:
                moved = psm.leaving(p, reason, self.now)
            if moved is not None:
                self.set_participant(*moved)

    async def start_recording(self) -> Recording | None:
        conf = self.conference
        if conf.recording_id is not None:
            return None
        rec_id = new_id("recording")
        path = str(self.services.recordings_dir / f"{rec_id}.wav")
        rec = Recording(
            id=rec_id,
            conference_id=conf.id,
            account_id=conf.account_id,
            created_at=self.now,
            updated_at=self.now,
            path=path,
        )
        await repos.insert_recording(self.conn, rec)
        self.set_conference(replace(conf, recording_id=rec_id))
        self.event(EventDraft("recording.started", data={"recording_id": rec_id}))
        self.commands.append(cmd.StartRecording(self.conference, rec_id, path))
        return rec

    async def stop_recording(self) -> Recording | None:
        conf = self.conference
        if conf.recording_id is None:
            return None
        rec = await repos.get_recording(self.conn, conf.recording_id, conference_id=conf.id)
        self.set_conference(replace(conf, recording_id=None))
        if rec is None:
            return None
        duration = round((self.now - rec.created_at).total_seconds(), 1)
        rec = replace(
            rec,
            status=RecordingStatus.STOPPED,
            ended_at=self.now,
            updated_at=self.now,
            duration_seconds=duration,
            revision=rec.revision + 1,
        )
        await repos.update_recording(self.conn, rec)
        self.event(EventDraft("recording.stopped", data={"recording_id": rec.id}))
        self.commands.append(cmd.StopRecording(self.conference, rec.id))
        return rec

    async def commit(self) -> list[Event]:
        """Write everything in this unit's transaction. Returns the stored events."""
        conf = self.conference
        for p in self.participants.values():
            await repos.update_participant(self.conn, p)
        if self._conference_changed:
            await repos.update_conference(self.conn, conf)
            if conf.reservation_id is not None:
                await self._follow_reservation(conf)
        by_draft = {id(d): p for d, p in self.events}

        def extra(draft: EventDraft) -> list[str]:
            p = by_draft.get(id(draft))
            if p is None and draft.participant_id is not None:
                p = self.participants.get(draft.participant_id)
            return callback_urls(draft.type, conf, p)

        return await repos.append_events(
            self.conn, conf, [d for d, _ in self.events], self.now, extra
        )

    async def _follow_reservation(self, conf: Conference) -> None:
        assert conf.reservation_id is not None
        r = await repos.get_reservation(self.conn, conf.reservation_id)
        if r is None:
            return
        moved = rsm.follow_conference(r, conf.status, self.now)
        if moved is not r:
            await repos.update_reservation(self.conn, moved)
            self.event(
                EventDraft(
                    "reservation.status_changed",
                    data={
                        "reservation_token": r.id,
                        "from": r.status.value,
                        "to": moved.status.value,
                    },
                )
            )
