"""Conference use cases: create, read, list, update, terminate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError

from bridge.core import conference as csm
from bridge.core import spec
from bridge.core import validate as v
from bridge.core.clock import rfc3339
from bridge.core.errors import Conflict, InvalidInput, NotFound
from bridge.core.events import EventType
from bridge.core.ids import new_id
from bridge.core.models import Conference, ConferenceStatus, EventDraft, Reservation
from bridge.services.commit import StoreFailed
from bridge.services.context import Services, Unit, add_event
from bridge.services.live import in_conference, live_view
from bridge.store import repos
from bridge.store.changes import ChangeSet

CREATE_FIELDS = spec.CONFERENCE.create_names
PATCH_FIELDS = spec.CONFERENCE.patch_names | {"status"}


def _name(values: Mapping[str, Any]) -> str:
    """Without a name, the alias (up to TEXT_LEN) names it, cut to NAME_LEN."""
    return (values.get("alias") or "conference")[: v.NAME_LEN]


async def create(s: Services, account_id: str, body: Mapping[str, Any]) -> Conference:
    conf = await build(s, account_id, body)
    await commit_new(s, conf)
    return conf


async def build(
    s: Services,
    account_id: str,
    body: Mapping[str, Any],
    *,
    reserved: bool = False,
    reservation_id: str | None = None,
    max_limit: int | None = None,
) -> Conference:
    v.reject_unknown(body, CREATE_FIELDS, "conference")
    limit = max_limit or s.limits.unreserved_max_participants
    now = s.now()
    later: dict[str, spec.Later] = {"name": _name}
    if reserved:  # a reserved conference holds what was booked unless it asks for fewer
        later["max_participants"] = lambda _: max_limit
    values = spec.CONFERENCE.parse_create(body, spec.Context(s.outbound, limit), later)
    return Conference(
        id=new_id("conference"),
        account_id=account_id,
        status=ConferenceStatus.RESERVED if reserved else ConferenceStatus.EMPTY,
        reservation_id=reservation_id,
        created_at=now,
        updated_at=now,
        **values,
    )


async def _access_code_taken(s: Services, code: str, *, except_id: str | None) -> bool:
    async with s.db.read() as conn:
        return await repos.access_code_taken(conn, code, except_id=except_id)


def _code_in_use() -> Conflict:
    return Conflict(
        "access_code_in_use",
        "another conference that has not ended uses this access code",
        field="dial_in.access_code",
    )


async def commit_new(s: Services, conf: Conference, reservation: Reservation | None = None) -> None:
    """Store a new conference (and the reservation that books it) with its first events,
    through the group commit; returns once committed."""
    if conf.dial_in is not None and await _access_code_taken(
        s, conf.dial_in.access_code, except_id=None
    ):
        raise _code_in_use()
    drafts = [EventDraft(EventType.CONFERENCE_CREATED, data={"status": conf.status.value})]
    cs = ChangeSet(conference=conf, version=None)
    if reservation is not None:
        cs.reservations_new.append(reservation)
        data = {"reservation_token": reservation.id, "start_time": rfc3339(reservation.start_time)}
        drafts.append(EventDraft(EventType.RESERVATION_CREATED, data=data))
    for draft in drafts:
        add_event(cs, draft, None, conf.created_at)
    try:
        await s.owners.committer.submit(cs).committed
    except StoreFailed as exc:  # the live access code index: another create won the race
        if conf.dial_in is not None and isinstance(exc.__cause__, IntegrityError):
            raise _code_in_use() from None
        raise
    s.owners.adopt_new(cs)


async def get(s: Services, account_id: str, conference_id: str) -> Conference:
    view = live_view(s, conference_id)
    if view is not None:
        if view.conference.account_id != account_id:
            raise NotFound("conference_not_found", f"no conference {conference_id!r}")
        return view.conference
    async with s.db.read() as conn:
        conf = await repos.get_conference(conn, conference_id, account_id=account_id)
    if conf is None:
        raise NotFound("conference_not_found", f"no conference {conference_id!r}")
    return conf


async def list_(
    s: Services,
    account_id: str,
    *,
    status: list[str],
    name: str | None,
    after: str | None,
    limit: int,
) -> list[Conference]:
    v.status_filter(status, ConferenceStatus)
    async with s.db.read() as conn:
        return await repos.list_conferences(
            conn, account_id, status=status, name=name, after=after, limit=limit
        )


async def update(
    s: Services, account_id: str, conference_id: str, body: Mapping[str, Any]
) -> Conference:
    v.reject_unknown(body, PATCH_FIELDS, "conference")
    if not body:
        raise InvalidInput("empty_update", "nothing to update: send at least one field")
    if "status" in body:
        v.choice(body["status"], "status", ("terminated",))

    async def work(u: Unit) -> Conference:
        conf = u.conference
        if conf.status == ConferenceStatus.TERMINATED:
            raise Conflict("conference_terminated", "the conference has ended; it is read-only")
        reservation = u.reservation
        limit = (
            reservation.max_participants if reservation else s.limits.unreserved_max_participants
        )
        changes = spec.CONFERENCE.parse_patch(body, spec.Context(s.outbound, limit))
        dial_in = changes.get("dial_in")
        if dial_in is not None and await _access_code_taken(
            s, dial_in.access_code, except_id=conf.id
        ):
            raise _code_in_use()
        if changes:
            changed = {k: val for k, val in changes.items() if getattr(conf, k) != val}
            if changed:
                u.set_conference(csm.touch(conf, u.now, **changed))
                u.event(EventDraft(EventType.CONFERENCE_UPDATED, data={"fields": sorted(changed)}))
            if (
                changed.get("record") is True
                and u.conference.status == ConferenceStatus.IN_PROGRESS
            ):
                await u.start_recording()
            if changed.get("record") is False:
                await u.stop_recording()
        if body.get("status") == "terminated":
            await u.apply(
                csm.terminate(
                    u.conference, csm.EndReason.API, u.now, present=u.conference.participant_count
                )
            )
        return u.conference

    return await in_conference(s, conference_id, work, account_id=account_id)


async def terminate(
    s: Services, account_id: str | None, conference_id: str, reason: csm.EndReason
) -> Conference:
    async def work(u: Unit) -> Conference:
        await u.apply(
            csm.terminate(u.conference, reason, u.now, present=u.conference.participant_count)
        )
        return u.conference

    return await in_conference(s, conference_id, work, account_id=account_id)
