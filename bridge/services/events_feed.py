"""The live event feed: committed events fanned out in memory to stream subscribers.

The group commit hands every committed event, in commit order, to `Feed.publish` (its
`on_events` hook). Publishing never waits: each subscriber has a bounded buffer, and a
subscriber whose buffer is full is cut off (`overflowed`) rather than slowing the commit or
any other subscriber. The store is read only to catch a subscriber up after a reconnect
(`after`): events are ordered across conferences by their `position`, which the group
commit gives out increasing in commit order (services/commit.py; on PostgreSQL across every
process, store/positions.py, and services/events_tail.py feeds the other processes' events).

A cursor is `(position, event id)`: the id breaks a tie should two positions ever be equal
(two processes on one SQLite file, which give out wall-time microseconds). A subscriber
registers before it reads the store, so an event is either in what the read returns or in
the buffer (or both: `Subscriber.fresh` drops the repeat).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from sqlalchemy import and_, or_, select

from bridge.core.models import Event
from bridge.services.context import Services
from bridge.store import convert
from bridge.store import tables as t

Cursor = tuple[int, str]  # (position, event id)
START: Cursor = (0, "")

HEARTBEAT_SECONDS = 15.0
BUFFER_EVENTS = 1000  # events a subscriber may be behind before it is cut off
CATCH_UP_PAGE = 500


def cursor_of(e: Event) -> Cursor:
    return (e.position or 0, e.id)


@dataclass(frozen=True, slots=True)
class Filter:
    account_id: str
    conference_id: str | None = None
    types: frozenset[str] = frozenset()  # empty: every type; "participant.*" a family

    def matches(self, e: Event) -> bool:
        if e.account_id != self.account_id:
            return False
        if self.conference_id is not None and e.conference_id != self.conference_id:
            return False
        if not self.types:
            return True
        return e.type in self.types or e.type.split(".", 1)[0] + ".*" in self.types


@dataclass(eq=False)
class Subscriber:
    filter: Filter
    limit: int
    buffer: deque[Event] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    catching_up: bool = True  # while the store is read, an overflow means: read it again
    cut: asyncio.Event = field(default_factory=asyncio.Event)  # overflowed while live
    closing: bool = False  # the bridge is stopping
    last: Cursor = START  # what was handed out last (the client's Last-Event-ID)

    def offer(self, e: Event) -> None:
        if self.overflowed or not self.filter.matches(e):
            return
        if len(self.buffer) >= self.limit:
            self.buffer.clear()
            self.overflowed = True
            if not self.catching_up:
                self.cut.set()
        else:
            self.buffer.append(e)
        self.wake.set()

    def fresh(self, events: Iterable[Event]) -> list[Event]:
        """Events after the last handed out (a repeat between the catch-up read and the
        buffer is dropped), advancing the cursor."""
        out = []
        for e in events:
            c = cursor_of(e)
            if c > self.last:
                out.append(e)
                self.last = c
        return out

    def take(self) -> list[Event]:
        events = list(self.buffer)
        self.buffer.clear()
        self.wake.clear()
        return self.fresh(events)


class Feed:
    def __init__(
        self, buffer_events: int = BUFFER_EVENTS, heartbeat_seconds: float = HEARTBEAT_SECONDS
    ) -> None:
        self.buffer_events = buffer_events  # read at subscribe: tests make it small
        self.heartbeat_seconds = heartbeat_seconds
        self._by_account: dict[str, set[Subscriber]] = {}
        self.published = 0
        self.cut_off = 0

    def publish(self, events: list[Event]) -> None:
        """Committed events in commit order (the group commit's `on_events`)."""
        self.published += len(events)
        if not self._by_account:
            return
        for e in events:
            for sub in self._by_account.get(e.account_id, ()):
                was = sub.overflowed
                sub.offer(e)
                if sub.overflowed and not was and not sub.catching_up:
                    self.cut_off += 1

    def subscribe(self, flt: Filter, after: Cursor = START) -> Subscriber:
        sub = Subscriber(flt, self.buffer_events, last=after)
        self._by_account.setdefault(flt.account_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._by_account.get(sub.filter.account_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_account[sub.filter.account_id]

    def close(self) -> None:
        """The bridge is stopping: every subscriber ends its stream."""
        for subs in self._by_account.values():
            for sub in subs:
                sub.closing = True
                sub.wake.set()
                sub.cut.set()

    @property
    def subscribers(self) -> int:
        return sum(len(s) for s in self._by_account.values())


async def catch_up(s: Services, sub: Subscriber) -> tuple[list[Event], Cursor, bool]:
    """The next page of stored events after the subscriber's cursor: those its filter wants,
    the cursor of the last row read, and whether there may be more."""
    f = sub.filter
    pos, eid = sub.last
    ev = t.events.c
    q = select(t.events).where(
        ev.account_id == f.account_id,
        ev.position.is_not(None),
        or_(ev.position > pos, and_(ev.position == pos, ev.id > eid)),
    )
    if f.conference_id is not None:
        q = q.where(ev.conference_id == f.conference_id)
    q = q.order_by(ev.position, ev.id).limit(CATCH_UP_PAGE)
    async with s.db.read() as conn:
        rows = (await conn.execute(q)).mappings().all()
    events = [replace(convert.event_from_row(r), position=int(r["position"])) for r in rows]
    last = cursor_of(events[-1]) if events else sub.last
    return [e for e in events if f.matches(e)], last, len(rows) == CATCH_UP_PAGE


async def cursor_for_sequence(s: Services, conference_id: str, sequence: int) -> Cursor | None:
    """The cursor just after a conference's event `sequence` (for `after_sequence`)."""
    if sequence == 0:
        return START
    ev = t.events.c
    q = select(ev.position, ev.id).where(ev.conference_id == conference_id, ev.sequence == sequence)
    async with s.db.read() as conn:
        row = (await conn.execute(q)).first()
    if row is None or row.position is None:
        return None
    return (int(row.position), str(row.id))
