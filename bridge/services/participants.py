"""Participant use cases: dial out (connect_to_conference), read, update flags, eject."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.core import admission as adm
from bridge.core import engine as cmd
from bridge.core import participant as psm
from bridge.core import validate as v
from bridge.core.errors import Conflict, InvalidInput, NotFound
from bridge.core.events import EventType
from bridge.core.ids import new_id
from bridge.core.models import (
    LIVE_CONFERENCE,
    Direction,
    EventDraft,
    LeaveReason,
    Participant,
    ParticipantStatus,
    ReservationStatus,
)
from bridge.core.options import parse_call_options, parse_media, parse_participant_options
from bridge.services.context import Services, Unit
from bridge.services.live import in_conference, live_view
from bridge.store import repos

DIAL_FIELDS = frozenset(
    {
        "to",
        "from",
        "name",
        "seconds_answer_timeout",
        "hold_media",
        "participant",
        "secondary_call",
        "muted",
        "dtmf_enabled",
    }
)
PATCH_FIELDS = frozenset({"muted", "deaf", "listen", "hold", "hold_media", "dtmf_enabled"})


def check_dial_out(s: Services, body: Mapping[str, Any]) -> None:
    """Refuse a dial-out body as dial_out would, before anything is made for it (a facade
    that opens the conference on demand asks first)."""
    _parse_dial(s, body)


def _parse_dial(s: Services, body: Mapping[str, Any]) -> tuple[Any, ...]:
    v.reject_unknown(body, DIAL_FIELDS, "participant")
    to = v.dial_target(body.get("to"), "to")
    from_ = v.caller_id(body["from"], "from") if body.get("from") is not None else None
    lo, hi = v.ANSWER_TIMEOUT
    timeout = v.integer(
        body.get("seconds_answer_timeout", 30), "seconds_answer_timeout", minimum=lo, maximum=hi
    )
    hold_media = parse_media(body["hold_media"], "hold_media") if body.get("hold_media") else None
    options = parse_participant_options(body.get("participant"), "participant", policy=s.outbound)
    call_options = parse_call_options(
        body.get("secondary_call"), "secondary_call", policy=s.outbound
    )
    muted = v.boolean(body.get("muted", options.start_muted or not options.talker), "muted")
    if muted is False and not options.talker:
        raise InvalidInput(
            "listener_unmuted", "a participant with talker=false cannot start unmuted"
        )
    dtmf = v.boolean(body.get("dtmf_enabled", options.dtmf_enabled), "dtmf_enabled")
    name = v.optional_text(body.get("name"), "name", max_len=v.TEXT_LEN) or None
    return to, from_, name, timeout, hold_media, options, call_options, muted, dtmf


async def dial_out(
    s: Services, account_id: str, conference_id: str, body: Mapping[str, Any]
) -> Participant:
    to, from_, name, timeout, hold_media, options, call_options, muted, dtmf = _parse_dial(s, body)

    async def work(u: Unit) -> Participant:
        conf = u.conference
        if conf.status not in LIVE_CONFERENCE:
            raise Conflict(
                "conference_not_open",
                f"participants can join only a started conference; this one is {conf.status.value}",
                status=conf.status.value,
            )
        active = u.count_active()
        if active >= adm.capacity(conf, u.reservation, s.limits.unreserved_max_participants):
            raise Conflict("conference_full", "the conference is full", capacity=active)
        p = Participant(
            id=new_id("participant"),
            conference_id=conf.id,
            account_id=conf.account_id,
            created_at=u.now,
            updated_at=u.now,
            direction=Direction.OUTBOUND,
            options=options,
            call_options=call_options,
            from_=from_,
            to=to,
            name=name,
            muted=muted,
            deaf=not options.listen,
            dtmf_enabled=dtmf,
            answer_timeout=timeout,
            hold_media=hold_media,
        )
        data = {"direction": "outbound", "to": to, "name": name}
        u.add_participant(p, EventDraft(EventType.PARTICIPANT_JOINING, p.id, data))
        u.commands.append(cmd.Originate(conf, p))
        return p

    return await in_conference(s, conference_id, work, account_id=account_id)


async def get(s: Services, account_id: str, conference_id: str, participant_id: str) -> Participant:
    view = live_view(s, conference_id)
    if view is not None:
        if view.conference.account_id != account_id:
            raise NotFound("conference_not_found", f"no conference {conference_id!r}")
        found = view.participants.get(participant_id)
        if found is None:
            raise NotFound("participant_not_found", f"no participant {participant_id!r}")
        return found
    async with s.db.read() as conn:
        conf = await repos.get_conference(conn, conference_id, account_id=account_id)
        p = (
            await repos.get_participant(conn, participant_id, conference_id=conference_id)
            if conf
            else None
        )
    if conf is None:
        raise NotFound("conference_not_found", f"no conference {conference_id!r}")
    if p is None:
        raise NotFound("participant_not_found", f"no participant {participant_id!r}")
    return p


async def list_(
    s: Services,
    account_id: str,
    conference_id: str,
    *,
    status: list[str],
    after: str | None,
    limit: int,
) -> list[Participant]:
    wanted = [ParticipantStatus(x) for x in v.status_filter(status, ParticipantStatus)]
    view = live_view(s, conference_id)
    if view is not None:
        if view.conference.account_id != account_id:
            raise NotFound("conference_not_found", f"no conference {conference_id!r}")
        ps = sorted(
            (
                p
                for p in view.participants.values()
                if (not wanted or p.status in wanted) and (after is None or p.id > after)
            ),
            key=lambda p: p.id,
        )
        return ps[:limit]
    async with s.db.read() as conn:
        conf = await repos.get_conference(conn, conference_id, account_id=account_id)
        if conf is None:
            raise NotFound("conference_not_found", f"no conference {conference_id!r}")
        return await repos.list_participants(
            conn, conference_id, statuses=wanted, after=after, limit=limit
        )


async def list_for_account(
    s: Services, account_id: str, *, after: str | None, limit: int
) -> list[Participant]:
    """Every participant of the account, across its conferences, as committed."""
    async with s.db.read() as conn:
        return await repos.list_account_participants(conn, account_id, after=after, limit=limit)


async def find(s: Services, account_id: str, participant_id: str) -> Participant:
    """A participant by its id alone (the caller knows no conference)."""
    async with s.db.read() as conn:
        p = await repos.get_participant(conn, participant_id)
    if p is None or p.account_id != account_id:
        raise NotFound("participant_not_found", f"no participant {participant_id!r}")
    return await get(s, account_id, p.conference_id, participant_id)


def _check_changeable(u: Unit) -> None:
    """A reserved conference's participants are changed (options, eject) only while it is
    ACTIVE: Aculab's rule, the same through every API."""
    r = u.reservation
    if r is not None and r.status != ReservationStatus.ACTIVE:
        raise Conflict(
            "conference_not_active",
            f"participants of a reserved conference can be changed only when it is active; "
            f"it is {r.status.value}",
            status=r.status.value,
        )


async def _load(u: Unit, participant_id: str) -> Participant:
    p = u.participant(participant_id)
    if p is None:
        raise NotFound("participant_not_found", f"no participant {participant_id!r}")
    return p


async def update(
    s: Services, account_id: str, conference_id: str, participant_id: str, body: Mapping[str, Any]
) -> Participant:
    v.reject_unknown(body, PATCH_FIELDS, "participant")
    if not body:
        raise InvalidInput("empty_update", "nothing to update: send at least one field")
    flags: dict[str, bool] = {}
    for name in ("muted", "deaf", "hold", "dtmf_enabled"):
        if name in body:
            flags[name] = v.boolean(body[name], name)
    if "listen" in body:
        listen = v.boolean(body["listen"], "listen")
        if "deaf" in flags and flags["deaf"] == listen:
            raise InvalidInput("invalid_field", "listen and deaf contradict each other")
        flags["deaf"] = not listen
    hold_media = parse_media(body["hold_media"], "hold_media") if body.get("hold_media") else None

    async def work(u: Unit) -> Participant:
        _check_changeable(u)
        p = await _load(u, participant_id)
        if p.status != ParticipantStatus.JOINED:
            raise Conflict(
                "participant_not_joined",
                f"options can be set only on a joined participant; this one is {p.status.value}",
                status=p.status.value,
            )
        if flags.get("muted") is False and not p.options.talker:
            raise Conflict(
                "participant_not_talker", "this participant joined as a listener (talker=false)"
            )
        moved = psm.set_flags(p, u.now, **flags)
        if moved is None:
            return p
        new, draft = moved
        u.set_participant(new, draft)
        conf = u.conference
        if new.muted != p.muted:
            u.commands.append(cmd.SetMute(conf, new, new.muted))
        if new.deaf != p.deaf:
            u.commands.append(cmd.SetDeaf(conf, new, new.deaf))
        if new.hold != p.hold:
            u.commands.append(cmd.SetHold(conf, new, new.hold, hold_media or new.hold_media))
        return new

    return await in_conference(s, conference_id, work, account_id=account_id)


async def eject(
    s: Services, account_id: str, conference_id: str, participant_id: str
) -> Participant:
    async def work(u: Unit) -> Participant:
        _check_changeable(u)
        p = await _load(u, participant_id)
        moved = psm.leaving(p, LeaveReason.KICKED, u.now)
        if moved is None:
            raise Conflict(
                "participant_not_present",
                f"the participant is {p.status.value}; there is nothing to eject",
                status=p.status.value,
            )
        u.set_participant(*moved)
        u.commands.append(cmd.Kick(u.conference, moved[0], LeaveReason.KICKED))
        return moved[0]

    return await in_conference(s, conference_id, work, account_id=account_id)
