"""Event positions on PostgreSQL: one order of commits across every bridge process.

The event stream resumes from a position and tails the events table by position, so a
position must never become visible after a greater one. Each transaction that writes events
takes one advisory lock (held until it commits), then numbers its events after the greatest
stored position. A transaction numbered later therefore commits later, and positions are
dense: a gap in what a process has seen means another process's events, not a hole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import String, cast, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.store import tables as t
from bridge.store.db import Database

CHANNEL = "bridge_events"  # NOTIFY payload: the greatest position the transaction wrote
LOCK_KEY = 0x6272_6964_6765_0001  # pg_advisory_xact_lock key of event numbering


async def reserve(conn: AsyncConnection, count: int) -> int:
    """The first of `count` positions for this transaction's events; other processes are
    told (on commit) to read up to the last of them."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    # a new statement, so a new snapshot: it sees whatever the previous holder committed
    newest = func.coalesce(func.max(t.events.c.position), 0)
    notify = func.pg_notify(literal(CHANNEL), cast(newest + count, String))
    row = (await conn.execute(select(newest, notify))).one()
    return int(row[0]) + 1


async def listen(db: Database, callback: Callable[[Any, int, str, str], None]) -> Any:
    """A connection of its own (not the pool's) that LISTENs on the channel; the caller
    closes it."""
    conn = await asyncpg.connect("postgresql://" + db.url.split("://", 1)[1])
    try:
        await conn.add_listener(CHANNEL, callback)
    except BaseException:
        await conn.close()
        raise
    return conn
