"""Repositories: small async functions over a connection, returning core dataclasses.

They never commit. Reads serve the API and the loading of a live conference; the writes of
conference state, events and outbox rows are store/changes.py's group commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.core.models import (
    Conference,
    ConferenceStatus,
    Event,
    Participant,
    ParticipantStatus,
    Recording,
    Reservation,
    ReservationStatus,
)
from bridge.store import convert
from bridge.store import tables as t

# --- conferences -------------------------------------------------------------------------


async def insert_conference(conn: AsyncConnection, c: Conference) -> None:
    await conn.execute(insert(t.conferences), convert.conference_to_row(c))


async def get_conference(
    conn: AsyncConnection,
    conference_id: str,
    *,
    account_id: str | None = None,
    for_update: bool = False,
) -> Conference | None:
    q = select(t.conferences).where(t.conferences.c.id == conference_id)
    if account_id is not None:
        q = q.where(t.conferences.c.account_id == account_id)
    if for_update:
        q = q.with_for_update()
    row = (await conn.execute(q)).mappings().first()
    return None if row is None else convert.conference_from_row(row)


async def conference_by_access_code(conn: AsyncConnection, code: str) -> Conference | None:
    q = select(t.conferences).where(
        t.conferences.c.access_code == code,
        t.conferences.c.status != ConferenceStatus.TERMINATED.value,
    )
    row = (await conn.execute(q)).mappings().first()
    return None if row is None else convert.conference_from_row(row)


async def access_code_taken(conn: AsyncConnection, code: str, *, except_id: str | None) -> bool:
    q = select(t.conferences.c.id).where(
        t.conferences.c.access_code == code,
        t.conferences.c.status != ConferenceStatus.TERMINATED.value,
    )
    if except_id is not None:
        q = q.where(t.conferences.c.id != except_id)
    return (await conn.execute(q.limit(1))).first() is not None


def _page(q: Select[Any], id_col: Any, after: str | None, limit: int) -> Select[Any]:
    if after is not None:
        q = q.where(id_col > after)
    return q.order_by(id_col).limit(limit)


async def list_conferences(
    conn: AsyncConnection,
    account_id: str,
    *,
    status: Sequence[str] = (),
    name: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> list[Conference]:
    q = select(t.conferences).where(t.conferences.c.account_id == account_id)
    if status:
        q = q.where(t.conferences.c.status.in_(list(status)))
    if name is not None:
        q = q.where(t.conferences.c.name == name)
    q = _page(q, t.conferences.c.id, after, limit)
    return [convert.conference_from_row(r) for r in (await conn.execute(q)).mappings()]


async def conferences_with_timeout(conn: AsyncConnection) -> list[Conference]:
    q = select(t.conferences).where(
        t.conferences.c.timeout > 0,
        t.conferences.c.status.not_in(
            [ConferenceStatus.TERMINATED.value, ConferenceStatus.TERMINATING.value]
        ),
    )
    return [convert.conference_from_row(r) for r in (await conn.execute(q)).mappings()]


async def count_conferences_by_status(conn: AsyncConnection) -> dict[str, int]:
    q = select(t.conferences.c.status, func.count()).group_by(t.conferences.c.status)
    return {status: n for status, n in (await conn.execute(q)).all()}


# --- participants ------------------------------------------------------------------------


async def insert_participant(conn: AsyncConnection, p: Participant) -> None:
    await conn.execute(insert(t.participants), convert.participant_to_row(p))


async def get_participant(
    conn: AsyncConnection, participant_id: str, *, conference_id: str | None = None
) -> Participant | None:
    q = select(t.participants).where(t.participants.c.id == participant_id)
    if conference_id is not None:
        q = q.where(t.participants.c.conference_id == conference_id)
    row = (await conn.execute(q)).mappings().first()
    return None if row is None else convert.participant_from_row(row)


async def list_participants(
    conn: AsyncConnection,
    conference_id: str,
    *,
    statuses: Iterable[ParticipantStatus] = (),
    after: str | None = None,
    limit: int = 1000,
) -> list[Participant]:
    q = select(t.participants).where(t.participants.c.conference_id == conference_id)
    wanted = [s.value for s in statuses]
    if wanted:
        q = q.where(t.participants.c.status.in_(wanted))
    q = _page(q, t.participants.c.id, after, limit)
    return [convert.participant_from_row(r) for r in (await conn.execute(q)).mappings()]


# --- reservations ------------------------------------------------------------------------


async def list_account_participants(
    conn: AsyncConnection, account_id: str, *, after: str | None = None, limit: int = 100
) -> list[Participant]:
    """Every participant of an account's conferences, by id (VoIPbin's conferencecalls)."""
    q = _page(
        select(t.participants).where(t.participants.c.account_id == account_id),
        t.participants.c.id,
        after,
        limit,
    )
    return [convert.participant_from_row(r) for r in (await conn.execute(q)).mappings()]


async def get_reservation(
    conn: AsyncConnection, token: str, *, account_id: str | None = None
) -> Reservation | None:
    q = select(t.reservations).where(t.reservations.c.id == token)
    if account_id is not None:
        q = q.where(t.reservations.c.account_id == account_id)
    row = (await conn.execute(q)).mappings().first()
    return None if row is None else convert.reservation_from_row(row)


async def reservation_of(conn: AsyncConnection, conf: Conference) -> Reservation | None:
    """The reservation a conference was booked by, or None for an unreserved one."""
    if conf.reservation_id is None:
        return None
    return await get_reservation(conn, conf.reservation_id)


async def reservations_by_token(
    conn: AsyncConnection, account_id: str, tokens: Sequence[str]
) -> dict[str, Reservation]:
    """The account's reservations among `tokens`, by token (one query for a page)."""
    if not tokens:
        return {}
    q = select(t.reservations).where(
        t.reservations.c.account_id == account_id, t.reservations.c.id.in_(list(tokens))
    )
    rows = (await conn.execute(q)).mappings()
    return {r.id: r for r in map(convert.reservation_from_row, rows)}


OPEN_RESERVATION = (
    ReservationStatus.RESERVED.value,
    ReservationStatus.HOLDING.value,
    ReservationStatus.ACTIVE.value,
)


async def reservation_name_taken(conn: AsyncConnection, account_id: str, name: str) -> bool:
    q = select(t.reservations.c.id).where(
        t.reservations.c.account_id == account_id,
        t.reservations.c.conference_name == name,
        t.reservations.c.status.in_(OPEN_RESERVATION),
    )
    return (await conn.execute(q.limit(1))).first() is not None


async def list_reservations(
    conn: AsyncConnection,
    account_id: str | None,
    *,
    status: Sequence[str] = (),
    after: str | None = None,
    limit: int = 50,
) -> list[Reservation]:
    q = select(t.reservations)
    if account_id is not None:
        q = q.where(t.reservations.c.account_id == account_id)
    if status:
        q = q.where(t.reservations.c.status.in_(list(status)))
    q = _page(q, t.reservations.c.id, after, limit)
    return [convert.reservation_from_row(r) for r in (await conn.execute(q)).mappings()]


async def open_reservations(conn: AsyncConnection) -> list[Reservation]:
    return await list_reservations(conn, None, status=OPEN_RESERVATION, limit=100_000)


# --- recordings --------------------------------------------------------------------------


async def get_recording(
    conn: AsyncConnection, recording_id: str, *, conference_id: str
) -> Recording | None:
    q = select(t.recordings).where(
        t.recordings.c.id == recording_id, t.recordings.c.conference_id == conference_id
    )
    row = (await conn.execute(q)).mappings().first()
    return None if row is None else convert.recording_from_row(row)


async def list_recordings(conn: AsyncConnection, conference_id: str) -> list[Recording]:
    q = (
        select(t.recordings)
        .where(t.recordings.c.conference_id == conference_id)
        .order_by(t.recordings.c.id)
    )
    return [convert.recording_from_row(r) for r in (await conn.execute(q)).mappings()]


# --- events ------------------------------------------------------------------------------


async def list_events(
    conn: AsyncConnection, conference_id: str, *, after_sequence: int = 0, limit: int = 100
) -> list[Event]:
    q = (
        select(t.events)
        .where(t.events.c.conference_id == conference_id, t.events.c.sequence > after_sequence)
        .order_by(t.events.c.sequence)
        .limit(limit)
    )
    return [convert.event_from_row(r) for r in (await conn.execute(q)).mappings()]


# --- accounts, keys, subscriptions -------------------------------------------------------


async def insert_row(conn: AsyncConnection, table: Any, values: dict[str, Any]) -> None:
    await conn.execute(insert(table), values)


async def get_row(conn: AsyncConnection, table: Any, row_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(table).where(table.c.id == row_id))).mappings().first()
    return None if row is None else dict(row)


async def list_rows(
    conn: AsyncConnection,
    table: Any,
    *,
    where: Any = None,
    after: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    q = select(table)
    if where is not None:
        q = q.where(where)
    q = _page(q, table.c.id, after, limit)
    return [dict(r) for r in (await conn.execute(q)).mappings()]


async def delete_row(conn: AsyncConnection, table: Any, row_id: str, *, account_id: str) -> bool:
    result = await conn.execute(
        delete(table).where(and_(table.c.id == row_id, table.c.account_id == account_id))
    )
    return bool(result.rowcount)


async def update_row(
    conn: AsyncConnection, table: Any, row_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(update(table).where(table.c.id == row_id).values(values))


# --- loading a live conference --------------------------------------------------------------


async def load_live(
    conn: AsyncConnection, conference_id: str
) -> tuple[Conference, int, Reservation | None, list[Participant], list[Recording], int] | None:
    """Everything an in-memory owner holds, read once: the conference and its write version,
    its reservation, participants, recordings and last event sequence."""
    q = select(t.conferences).where(t.conferences.c.id == conference_id)
    row = (await conn.execute(q)).mappings().first()
    if row is None:
        return None
    conf = convert.conference_from_row(row)
    reservation = await reservation_of(conn, conf)
    participants = await list_participants(conn, conference_id, limit=1_000_000)
    recordings = await list_recordings(conn, conference_id)
    seq_q = select(func.coalesce(func.max(t.events.c.sequence), 0)).where(
        t.events.c.conference_id == conference_id
    )
    last_sequence = int((await conn.execute(seq_q)).scalar_one())
    return conf, int(row["version"]), reservation, participants, recordings, last_sequence
