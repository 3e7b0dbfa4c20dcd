"""Writing a group commit: many decided change sets in one transaction.

A `ChangeSet` is what one use case decided for one conference: rows to insert or update and
the events it emitted (already numbered). `write_batch` writes a whole batch in the caller's
transaction with one statement per table where it can (executemany), bumps each touched
conference's `version` under an optimistic check, and queues the webhook deliveries of every
event in the same transaction, so a change, its events and its deliveries land together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.core.ids import new_id
from bridge.core.models import Conference, Event, Participant, Recording, Reservation
from bridge.store import convert
from bridge.store import tables as t
from bridge.store.outbox import PENDING, STREAM_LEASE, Delivery, Queued


@dataclass(slots=True)
class ChangeSet:
    """One decision's rows. `version` is the conference's version the decision was made on
    (None for a conference this change set creates)."""

    conference: Conference
    version: int | None
    conference_changed: bool = False
    after_sequence: int = 0  # the conference's last event sequence before this change set
    participants_new: list[Participant] = field(default_factory=list)
    participants_changed: list[Participant] = field(default_factory=list)
    recordings_new: list[Recording] = field(default_factory=list)
    recordings_changed: list[Recording] = field(default_factory=list)
    reservations_new: list[Reservation] = field(default_factory=list)
    reservations_changed: list[Reservation] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    callback_urls: list[list[str]] = field(default_factory=list)  # per event, beside events

    @property
    def creates(self) -> bool:
        return self.version is None


class VersionConflict(Exception):
    """Another process committed to these conferences since our copies were loaded."""

    def __init__(self, conference_ids: set[str]) -> None:
        super().__init__(f"stale copies of {sorted(conference_ids)}")
        self.conference_ids = conference_ids


def _by_id_update(table: Any, rows: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """An executemany UPDATE ... WHERE id = :b_id over full rows."""
    cols = [k for k in rows[0] if k != "id"]
    stmt = (
        update(table).where(table.c.id == bindparam("b_id")).values({c: bindparam(c) for c in cols})
    )
    return stmt, [{**{c: r[c] for c in cols}, "b_id": r["id"]} for r in rows]


async def _update_rows(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        stmt, params = _by_id_update(table, rows)
        await conn.execute(stmt, params)


async def _insert_rows(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(table), rows)


def _last(items: Iterable[Any]) -> list[Any]:
    """The newest version of each object (by id), in first-seen order."""
    newest: dict[str, Any] = {}
    for item in items:
        newest[item.id] = item
    return list(newest.values())


async def write_batch(
    conn: AsyncConnection,
    batch: Sequence[ChangeSet],
    now: datetime,
    *,
    holder: str | None = None,
) -> list[Queued]:
    """Write every change set of `batch` (in order) in the caller's transaction; returns the
    deliveries it queued (leased to `holder`), in commit order. Raises VersionConflict (the
    caller rolls back) when a conference was changed by another process since its change
    set was decided."""
    # per conference: its newest row, the version the first change set was decided on, the
    # version the last one makes, and whether the row itself changed
    conferences: dict[str, tuple[Conference, int | None, int, bool]] = {}
    for cs in batch:
        cid = cs.conference.id
        first = conferences.get(cid)
        base = cs.version if first is None else first[1]
        changed = cs.conference_changed or (first is not None and first[3])
        made = 0 if cs.version is None else cs.version + 1
        conferences[cid] = (cs.conference, base, made, changed)

    created = [c for c, base, _, _ in conferences.values() if base is None]
    await _insert_rows(conn, t.conferences, [convert.conference_to_row(c) for c in created])
    stale: set[str] = set()
    for conf, base, made, changed in conferences.values():
        if base is None:
            continue
        values: dict[str, Any] = {"version": made}
        if changed:
            values.update(convert.conference_to_row(conf))
        result = await conn.execute(
            update(t.conferences)
            .where(t.conferences.c.id == conf.id, t.conferences.c.version == base)
            .values(values)
        )
        if not result.rowcount:
            stale.add(conf.id)
    if stale:
        raise VersionConflict(stale)

    await _insert_rows(
        conn,
        t.reservations,
        [convert.reservation_to_row(r) for cs in batch for r in cs.reservations_new],
    )
    new_ids = {p.id for cs in batch for p in cs.participants_new}
    participants = _last(
        p for cs in batch for p in (*cs.participants_new, *cs.participants_changed)
    )
    await _insert_rows(
        conn,
        t.participants,
        [convert.participant_to_row(p) for p in participants if p.id in new_ids],
    )
    await _update_rows(
        conn,
        t.participants,
        [convert.participant_to_row(p) for p in participants if p.id not in new_ids],
    )
    new_recs = {r.id for cs in batch for r in cs.recordings_new}
    recordings = _last(r for cs in batch for r in (*cs.recordings_new, *cs.recordings_changed))
    await _insert_rows(
        conn, t.recordings, [convert.recording_to_row(r) for r in recordings if r.id in new_recs]
    )
    await _update_rows(
        conn,
        t.recordings,
        [convert.recording_to_row(r) for r in recordings if r.id not in new_recs],
    )
    new_res = {r.id for cs in batch for r in cs.reservations_new}
    await _update_rows(
        conn,
        t.reservations,
        [
            convert.reservation_to_row(r)
            for r in _last(r for cs in batch for r in cs.reservations_changed)
            if r.id not in new_res
        ],
    )
    return await _events_and_deliveries(conn, batch, now, holder)


async def _events_and_deliveries(
    conn: AsyncConnection, batch: Sequence[ChangeSet], now: datetime, holder: str | None
) -> list[Queued]:
    events = [e for cs in batch for e in cs.events]
    if not events:
        return []
    await conn.execute(insert(t.events), [event_row(e) for e in events])
    subs = await _subscriptions(conn, {cs.conference.account_id for cs in batch if cs.events})
    queued: list[Queued] = []
    for cs in batch:
        conf = cs.conference
        for ev, extra in zip(cs.events, cs.callback_urls, strict=True):
            destinations: dict[str, str | None] = {}
            if conf.status_callback_url:
                destinations[conf.status_callback_url] = None
            for sub_id, url, types in subs.get(conf.account_id, ()):
                if not types or ev.type in types or ev.type.split(".")[0] + ".*" in types:
                    destinations.setdefault(url, sub_id)
            for url in extra:
                destinations.setdefault(url, None)
            for url, subscription_id in destinations.items():
                queued.append(
                    Queued(
                        Delivery(
                            id=new_id("delivery"),
                            event_id=ev.id,
                            account_id=ev.account_id,
                            conference_id=ev.conference_id,
                            sequence=ev.sequence,
                            subscription_id=subscription_id,
                            url=url,
                            attempts=0,
                            created_at=now,
                        ),
                        ev,
                    )
                )
    if queued:
        lease = now + STREAM_LEASE  # held by this process's dispatcher from birth
        rows = [delivery_row(q, now, lease, holder) for q in queued]
        await conn.execute(insert(t.deliveries), rows)
    return queued


def event_row(e: Event) -> dict[str, Any]:
    """An event as the events table stores it."""
    return {
        "id": e.id,
        "account_id": e.account_id,
        "conference_id": e.conference_id,
        "participant_id": e.participant_id,
        "sequence": e.sequence,
        "type": e.type,
        "occurred_at": e.occurred_at,
        "data": e.data,
        "position": e.position,
    }


def delivery_row(
    q: Queued, now: datetime, lease_until: datetime | None, holder: str | None = None
) -> dict[str, Any]:
    """A new pending delivery as the outbox stores it, leased to `holder` until
    `lease_until`."""
    return {
        "id": q.delivery.id,
        "event_id": q.event.id,
        "account_id": q.delivery.account_id,
        "conference_id": q.delivery.conference_id,
        "sequence": q.delivery.sequence,
        "subscription_id": q.delivery.subscription_id,
        "url": q.delivery.url,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": lease_until,
        "lease_holder": None if lease_until is None else holder,
        "last_status": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
        "delivered_at": None,
    }


async def _subscriptions(
    conn: AsyncConnection, account_ids: set[str]
) -> dict[str, list[tuple[str, str, list[str]]]]:
    """Each account's subscriptions, read once per batch (inside it, so always current)."""
    out: dict[str, list[tuple[str, str, list[str]]]] = {a: [] for a in account_ids}
    if not account_ids:
        return out
    q = select(
        t.subscriptions.c.account_id,
        t.subscriptions.c.id,
        t.subscriptions.c.url,
        t.subscriptions.c.event_types,
    ).where(t.subscriptions.c.account_id.in_(sorted(account_ids)))
    for r in await conn.execute(q):
        out[r.account_id].append((r.id, r.url, list(r.event_types or [])))
    return out
