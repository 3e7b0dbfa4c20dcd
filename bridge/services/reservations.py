"""Reservations (Aculab): book, read, list, extend, remove. The scheduler opens and ends them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from bridge.core import conference as csm
from bridge.core import reservation as rsm
from bridge.core import validate as v
from bridge.core.errors import Conflict, NotFound
from bridge.core.events import EventType
from bridge.core.ids import new_id
from bridge.core.models import Conference, EventDraft, Reservation, ReservationStatus
from bridge.services import conferences
from bridge.services.context import Services, Unit
from bridge.services.live import in_conference
from bridge.store import repos

CREATE_FIELDS = frozenset(
    {"conference_name", "max_participants", "start_time", "duration", "divert", "conference"}
)


async def create(s: Services, account_id: str, body: Mapping[str, Any]) -> Reservation:
    v.reject_unknown(body, CREATE_FIELDS, "reservation")
    now = s.now()
    name = v.reservation_name(body.get("conference_name"))
    start = rsm.parse_start_time(body.get("start_time"))
    duration = body.get("duration")
    size = body.get("max_participants")
    rsm.check_booking(start, duration, size, now)  # type: ignore[arg-type]
    divert = v.dial_target(body["divert"], "divert") if body.get("divert") is not None else None
    conf_body = dict(v.expect_mapping(body.get("conference") or {}, "conference"))
    conf_body.setdefault("name", name)
    token = new_id("reservation")
    conf = await conferences.build(
        s, account_id, conf_body, reserved=True, reservation_id=token, max_limit=size
    )
    r = Reservation(
        id=token,
        account_id=account_id,
        conference_id=conf.id,
        conference_name=name,
        max_participants=size,  # type: ignore[arg-type]
        start_time=start,
        duration_minutes=duration,  # type: ignore[arg-type]
        divert=divert,
        created_at=now,
        updated_at=now,
    )
    async with s.db.read() as conn:
        taken = await repos.reservation_name_taken(conn, account_id, name)
    if taken:
        raise Conflict(
            "reservation_name_in_use",
            f"an open reservation is already called {name!r}",
            field="conference_name",
        )
    await conferences.commit_new(s, conf, reservation=r)
    return r


async def get(s: Services, account_id: str, token: str) -> Reservation:
    async with s.db.read() as conn:
        r = await repos.get_reservation(conn, token, account_id=account_id)
    if r is None:
        raise NotFound("reservation_not_found", f"no reservation {token!r}")
    return r


async def of_conferences(
    s: Services, account_id: str, confs: Sequence[Conference]
) -> dict[str, Reservation]:
    """The reservations that booked `confs`, by token: a conference shows its booking."""
    tokens = [c.reservation_id for c in confs if c.reservation_id is not None]
    if not tokens:
        return {}
    async with s.db.read() as conn:
        return await repos.reservations_by_token(conn, account_id, tokens)


async def list_(
    s: Services, account_id: str, *, status: list[str], after: str | None, limit: int
) -> list[Reservation]:
    v.status_filter(status, ReservationStatus)
    async with s.db.read() as conn:
        return await repos.list_reservations(
            conn, account_id, status=status, after=after, limit=limit
        )


async def extend(s: Services, account_id: str, token: str, body: Mapping[str, Any]) -> Reservation:
    v.reject_unknown(body, {"extend_minutes"}, "reservation")
    r0 = await get(s, account_id, token)

    async def work(u: Unit) -> Reservation:
        r = u.reservation
        assert r is not None and r.id == token
        extended = rsm.extend(r, body.get("extend_minutes"), u.now)
        u.set_reservation(extended)
        u.event(
            EventDraft(
                EventType.RESERVATION_EXTENDED,
                data={"reservation_token": r.id, "duration": extended.duration_minutes},
            )
        )
        return extended

    return await in_conference(s, r0.conference_id, work)


async def remove(s: Services, account_id: str, token: str) -> Reservation:
    r0 = await get(s, account_id, token)

    async def work(u: Unit) -> Reservation:
        r = u.reservation
        assert r is not None and r.id == token
        rsm.check_remove(r, u.now)
        cancelled = replace(
            r, status=ReservationStatus.CANCELLED, revision=r.revision + 1, updated_at=u.now
        )
        u.set_reservation(cancelled)
        u.event(EventDraft(EventType.RESERVATION_CANCELLED, data={"reservation_token": r.id}))
        await u.apply(csm.terminate(u.conference, csm.EndReason.API, u.now, present=0))
        return cancelled

    return await in_conference(s, r0.conference_id, work)
