"""Running a use case against one conference: lock, transaction, commit, then commands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bridge.core.errors import NotFound
from bridge.services.context import Services, Unit
from bridge.store import repos

T = TypeVar("T")


async def in_conference(
    services: Services,
    conference_id: str,
    work: Callable[[Unit], Awaitable[T]],
    *,
    account_id: str | None = None,
) -> T:
    """Serialise on the conference (in process, and FOR UPDATE across processes), run
    `work`, commit its unit, then send its engine commands."""
    async with services.locks.hold(conference_id):
        async with services.db.begin() as conn:
            conf = await repos.get_conference(
                conn, conference_id, account_id=account_id, for_update=True
            )
            if conf is None:
                raise NotFound("conference_not_found", f"no conference {conference_id!r}")
            unit = Unit(services, conn, conf, services.now())
            result = await work(unit)
            events = await unit.commit()
        services.on_events(events)
        await services.send(unit.commands)
        return result
