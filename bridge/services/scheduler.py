"""Time-driven changes: reservations open and end, conference timeouts, stuck teardowns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import select

from bridge.core import conference as csm
from bridge.core import participant as psm
from bridge.core.errors import BridgeError
from bridge.core.models import ConferenceStatus, LeaveReason, ReservationStatus
from bridge.services.context import Services, Unit
from bridge.services.live import in_conference
from bridge.services.tasks import cancel
from bridge.store import convert, repos
from bridge.store import tables as t

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, services: Services, *, interval_seconds: float = 1.0) -> None:
        self.s = services
        self.interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        await cancel(self._task)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(self.interval)

    async def tick(self) -> int:
        """Apply every change that is due now; returns how many conferences changed."""
        now = self.s.now()
        changed = 0
        async with self.s.db.read() as conn:
            reservations = await repos.open_reservations(conn)
            timed = await repos.conferences_with_timeout(conn)
            rows = await conn.execute(
                select(t.conferences).where(
                    t.conferences.c.status == ConferenceStatus.TERMINATING.value
                )
            )
            stuck = [convert.conference_from_row(r) for r in rows.mappings()]
        for r in reservations:
            if r.status == ReservationStatus.RESERVED and r.start_time <= now < r.end_time:
                changed += await self._run_unit(r.conference_id, self._open)
            elif r.end_time <= now:
                changed += await self._run_unit(r.conference_id, self._end_reservation)
        for conf in timed:
            if csm.timed_out(conf, now):
                changed += await self._run_unit(conf.id, self._timeout)
        grace = timedelta(seconds=self.s.limits.terminate_grace_seconds)
        for conf in stuck:
            if now - conf.updated_at >= grace:
                changed += await self._run_unit(conf.id, self._force_end)
        return changed

    async def _run_unit(self, conference_id: str, work: Callable[[Unit], Awaitable[None]]) -> int:
        try:
            await in_conference(self.s, conference_id, work)
        except BridgeError as exc:  # e.g. it changed under us: nothing to do
            log.info("scheduler skipped %s: %s", conference_id, exc.message)
            return 0
        return 1

    @staticmethod
    async def _open(u: Unit) -> None:
        if u.conference.status == ConferenceStatus.RESERVED:
            await u.apply(csm.open_reservation(u.conference, u.now))

    @staticmethod
    async def _end_reservation(u: Unit) -> None:
        if u.conference.status in (ConferenceStatus.TERMINATED, ConferenceStatus.TERMINATING):
            return
        await u.apply(
            csm.terminate(
                u.conference,
                csm.EndReason.RESERVATION_ENDED,
                u.now,
                present=u.conference.participant_count,
            )
        )

    @staticmethod
    async def _timeout(u: Unit) -> None:
        if csm.timed_out(u.conference, u.now):
            await u.apply(
                csm.terminate(
                    u.conference,
                    csm.EndReason.TIMEOUT,
                    u.now,
                    present=u.conference.participant_count,
                )
            )

    @staticmethod
    async def _force_end(u: Unit) -> None:
        """The engine never confirmed everyone left: take them as gone and finish."""
        if u.conference.status != ConferenceStatus.TERMINATING:
            return
        for p in u.present():
            moved = psm.left(p, p.leave_reason or LeaveReason.CONFERENCE_ENDED, u.now)
            if moved is not None:
                u.set_participant(*moved)
        await u.apply(csm.fire(u.conference, csm.Trigger.ALL_GONE, u.now, forced=True))
