"""The webhook outbox: one row per (event, destination), the durable side of the dispatcher.

A stream is (destination URL, conference); a receiver must see a stream in sequence order.
A row is held by at most one process at a time through its lease (`lease_until`): the group
commit writes new rows already leased to its own process (`STREAM_LEASE`) and hands them to
that process's dispatcher in memory (`Queued`); rows whose lease is free or expired (left by
a crashed or stopped process, or a dead letter re-queued through the API) are claimed here.
The dispatcher writes what happened to each attempt in batches (`write_marks`) and renews
the leases of what it holds (`renew`).

A lease names its holder (`lease_holder`, the instance's name: store/instance.py). A name is
held by one live process at a time, so a process that starts under a name knows the leases
under it are a dead process's and gives them back at once (`release_stale`): its restart
sends what the crash left in flight without waiting for the leases to run out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.core.clock import utc
from bridge.core.models import Event
from bridge.store import convert
from bridge.store import tables as t

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
# a delivery written by the group commit is leased to its process from birth
STREAM_LEASE = timedelta(seconds=60)
_CHUNK = 500  # ids per IN (...) list: well inside SQLite's and asyncpg's parameter limits


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    event_id: str
    account_id: str
    conference_id: str
    sequence: int
    subscription_id: str | None
    url: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None  # None: due now
    lease_until: datetime | None = None  # as read or written by whoever made this value


@dataclass(frozen=True, slots=True)
class Queued:
    """A committed delivery with its event, handed to the dispatcher in memory."""

    delivery: Delivery
    event: Event


@dataclass(frozen=True, slots=True)
class Mark:
    """The outcome of one or more attempts at a delivery, to be written in a batch."""

    delivery_id: str
    status: str  # DELIVERED, DEAD, or PENDING (to be retried at retry_at)
    at: datetime
    attempts: int = 1  # attempts made since the last mark written for this delivery
    last_status: int | None = None
    last_error: str | None = None
    retry_at: datetime | None = None  # PENDING only
    lease_until: datetime | None = None  # PENDING only: kept ahead of retry_at

    @property
    def final(self) -> bool:
        return self.status != PENDING

    def after(self, earlier: Mark) -> Mark:
        """This mark written over an earlier one that was not written yet."""
        return Mark(
            self.delivery_id,
            self.status,
            self.at,
            earlier.attempts + self.attempts,
            self.last_status,
            self.last_error,
            self.retry_at,
            self.lease_until,
        )


@dataclass(frozen=True, slots=True)
class Earlier:
    """A pending row that comes before some sequence in its stream (see `earlier_pending`)."""

    id: str
    sequence: int
    lease_until: datetime | None


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _free(now: datetime) -> Any:
    d = t.deliveries
    return or_(d.c.lease_until.is_(None), d.c.lease_until < now)


_EVENT_COLUMNS = (
    t.events.c.id.label("ev_id"),
    t.events.c.type.label("ev_type"),
    t.events.c.account_id.label("ev_account_id"),
    t.events.c.conference_id.label("ev_conference_id"),
    t.events.c.participant_id.label("ev_participant_id"),
    t.events.c.sequence.label("ev_sequence"),
    t.events.c.occurred_at.label("ev_occurred_at"),
    t.events.c.data.label("ev_data"),
)


def _queued(r: Any) -> Queued:
    delivery = Delivery(
        id=r["id"],
        event_id=r["event_id"],
        account_id=r["account_id"],
        conference_id=r["conference_id"],
        sequence=r["sequence"],
        subscription_id=r["subscription_id"],
        url=r["url"],
        attempts=r["attempts"],
        created_at=utc(r["created_at"]),
        next_attempt_at=utc(r["next_attempt_at"]),
        lease_until=None if r["lease_until"] is None else utc(r["lease_until"]),
    )
    event = convert.event_from_row({k.removeprefix("ev_"): r[k] for k in r if k.startswith("ev_")})
    return Queued(delivery, event)


async def _load(conn: AsyncConnection, ids: Sequence[str]) -> list[Queued]:
    """The rows with these ids and their events, in stream order."""
    d = t.deliveries
    out: list[Queued] = []
    for chunk in _chunks(ids):
        q = (
            select(d, *_EVENT_COLUMNS)
            .join(t.events, t.events.c.id == d.c.event_id)
            .where(d.c.id.in_(chunk))
        )
        out.extend(_queued(r) for r in (await conn.execute(q)).mappings())
    out.sort(key=lambda q: (q.delivery.url, q.delivery.conference_id, q.delivery.sequence))
    return out


async def claim_ids(
    conn: AsyncConnection,
    ids: Sequence[str],
    now: datetime,
    *,
    lease: timedelta,
    holder: str | None = None,
) -> list[Queued]:
    """Lease to `holder` those of `ids` that are pending and not leased; returns them with
    their events. The conditional UPDATE is the claim: of two processes racing for a row,
    one gets it."""
    d = t.deliveries
    until = now + lease
    claimed: list[str] = []
    for chunk in _chunks(ids):
        result = await conn.execute(
            update(d)
            .where(d.c.id.in_(chunk), d.c.status == PENDING, _free(now))
            .values(lease_until=until, lease_holder=holder)
            .returning(d.c.id)
        )
        claimed.extend(r[0] for r in result)
    return await _load(conn, claimed)


async def claimable(conn: AsyncConnection, now: datetime, *, limit: int) -> list[str]:
    """Up to `limit` pending rows nobody holds, oldest due first (due or not: a row waiting
    for its retry is held too, so that later rows of its stream wait behind it)."""
    d = t.deliveries
    q = (
        select(d.c.id)
        .where(d.c.status == PENDING, _free(now))
        .order_by(d.c.next_attempt_at, d.c.sequence)
        .limit(limit)
    )
    return [r[0] for r in await conn.execute(q)]


async def earlier_pending(
    conn: AsyncConnection,
    url: str,
    conference_id: str,
    below: int,
    *,
    above: int | None = None,
    limit: int = 500,
) -> list[Earlier]:
    """Pending rows of the stream with above <= sequence < below, lowest first."""
    d = t.deliveries
    q = select(d.c.id, d.c.sequence, d.c.lease_until).where(
        d.c.url == url,
        d.c.conference_id == conference_id,
        d.c.status == PENDING,
        d.c.sequence < below,
    )
    if above is not None:
        q = q.where(d.c.sequence >= above)
    rows = await conn.execute(q.order_by(d.c.sequence).limit(limit))
    return [Earlier(r[0], r[1], None if r[2] is None else utc(r[2])) for r in rows]


async def renew(
    conn: AsyncConnection, ids: Sequence[str], until: datetime, *, holder: str | None = None
) -> None:
    """Extend the leases of rows this process holds (never shortens one)."""
    d = t.deliveries
    for chunk in _chunks(ids):
        await conn.execute(
            update(d)
            .where(
                d.c.id.in_(chunk),
                d.c.status == PENDING,
                or_(d.c.lease_until.is_(None), d.c.lease_until < until),
            )
            .values(lease_until=until, lease_holder=holder)
        )


async def release(conn: AsyncConnection, ids: Sequence[str]) -> None:
    """Give rows back (a stopping process): another process may claim them at once."""
    d = t.deliveries
    for chunk in _chunks(ids):
        await conn.execute(
            update(d)
            .where(d.c.id.in_(chunk), d.c.status == PENDING)
            .values(lease_until=None, lease_holder=None)
        )


async def release_stale(conn: AsyncConnection, holder: str | None) -> int:
    """Give back the leases a dead process left: those under `holder` (a name the caller
    holds, so no live process sends under it), or with None every lease (the caller is the
    only process using the database). Returns how many rows were released."""
    d = t.deliveries
    q = update(d).where(d.c.status == PENDING, d.c.lease_until.is_not(None))
    if holder is not None:
        q = q.where(d.c.lease_holder == holder)
    result = await conn.execute(q.values(lease_until=None, lease_holder=None))
    return int(result.rowcount or 0)


_B = bindparam  # the executemany statements below bind one row of values per mark
_DELIVERED = (
    update(t.deliveries)
    .where(t.deliveries.c.id == _B("b_id"), t.deliveries.c.status == PENDING)
    .values(
        status=DELIVERED,
        attempts=t.deliveries.c.attempts + _B("b_attempts"),
        last_status=_B("b_last_status"),
        last_error=None,
        delivered_at=_B("b_at"),
        updated_at=_B("b_at"),
        lease_until=None,
        lease_holder=None,
    )
)
_DEAD = (
    update(t.deliveries)
    .where(t.deliveries.c.id == _B("b_id"), t.deliveries.c.status == PENDING)
    .values(
        status=DEAD,
        attempts=t.deliveries.c.attempts + _B("b_attempts"),
        last_status=_B("b_last_status"),
        last_error=_B("b_last_error"),
        updated_at=_B("b_at"),
        lease_until=None,
        lease_holder=None,
    )
)
_RETRY = (
    update(t.deliveries)
    .where(t.deliveries.c.id == _B("b_id"), t.deliveries.c.status == PENDING)
    .values(
        attempts=t.deliveries.c.attempts + _B("b_attempts"),
        last_status=_B("b_last_status"),
        last_error=_B("b_last_error"),
        updated_at=_B("b_at"),
        next_attempt_at=_B("b_retry_at"),
        lease_until=_B("b_lease_until"),
    )
)


async def write_marks(conn: AsyncConnection, marks: Sequence[Mark]) -> None:
    """Write a batch of outcomes: one executemany statement per kind of outcome."""
    delivered, dead, retry = [], [], []
    for m in marks:
        row: dict[str, Any] = {
            "b_id": m.delivery_id,
            "b_attempts": m.attempts,
            "b_last_status": m.last_status,
            "b_at": m.at,
        }
        if m.status == DELIVERED:
            delivered.append(row)
            continue
        row["b_last_error"] = None if m.last_error is None else m.last_error[:500]
        if m.status == DEAD:
            dead.append(row)
        else:
            retry.append({**row, "b_retry_at": m.retry_at, "b_lease_until": m.lease_until})
    for stmt, rows in ((_DELIVERED, delivered), (_DEAD, dead), (_RETRY, retry)):
        if rows:
            await conn.execute(stmt, rows)


async def retry_dead(
    conn: AsyncConnection, delivery_id: str, account_id: str, now: datetime
) -> bool:
    """Re-queue a dead letter: pending, due now, leased by nobody (a dispatcher claims it)."""
    result = await conn.execute(
        update(t.deliveries)
        .where(
            t.deliveries.c.id == delivery_id,
            t.deliveries.c.account_id == account_id,
            t.deliveries.c.status == DEAD,
        )
        .values(
            status=PENDING, next_attempt_at=now, updated_at=now, lease_until=None, lease_holder=None
        )
    )
    return bool(result.rowcount)


async def delivery_exists(conn: AsyncConnection, delivery_id: str, account_id: str) -> bool:
    q = select(t.deliveries.c.id).where(
        t.deliveries.c.id == delivery_id, t.deliveries.c.account_id == account_id
    )
    return (await conn.execute(q)).first() is not None


async def list_deliveries(
    conn: AsyncConnection,
    account_id: str,
    *,
    status: str | None = None,
    conference_id: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    d = t.deliveries
    q = select(d).where(d.c.account_id == account_id)
    if status is not None:
        q = q.where(d.c.status == status)
    if conference_id is not None:
        q = q.where(d.c.conference_id == conference_id)
    if after is not None:
        q = q.where(d.c.id > after)
    q = q.order_by(d.c.id).limit(limit)
    return [dict(r) for r in (await conn.execute(q)).mappings()]


async def count_by_status(conn: AsyncConnection) -> dict[str, int]:
    q = select(t.deliveries.c.status, func.count()).group_by(t.deliveries.c.status)
    return {status: n for status, n in (await conn.execute(q)).all()}
