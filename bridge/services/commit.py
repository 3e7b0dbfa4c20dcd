"""Group commit: everything decided while the previous transaction was being written goes
into the next one.

    submit(cs) ──► queue ──► [ writer task: take all queued, one transaction, commit ]
                                       │ ok: resolve each `committed` future, in order,
                                       │     then hand the queued deliveries on
                                       │ VersionConflict: fail the stale ones (StaleOwner),
                                       │     write the rest again at once
                                       └ other error: write each alone, so one bad change
                                             set fails alone

There is no timer: while a commit is in flight, new change sets wait for the next one, so the
window is exactly one commit long and an idle system commits each change at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.core.clock import Clock
from bridge.core.errors import Unavailable
from bridge.core.models import Event
from bridge.services.tasks import cancel
from bridge.store import changes, positions
from bridge.store import tables as t
from bridge.store.changes import ChangeSet, VersionConflict
from bridge.store.db import Database
from bridge.store.outbox import Queued

log = logging.getLogger(__name__)


class StaleOwner(Exception):
    """The in-memory copy the decision was made on is older than the store: decide again."""


class StoreFailed(Unavailable):
    """The transaction holding a change could not be committed: nothing of it was stored.
    The store's own error is the `__cause__` (logged, never shown)."""

    def __init__(self) -> None:
        super().__init__("store_unavailable", "the change could not be stored; nothing changed")


@dataclass(slots=True)
class Pending:
    changes: ChangeSet
    committed: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitter:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        on_committed: Callable[[list[Queued]], None] = lambda queued: None,
        on_events: Callable[[list[Event]], None] = lambda events: None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.on_committed = on_committed
        self.on_events = on_events  # every committed event, in commit order (the live stream)
        self._position: int | None = None  # the last event position given out
        self._queue: list[Pending] = []
        self._inflight: list[Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # for the benchmarks: how many transactions carried the changes
        self.committed = 0

    def submit(self, cs: ChangeSet) -> Pending:
        pending = Pending(cs)
        self._queue.append(pending)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="group-commit")
        return pending

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed (or failed)."""
        while True:
            waiting = [p.committed for p in (*self._inflight, *self._queue)]
            waiting = [f for f in waiting if not f.done()]
            if not waiting:
                return
            await asyncio.gather(*waiting, return_exceptions=True)

    async def stop(self) -> None:
        await self.flush()
        await cancel(self._task)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            self._inflight = batch
            try:
                await self._commit(batch)
            finally:
                self._inflight = []

    async def _commit(self, batch: list[Pending]) -> None:
        try:
            queued = await self._write(batch)
        except VersionConflict as exc:
            stale = [p for p in batch if p.changes.conference.id in exc.conference_ids]
            for p in stale:
                _fail(p, StaleOwner(str(exc)))
            rest = [p for p in batch if p not in stale]
            if rest:
                await self._commit(rest)
            return
        except Exception as exc:
            if len(batch) == 1:
                # the driver's message, not SQLAlchemy's (which repeats every parameter)
                cause = getattr(exc, "orig", None) or exc
                log.warning("commit failed: %s: %s", type(cause).__name__, cause)
                failed = StoreFailed()
                failed.__cause__ = exc
                _fail(batch[0], failed)
                return
            for p in batch:  # find the one that cannot be written; the others go through
                await self._commit([p])
            return
        self.batches += 1
        self.committed += len(batch)
        for p in batch:
            if not p.committed.done():
                p.committed.set_result(None)
        if queued:
            self.on_committed(queued)
        events = [e for p in batch for e in p.changes.events]
        if events:
            self.on_events(events)

    async def _write(self, batch: Sequence[Pending]) -> list[Queued]:
        async with self.db.begin() as conn:
            await self._number_events(conn, batch)
            return await changes.write_batch(
                conn, [p.changes for p in batch], self.clock.now(), holder=self.db.holder
            )

    async def _number_events(self, conn: AsyncConnection, batch: Sequence[Pending]) -> None:
        """Give each event its `position`: increasing in commit order, across conferences
        (the event stream's resume cursor). Microseconds of wall time, or the last one + 1
        when the clock has not moved on (or went back), after the newest stored. On
        PostgreSQL, where other processes commit too: dense, under a lock (store/positions.py)."""
        if not self.db.is_sqlite:
            count = sum(len(p.changes.events) for p in batch)
            if count:
                position = await positions.reserve(conn, count) - 1
                for p in batch:
                    numbered = []
                    for e in p.changes.events:
                        position += 1
                        numbered.append(dataclasses.replace(e, position=position))
                    p.changes.events = numbered
            return
        if self._position is None:
            newest = await conn.scalar(select(func.max(t.events.c.position)))
            self._position = int(newest or 0)
        for p in batch:
            numbered = []
            for e in p.changes.events:
                self._position = max(self._position + 1, int(time.time() * 1_000_000))
                numbered.append(dataclasses.replace(e, position=self._position))
            p.changes.events = numbered


def _fail(p: Pending, exc: BaseException) -> None:
    if not p.committed.done():
        p.committed.set_exception(exc)
        p.committed.exception()  # retrieved: a waiter that gave up logs nothing
