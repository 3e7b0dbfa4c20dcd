"""Conferences known by name (Aculab's web services name them, not by id) and the
connect_to_conference use case: dial a call into the open conference of that name, opening
an unreserved one if none is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.core.models import LIVE_CONFERENCE, Conference, Participant, ReservationStatus
from bridge.services import conferences, participants, reservations
from bridge.services.context import Services

OPEN = [
    ReservationStatus.RESERVED.value,
    ReservationStatus.HOLDING.value,
    ReservationStatus.ACTIVE.value,
]
BATCH = 500  # rows read per query while scanning every open reservation


async def open_by_name(s: Services, account_id: str, name: str) -> Conference | None:
    """The open conference called `name`: a reservation's (a reservation's name is unique
    among the open ones), else a live unreserved one."""
    after: str | None = None
    while True:
        batch = await reservations.list_(s, account_id, status=OPEN, after=after, limit=BATCH)
        for r in batch:
            if r.conference_name == name:
                return await conferences.get(s, account_id, r.conference_id)
        if len(batch) < BATCH:
            break
        after = batch[-1].id
    live = [x.value for x in LIVE_CONFERENCE]
    found = await conferences.list_(s, account_id, status=live, name=name, after=None, limit=1)
    return found[0] if found else None


async def connect(
    s: Services, account_id: str, name: str, body: Mapping[str, Any]
) -> tuple[Conference, Participant]:
    """Dial out per `body` (as participants.dial_out) into the conference called `name`."""
    participants.check_dial_out(s, body)  # a refused request opens no conference
    conf = await open_by_name(s, account_id, name)
    if conf is None:
        conf = await conferences.create(s, account_id, {"name": name})
    return conf, await participants.dial_out(s, account_id, conf.id, body)
