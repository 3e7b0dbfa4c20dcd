"""Every bridge process's committed events into this process's feed, in position order
(PostgreSQL, where several processes share one store).

This process's own events come from its group commit in memory (`local`) and go to the feed
at once when they follow the last position published. Otherwise another process committed
in between: its events are read from the store first (positions are dense and become
visible in order, store/positions.py), then ours, so the feed's order is the store's. The
other processes' commits are noticed by LISTEN on the channel their transactions NOTIFY,
and, should that connection be lost, by a poll every `poll_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from typing import Any

from sqlalchemy import func, select

from bridge.core.models import Event
from bridge.services.events_feed import Feed
from bridge.services.tasks import cancel
from bridge.store import convert, positions
from bridge.store import tables as t
from bridge.store.db import Database

log = logging.getLogger(__name__)

PAGE = 500
POLL_SECONDS = 1.0


class Tail:
    def __init__(self, db: Database, feed: Feed, poll_seconds: float = POLL_SECONDS) -> None:
        self.db = db
        self.feed = feed
        self.poll_seconds = poll_seconds
        self.last = 0  # the greatest position handed to the feed
        self.reads = 0  # store reads of other processes' events (for the tests)
        self._pending: list[Event] = []  # ours, waiting for others' before them
        self._notified = 0  # the greatest position another transaction announced
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None  # asyncpg.Connection

    async def start(self) -> None:
        await self._listen()  # before the max: nothing committed after it goes unnoticed
        async with self.db.read() as conn:
            self.last = int(await conn.scalar(select(func.max(t.events.c.position))) or 0)
        self._task = asyncio.create_task(self._run(), name="event-tail")

    async def stop(self) -> None:
        await cancel(self._task)
        await self._unlisten()

    def local(self, events: list[Event]) -> None:
        """This process's committed events, in commit order (the group commit's hook)."""
        events = [e for e in events if (e.position or 0) > self.last]
        if not events:
            return  # the tail read them already
        if not self._pending and _dense(self.last, events):
            self.feed.publish(events)
            self.last = events[-1].position or 0
        else:
            self._pending.extend(events)
            self._wake.set()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.isdigit() and int(payload) > self.last:
            self._notified = max(self._notified, int(payload))
            self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()
            try:
                if self._listener is None or self._listener.is_closed():
                    await self._listen()
                await self._catch_up()
            except Exception as exc:  # the store is away: try again at the next poll
                log.warning("event tail: %s: %s", type(exc).__name__, exc)
                await self._unlisten()

    async def _catch_up(self) -> None:
        if not self.feed.subscribers and not self._pending:
            # nobody is listening: skip ahead without reading rows (a subscriber that
            # resumes reads the store itself)
            if self._notified > self.last:
                self.last = self._notified
                return
            async with self.db.read() as conn:
                newest = int(await conn.scalar(select(func.max(t.events.c.position))) or 0)
            if not self.feed.subscribers and not self._pending:
                self.last = max(self.last, newest)
                return
        while True:
            ev = t.events.c
            q = select(t.events).where(ev.position > self.last).order_by(ev.position).limit(PAGE)
            async with self.db.read() as conn:
                rows = (await conn.execute(q)).mappings().all()
            self.reads += 1
            events = [replace(convert.event_from_row(r), position=int(r["position"])) for r in rows]
            events = [e for e in events if (e.position or 0) > self.last]  # published meanwhile
            if events:
                self.feed.publish(events)
                self.last = events[-1].position or 0
            self._pending = [e for e in self._pending if (e.position or 0) > self.last]
            if len(rows) < PAGE:
                break
        if self._pending and _dense(self.last, self._pending):  # committed after the read
            self.feed.publish(self._pending)
            self.last = self._pending[-1].position or 0
            self._pending = []
        elif self._pending:
            self._wake.set()

    async def _listen(self) -> None:
        self._listener = await positions.listen(self.db, self._on_notify)

    async def _unlisten(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


def _dense(last: int, events: list[Event]) -> bool:
    expected = last
    for e in events:
        expected += 1
        if e.position != expected:
            return False
    return True
