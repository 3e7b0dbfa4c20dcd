"""Turns what an engine observed into state changes, events and follow-up commands.

Observations are queued and decided one at a time by one task, in the order the engine
reported them, on the owner of their conference (services/live.py); the task does not wait
for the commit, so the group commit carries many observations at once. An engine never waits
on a state change (and can never deadlock on one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any

from sqlalchemy import select

from bridge.core import conference as csm
from bridge.core import engine as cmd
from bridge.core import engine as obs
from bridge.core import participant as psm
from bridge.core.dtmf import DigitAction, decide_digit, remember_digit
from bridge.core.events import EventType
from bridge.core.models import (
    LIVE_CONFERENCE,
    EventDraft,
    LeaveReason,
    Participant,
    ParticipantStatus,
    RecordingStatus,
)
from bridge.pbx.observations import ObservationQueue
from bridge.services.commit import StaleOwner
from bridge.services.context import Services, Unit
from bridge.services.live import decide
from bridge.services.tasks import cancel
from bridge.store import repos
from bridge.store import tables as t

log = logging.getLogger(__name__)


class Observer:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.queue = ObservationQueue()  # the engine reports into it (backend.start)
        self._task: asyncio.Task[None] | None = None
        self._committing: set[asyncio.Future[None]] = set()  # decided, commit not yet done
        self.applied = 0

    async def __call__(self, observation: obs.Observation) -> None:
        """Report as an engine would (tests, benchmarks)."""
        self.queue.report(observation)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="observer")

    async def stop(self) -> None:
        await cancel(self._task)

    async def drain(self) -> None:
        """Wait until everything reported so far has been applied and committed (tests,
        shutdown)."""
        while True:
            await self.queue.drained()
            if not self._committing:
                return
            await asyncio.wait(list(self._committing))

    async def _run(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                await self.apply(item)
                self.applied += 1
                self.s.metrics.observations.labels(type(item).__name__).inc()
            except Exception:
                log.exception("could not apply %r", item)
            finally:
                self.queue.done()

    async def apply(self, o: obs.Observation) -> None:
        """Decide what `o` changes, on its conference's owner, without waiting for the
        commit: the next observation is decided while this one is written."""
        if isinstance(o, obs.Snapshot):
            await self._resync(o)
            return
        if isinstance(o, (obs.RecordingEnded, obs.AnnouncementFinished)):
            await self._decide(o, o.conference_id, lambda u: self._conference_level(u, o))
            return
        conference_id = await self._conference_of(o.participant_id)
        if conference_id is None:
            log.warning("observation for unknown participant %s", o.participant_id)
            return
        await self._decide(o, conference_id, lambda u: self._participant_level(u, o))

    async def _conference_of(self, participant_id: str) -> str | None:
        known = self.s.owners.conference_of(participant_id)
        if known is not None:
            return known
        async with self.s.db.read() as conn:
            p = await repos.get_participant(conn, participant_id)
        return None if p is None else p.conference_id

    async def _decide(
        self, o: obs.Observation, conference_id: str, work: Callable[[Unit], Awaitable[None]]
    ) -> None:
        done = await decide(self.s, conference_id, work)
        future = asyncio.ensure_future(done)
        self._committing.add(future)
        future.add_done_callback(lambda f: self._committed(f, o))

    def _committed(self, f: asyncio.Future[None], o: obs.Observation) -> None:
        self._committing.discard(f)
        if f.cancelled():
            return
        exc = f.exception()
        if isinstance(exc, StaleOwner):  # decided on a stale copy: decide again on a fresh one
            self.queue.report(o)
        elif exc is not None:
            log.error("could not commit %r: %s: %s", o, type(exc).__name__, exc)

    async def _participant_level(self, u: Unit, o: obs.Observation) -> None:
        assert not isinstance(o, (obs.Snapshot, obs.RecordingEnded, obs.AnnouncementFinished))
        p = u.participant(o.participant_id)
        if p is None:
            return
        if isinstance(o, obs.CallAnswered):
            u.event(EventDraft(EventType.PARTICIPANT_ANSWERED, p.id), p)
        elif isinstance(o, obs.MemberJoined):
            await self._joined(u, p, o)
        elif isinstance(o, obs.MemberLeft):
            await self._left(u, p, o.reason)
        elif isinstance(o, obs.CallFailed):
            moved = psm.failed(p, o.reason, u.now)
            if moved is not None:
                u.set_participant(*moved)
                await u.apply(
                    csm.participant_left(
                        u.conference, p, LeaveReason.FAILED, u.now, was_joined=False
                    )
                )
        elif isinstance(o, obs.TalkingChanged):
            if p.status == ParticipantStatus.JOINED:
                moved = psm.set_flags(p, u.now, talking=o.talking)
                if moved is not None:
                    u.set_participant(*moved)
        elif isinstance(o, obs.MuteChanged):
            moved = psm.set_flags(p, u.now, muted=o.muted)
            if moved is not None:
                u.set_participant(*moved)
        elif isinstance(o, obs.FlagsChanged):
            said = {"muted": o.muted, "deaf": o.deaf, "hold": o.hold}
            flags = {k: v for k, v in said.items() if v is not None}
            if p.status == ParticipantStatus.JOINED and flags:
                moved = psm.set_flags(p, u.now, **flags)
                if moved is not None:
                    u.set_participant(*moved)
        elif isinstance(o, obs.DigitPressed):
            await self._digit(u, p, o.digit)

    async def _joined(self, u: Unit, p: Participant, o: obs.MemberJoined) -> None:
        moved = psm.joined(p, u.now)
        if moved is None:
            return
        new, draft = moved
        if o.call_ref and new.call_ref != o.call_ref:
            new = replace(new, call_ref=o.call_ref)
        u.set_participant(new, draft)
        await u.apply(csm.participant_joined(u.conference, new, u.now))

    async def _left(self, u: Unit, p: Participant, reason: LeaveReason | None) -> None:
        was_joined = p.status in (ParticipantStatus.JOINED, ParticipantStatus.LEAVING) and (
            p.joined_at is not None
        )
        moved = psm.left(p, reason or p.leave_reason or LeaveReason.HANGUP, u.now)
        if moved is None:
            return
        new, draft = moved
        if p.talking:  # engines may not report a final talk-off; synthesise it
            u.event(EventDraft(EventType.PARTICIPANT_TALKING, p.id, {"talking": False}), new)
        u.set_participant(new, draft)
        final_reason = new.leave_reason or LeaveReason.FAILED
        await u.apply(
            csm.participant_left(u.conference, new, final_reason, u.now, was_joined=was_joined)
        )

    async def _digit(self, u: Unit, p: Participant, digit: str) -> None:
        action = decide_digit(p, digit)
        recent = (
            "" if action == DigitAction.CALL_CONTROL else remember_digit(p.recent_digits, digit)
        )
        p = replace(p, recent_digits=recent)
        u.set_participant(p)
        u.event(
            EventDraft(EventType.PARTICIPANT_DIGIT, p.id, {"digit": digit, "action": action.value}),
            p,
        )
        conf = u.conference
        if action in (DigitAction.MUTE, DigitAction.UNMUTE):
            moved = psm.set_flags(p, u.now, muted=action == DigitAction.MUTE)
            if moved is not None:
                u.set_participant(*moved)
                u.commands.append(cmd.SetMute(conf, moved[0], moved[0].muted))
        elif action == DigitAction.EXIT:
            moved = psm.leaving(p, LeaveReason.EXIT_DIGIT, u.now)
            if moved is not None:
                u.set_participant(*moved)
                u.commands.append(cmd.Kick(conf, moved[0], LeaveReason.EXIT_DIGIT))
        elif action == DigitAction.CALL_CONTROL:
            seq = p.options.call_control_sequence
            u.event(EventDraft(EventType.PARTICIPANT_CALL_CONTROL, p.id, {"sequence": seq}), p)

    async def _conference_level(
        self, u: Unit, o: obs.RecordingEnded | obs.AnnouncementFinished
    ) -> None:
        if isinstance(o, obs.AnnouncementFinished):
            data: dict[str, Any] = {"announcement_id": o.announcement_id}
            if o.failed:
                data["failed"] = True
            u.event(EventDraft(EventType.ANNOUNCEMENT_FINISHED, data=data))
            return
        rec = u.recording(o.recording_id)
        if rec is None:
            return
        status = RecordingStatus.FAILED if o.failed else RecordingStatus.STOPPED
        rec = replace(
            rec,
            status=status,
            size_bytes=o.size_bytes,
            duration_seconds=o.duration_seconds or rec.duration_seconds,
            ended_at=rec.ended_at or u.now,
            updated_at=u.now,
            revision=rec.revision + 1,
        )
        u.set_recording(rec)
        kind = EventType.RECORDING_FAILED if o.failed else EventType.RECORDING_COMPLETED
        u.event(EventDraft(kind, data={"recording_id": rec.id, "size_bytes": rec.size_bytes}))

    async def _still_there(self, u: Unit, pid: str) -> None:
        """The engine lists `pid` in its conference."""
        p = u.participant(pid)
        if p is None:
            return
        if p.status == ParticipantStatus.LEAVING:  # never joined again: the call must go
            u.commands.append(cmd.Kick(u.conference, p, p.leave_reason or LeaveReason.KICKED))
            return
        if p.status == ParticipantStatus.JOINED and u.conference.status not in LIVE_CONFERENCE:
            # joined as the conference ended (core/conference.py): the engine must drop it
            u.commands.append(cmd.Kick(u.conference, p, LeaveReason.CONFERENCE_ENDED))
            return
        await self._participant_level(u, obs.MemberJoined(pid))

    async def _resync(self, snap: obs.Snapshot) -> None:
        """Converge on the engine's truth: whoever we think is present but the engine does
        not list has left (hangup); whoever it lists as present but we had as joining has
        joined. Conferences absent from the snapshot are taken to have nobody.

        A leave we accepted is ours, not the engine's: a participant the engine still lists
        whose leave the API answered (an eject, an exit digit, lost in a cut) stays leaving
        and is kicked again; only the engine's word that it is gone makes it left."""
        async with self.s.db.read() as conn:
            q = select(t.participants.c.id, t.participants.c.conference_id).where(
                t.participants.c.status.in_(["joining", "joined", "leaving"])
            )
            ours = {r[0]: r[1] for r in await conn.execute(q)}
        present = set().union(*snap.present.values()) if snap.present else set()
        for pid, conference_id in ours.items():
            if pid in present:
                # a stale copy re-reports the MemberJoined alone (a no-op while leaving):
                # the kick is then sent again by the next resync
                joined = obs.MemberJoined(pid)
                conference_id = self.s.owners.conference_of(pid) or conference_id
                await self._decide(joined, conference_id, partial(self._still_there, pid=pid))
                f = snap.flags.get(pid)
                if f is not None:  # the engine's flags win: a command lost in a cut is undone
                    await self.apply(obs.FlagsChanged(pid, f.muted, f.deaf, f.hold))
                continue

            async def gone(u: Unit, pid: str = pid) -> None:
                p = u.participant(pid)
                if p is not None and p.status != ParticipantStatus.JOINING:
                    await self._left(u, p, LeaveReason.HANGUP)

            o = obs.MemberLeft(pid, LeaveReason.HANGUP)
            await self._decide(o, self.s.owners.conference_of(pid) or conference_id, gone)
