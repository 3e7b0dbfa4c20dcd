"""The webhook outbox: deliveries queued with their events, claimed in order per stream.

A stream is (destination URL, conference): only its oldest pending delivery may be sent,
so a receiver sees each conference's events in sequence order. A claim is a lease, so a
second bridge process on the same PostgreSQL never sends the same delivery concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from bridge.core.clock import utc
from bridge.store import tables as t

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


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


def _delivery(r: Any) -> Delivery:
    return Delivery(
        id=r["id"],
        event_id=r["event_id"],
        account_id=r["account_id"],
        conference_id=r["conference_id"],
        sequence=r["sequence"],
        subscription_id=r["subscription_id"],
        url=r["url"],
        attempts=r["attempts"],
        created_at=utc(r["created_at"]),
    )


async def claim_due(
    conn: AsyncConnection, now: datetime, *, lease: timedelta, limit: int
) -> list[Delivery]:
    """The heads of streams that are due and not leased; each claimed with a lease."""
    d = t.deliveries
    earlier = aliased(t.deliveries)
    blocked = exists().where(
        earlier.c.status == PENDING,
        earlier.c.url == d.c.url,
        earlier.c.conference_id == d.c.conference_id,
        earlier.c.sequence < d.c.sequence,
    )
    free = or_(d.c.lease_until.is_(None), d.c.lease_until < now)
    q = (
        select(d)
        .where(d.c.status == PENDING, d.c.next_attempt_at <= now, free, ~blocked)
        .order_by(d.c.next_attempt_at, d.c.sequence)
        .limit(limit)
    )
    rows = list((await conn.execute(q)).mappings())
    claimed: list[Delivery] = []
    for row in rows:
        result = await conn.execute(
            update(d)
            .where(and_(d.c.id == row["id"], d.c.status == PENDING, free))
            .values(lease_until=now + lease)
        )
        if result.rowcount:
            claimed.append(_delivery(row))
    return claimed


async def next_due_at(conn: AsyncConnection) -> datetime | None:
    q = select(t.deliveries.c.next_attempt_at).where(t.deliveries.c.status == PENDING)
    row = (await conn.execute(q.order_by(t.deliveries.c.next_attempt_at).limit(1))).first()
    return None if row is None else utc(row[0])


async def mark_delivered(
    conn: AsyncConnection, delivery_id: str, now: datetime, status: int
) -> None:
    await conn.execute(
        update(t.deliveries)
        .where(t.deliveries.c.id == delivery_id)
        .values(
            status=DELIVERED,
            attempts=t.deliveries.c.attempts + 1,
            last_status=status,
            last_error=None,
            delivered_at=now,
            updated_at=now,
            lease_until=None,
        )
    )


async def mark_failed(
    conn: AsyncConnection,
    delivery_id: str,
    now: datetime,
    *,
    status: int | None,
    error: str,
    retry_at: datetime | None,
) -> None:
    """Record a failed attempt: retry at `retry_at`, or dead-letter when it is None."""
    values: dict[str, Any] = {
        "attempts": t.deliveries.c.attempts + 1,
        "last_status": status,
        "last_error": error[:500],
        "updated_at": now,
        "lease_until": None,
    }
    if retry_at is None:
        values["status"] = DEAD
    else:
        values["next_attempt_at"] = retry_at
    await conn.execute(update(t.deliveries).where(t.deliveries.c.id == delivery_id).values(values))


async def retry_dead(
    conn: AsyncConnection, delivery_id: str, account_id: str, now: datetime
) -> bool:
    result = await conn.execute(
        update(t.deliveries)
        .where(
            t.deliveries.c.id == delivery_id,
            t.deliveries.c.account_id == account_id,
            t.deliveries.c.status == DEAD,
        )
        .values(status=PENDING, next_attempt_at=now, updated_at=now)
    )
    return bool(result.rowcount)


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
