"""Read-side use cases the API needs beside the resources: event log, webhook deliveries,
health and gauges."""

from __future__ import annotations

from typing import Any

from bridge.core.errors import Conflict, InvalidInput, NotFound
from bridge.core.models import Event
from bridge.services.context import Services
from bridge.store import outbox, repos

DELIVERY_STATUSES = (outbox.PENDING, outbox.DELIVERED, outbox.DEAD)


async def list_events(
    s: Services, conference_id: str, *, after_sequence: int, limit: int
) -> list[Event]:
    async with s.db.read() as conn:
        return await repos.list_events(
            conn, conference_id, after_sequence=after_sequence, limit=limit
        )


async def list_deliveries(
    s: Services,
    account_id: str,
    *,
    status: str | None,
    conference_id: str | None,
    after: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidInput(
            "invalid_field", "status: must be pending, delivered or dead", field="status"
        )
    async with s.db.read() as conn:
        return await outbox.list_deliveries(
            conn, account_id, status=status, conference_id=conference_id, after=after, limit=limit
        )


async def retry_delivery(s: Services, account_id: str, delivery_id: str) -> None:
    async with s.db.begin() as conn:
        ok = await outbox.retry_dead(conn, delivery_id, account_id, s.now())
        exists = ok or await outbox.delivery_exists(conn, delivery_id, account_id)
    if ok:
        s.outbox_changed()
    elif not exists:  # another tenant's id is as unknown as one that never existed
        raise NotFound("delivery_not_found", f"no delivery {delivery_id!r}")
    else:
        raise Conflict("delivery_not_dead", "only a dead-lettered delivery can be retried")


async def database_ok(s: Services) -> bool:
    try:
        async with s.db.read() as conn:
            await repos.count_conferences_by_status(conn)
    except Exception:
        return False
    return True


async def refresh_gauges(s: Services) -> None:
    m = s.metrics
    async with s.db.read() as conn:
        for status, n in (await repos.count_conferences_by_status(conn)).items():
            m.conferences.labels(status).set(n)
        for status, n in (await outbox.count_by_status(conn)).items():
            m.deliveries.labels(status).set(n)
