"""What every use case shares, and the one place where a decision is written down.

A `Unit` collects one decision on a live conference's in-memory state: participant and
conference changes, events, recordings, engine commands. `Unit.finish()` makes the change set
the group commit writes (services/commit.py); the engine commands are sent only after that
commit (`Services.send`, called by the owner in services/live.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.core import conference as csm
from bridge.core import engine as cmd
from bridge.core import participant as psm
from bridge.core import reservation as rsm
from bridge.core.callbacks import callback_urls
from bridge.core.clock import Clock
from bridge.core.events import EventType
from bridge.core.ids import new_id
from bridge.core.models import (
    PRESENT_PARTICIPANT,
    Conference,
    ConferenceStatus,
    Event,
    EventDraft,
    FailureReason,
    Participant,
    ParticipantStatus,
    Recording,
    RecordingStatus,
    Reservation,
)
from bridge.core.netpolicy import DEFAULT_POLICY, OutboundPolicy
from bridge.metrics import Metrics
from bridge.pbx.backend import Backend, EngineError
from bridge.services.keycache import KeyCache
from bridge.store.changes import ChangeSet
from bridge.store.db import Database

if TYPE_CHECKING:
    from bridge.services.live import LiveState, Owners

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
    keys: KeyCache = field(default_factory=KeyCache)  # verified API keys (keycache.py)
    # tells the webhook dispatcher to drop its cached signing secrets
    secrets_changed: Callable[[], None] = lambda: None
    # tells the dispatcher to look at the outbox now (a dead letter was re-queued)
    outbox_changed: Callable[[], None] = lambda: None
    # the live conferences (services/live.py), set by the composition root
    owners: Owners = field(init=False)
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


def add_event(cs: ChangeSet, draft: EventDraft, about: Participant | None, now: datetime) -> None:
    """Number an event after the change set's last one (or the owner's, `after`) and name the
    participant callback URLs it also goes to."""
    conf = cs.conference
    sequence = (cs.events[-1].sequence if cs.events else cs.after_sequence) + 1
    cs.events.append(
        Event(
            id=new_id("event"),
            type=draft.type,
            account_id=conf.account_id,
            conference_id=conf.id,
            participant_id=draft.participant_id,
            sequence=sequence,
            occurred_at=now,
            data=draft.data,
        )
    )
    cs.callback_urls.append(callback_urls(draft.type, conf, about))


@dataclass
class Unit:
    """One decision's worth of changes to one live conference, made on the owner's
    in-memory state (services/live.py) without touching the store. `finish()` turns it into
    the change set the group commit writes; nothing here is visible before that."""

    services: Services
    state: LiveState
    now: datetime
    conference: Conference = field(init=False)
    events: list[tuple[EventDraft, Participant | None]] = field(default_factory=list)
    commands: list[cmd.Command] = field(default_factory=list)
    participants: dict[str, Participant] = field(default_factory=dict)
    _new_participants: set[str] = field(default_factory=set)
    _recordings: dict[str, Recording] = field(default_factory=dict)
    _new_recordings: set[str] = field(default_factory=set)
    _reservation: Reservation | None = None
    _conference_changed: bool = False

    def __post_init__(self) -> None:
        self.conference = self.state.conference

    # --- reading (this unit's changes over the owner's state) ---------------------------

    def participant(self, participant_id: str) -> Participant | None:
        return self.participants.get(participant_id) or self.state.participants.get(participant_id)

    def all_participants(self) -> list[Participant]:
        merged = {**self.state.participants, **self.participants}
        return sorted(merged.values(), key=lambda p: p.id)

    def present(self) -> list[Participant]:
        return [p for p in self.all_participants() if p.status in PRESENT_PARTICIPANT]

    def count_active(self) -> int:
        n = self.state.active
        for p in self.participants.values():
            old = self.state.participants.get(p.id)
            n += p.active - (old is not None and old.active)
        return n

    @property
    def reservation(self) -> Reservation | None:
        return self._reservation or self.state.reservation

    def recording(self, recording_id: str) -> Recording | None:
        return self._recordings.get(recording_id) or self.state.recordings.get(recording_id)

    # --- deciding ------------------------------------------------------------------------

    def event(self, draft: EventDraft, participant: Participant | None = None) -> None:
        self.events.append((draft, participant))

    def add_participant(self, p: Participant, draft: EventDraft | None = None) -> None:
        self._new_participants.add(p.id)
        self.set_participant(p, draft)

    def set_participant(self, p: Participant, draft: EventDraft | None = None) -> None:
        self.participants[p.id] = p
        if draft is not None:
            self.event(draft, p)

    def set_conference(self, c: Conference) -> None:
        self.conference = c
        self._conference_changed = True

    def set_recording(self, rec: Recording, *, new: bool = False) -> None:
        if new:
            self._new_recordings.add(rec.id)
        self._recordings[rec.id] = rec

    def set_reservation(self, r: Reservation) -> None:
        self._reservation = r

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
            self._everyone_out(decision.end_reason)
        self.commands.extend(decision.commands)

    def _everyone_out(self, end: csm.EndReason) -> None:
        reason = csm.leave_reason_for(end)
        for p in self.present():
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
        self.set_recording(rec, new=True)
        self.set_conference(replace(conf, recording_id=rec_id))
        self.event(EventDraft(EventType.RECORDING_STARTED, data={"recording_id": rec_id}))
        self.commands.append(cmd.StartRecording(self.conference, rec_id, path))
        return rec

    async def stop_recording(self) -> Recording | None:
        conf = self.conference
        if conf.recording_id is None:
            return None
        rec = self.recording(conf.recording_id)
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
        self.set_recording(rec)
        self.event(EventDraft(EventType.RECORDING_STOPPED, data={"recording_id": rec.id}))
        self.commands.append(cmd.StopRecording(self.conference, rec.id))
        return rec

    def finish(self) -> ChangeSet | None:
        """This unit's change set, its events numbered after the owner's last sequence;
        None when nothing changed."""
        conf = self.conference
        if self._conference_changed and conf.reservation_id is not None:
            self._follow_reservation(conf)
        if not (self.events or self.participants or self._conference_changed or self._recordings):
            return None
        cs = ChangeSet(
            conference=conf,
            version=self.state.version,
            conference_changed=self._conference_changed,
            after_sequence=self.state.last_sequence,
        )
        for p in self.participants.values():
            (
                cs.participants_new if p.id in self._new_participants else cs.participants_changed
            ).append(p)
        for rec in self._recordings.values():
            (cs.recordings_new if rec.id in self._new_recordings else cs.recordings_changed).append(
                rec
            )
        if self._reservation is not None:
            cs.reservations_changed.append(self._reservation)
        for draft, about in self.events:
            if about is None and draft.participant_id is not None:
                about = self.participant(draft.participant_id)
            add_event(cs, draft, about, self.now)
        return cs

    def _follow_reservation(self, conf: Conference) -> None:
        r = self.reservation
        if r is None:
            return
        moved = rsm.follow_conference(r, conf.status, self.now)
        if moved is not r:
            self.set_reservation(moved)
            self.event(
                EventDraft(
                    EventType.RESERVATION_STATUS_CHANGED,
                    data={
                        "reservation_token": r.id,
                        "from": r.status.value,
                        "to": moved.status.value,
                    },
                )
            )
