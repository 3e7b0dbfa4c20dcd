"""The streamed webhook pipeline: order per stream through failures, streams side by side
under a bound, recovery of rows nobody holds before newer ones, one kept-alive connection,
marks written in batches after the receiver already has the deliveries, leases renewed.

Some tests run the whole application (`bridge` fixture); the others build a Dispatcher on a
real SQLite file and insert rows through the real tables, as the group commit would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from bridge_testing.wait import until
from harness import LOOPBACK_CIDRS, Bridge
from receiver import WebhookReceiver
from sqlalchemy import event, insert, select, update

from bridge.core.clock import SystemClock
from bridge.core.ids import new_id
from bridge.core.models import Event
from bridge.core.netpolicy import OutboundPolicy
from bridge.metrics import Metrics
from bridge.store import changes
from bridge.store import tables as t
from bridge.store.db import Database
from bridge.store.outbox import STREAM_LEASE, Delivery, Queued
from bridge.webhooks.dispatcher import Dispatcher, RetryPolicy
from bridge.webhooks.signing import verify

SECRET = "whsec_stream_test"


@dataclass
class StreamReceiver(WebhookReceiver):
    """A receiver that also counts connections, can fail its first requests, and can hold
    requests until it is released."""

    fail_first: int = 0  # answer 503 to this many requests, then 200
    peers: set[Any] = field(default_factory=set)
    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.released.set()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.transport is not None:
            self.peers.add(request.transport.get_extra_info("peername"))
        self.requests += 1
        if self.fail_first > 0:
            self.fail_first -= 1
            await request.read()
            return web.Response(status=503)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await self.released.wait()
            return await super()._handle(request)
        finally:
            self.in_flight -= 1

    def sequences(self, conference_id: str | None = None) -> list[int]:
        return [int(e["sequence"]) for e in self.events(conference_id)]


@pytest.fixture
async def stream_receiver() -> AsyncIterator[StreamReceiver]:
    r = StreamReceiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


# --- the whole application -----------------------------------------------------------------


async def _conference(bridge: Bridge, url: str) -> str:
    body = {"name": "s", "status_callback_url": url}
    cid: str = (await bridge.ok("POST", "/v1/conferences", 201, json=body))["id"]
    return cid


async def _all_delivered(bridge: Bridge, cid: str, count: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []

    async def done() -> bool:
        nonlocal items
        items = (await bridge.ok("GET", f"/v1/deliveries?conference_id={cid}"))["items"]
        return len(items) == count and all(d["status"] == "delivered" for d in items)

    await until(done, what=f"{count} deliveries marked delivered")
    return sorted(items, key=lambda d: d["sequence"])


async def test_order_holds_while_the_receiver_fails_and_recovers(
    bridge: Bridge, stream_receiver: StreamReceiver
) -> None:
    stream_receiver.fail_first = 3  # the head fails three times; the rest waits behind it
    cid = await _conference(bridge, stream_receiver.url)
    for n in range(8):
        await bridge.ok("PATCH", f"/v1/conferences/{cid}", json={"alias": f"a{n}"})
    await stream_receiver.wait_for(lambda rs: len(rs) >= 9)
    assert stream_receiver.sequences(cid) == list(range(1, 10))
    items = await _all_delivered(bridge, cid, 9)
    assert [d["attempts"] for d in items] == [4] + [1] * 8
    assert items[0]["last_status"] == 200 and items[0]["last_error"] is None


async def test_one_stream_keeps_one_connection_alive(
    bridge: Bridge, stream_receiver: StreamReceiver
) -> None:
    cid = await _conference(bridge, stream_receiver.url)
    for n in range(15):
        await bridge.ok("PATCH", f"/v1/conferences/{cid}", json={"alias": f"k{n}"})
    await stream_receiver.wait_for(lambda rs: len(rs) >= 16)
    assert stream_receiver.sequences(cid) == list(range(1, 17))
    assert stream_receiver.requests == 16
    assert len(stream_receiver.peers) == 1, stream_receiver.peers


async def test_forget_secrets_signs_with_the_new_secret(
    bridge: Bridge, stream_receiver: StreamReceiver
) -> None:
    old = (await bridge.ok("POST", "/v1/account/webhook-secret"))["webhook_secret"]
    cid = await _conference(bridge, stream_receiver.url)
    got = await stream_receiver.wait_for(lambda rs: len(rs) >= 1)
    assert verify(old, got[0].headers["X-Bridge-Signature"], got[0].body, now=int(time.time()))
    new = (await bridge.ok("POST", "/v1/account/webhook-secret"))["webhook_secret"]
    bridge.parts.dispatcher.forget_secrets()  # what the account service does on rotation
    await bridge.ok("PATCH", f"/v1/conferences/{cid}", json={"alias": "rotated"})
    got = await stream_receiver.wait_for(lambda rs: len(rs) >= 2)
    assert verify(new, got[1].headers["X-Bridge-Signature"], got[1].body, now=int(time.time()))


# --- a Dispatcher on a real SQLite file ----------------------------------------------------


@dataclass
class Outbox:
    """Rows in the real tables, written the way the group commit writes them."""

    db: Database
    account_id: str = field(default_factory=lambda: new_id("account"))

    async def setup(self) -> None:
        await self.db.migrate()
        async with self.db.begin() as conn:
            await conn.execute(
                insert(t.accounts).values(
                    id=self.account_id,
                    name="stream",
                    is_admin=False,
                    webhook_secret=SECRET,
                    created_at=datetime.now(UTC),
                )
            )

    async def add(
        self, url: str, conference_id: str, sequences: range, *, lease: timedelta | None
    ) -> list[Queued]:
        """Pending rows leased until now + `lease` (a negative lease: already expired)."""
        now = datetime.now(UTC)
        queued: list[Queued] = []
        for seq in sequences:
            ev = Event(
                id=new_id("event"),
                type="conference.updated",
                account_id=self.account_id,
                conference_id=conference_id,
                sequence=seq,
                occurred_at=now,
                data={"n": seq},
            )
            d = Delivery(
                id=new_id("delivery"),
                event_id=ev.id,
                account_id=self.account_id,
                conference_id=conference_id,
                sequence=seq,
                subscription_id=None,
                url=url,
                attempts=0,
                created_at=now,
            )
            queued.append(Queued(d, ev))
        async with self.db.begin() as conn:
            await conn.execute(insert(t.events), [changes.event_row(q.event) for q in queued])
            await conn.execute(
                insert(t.deliveries),
                [
                    changes.delivery_row(q, now, None if lease is None else now + lease)
                    for q in queued
                ],
            )
        return queued

    async def rows(self) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            q = select(t.deliveries).order_by(t.deliveries.c.conference_id, t.deliveries.c.sequence)
            return [dict(r) for r in (await conn.execute(q)).mappings()]


MakeDispatcher = Callable[..., Dispatcher]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Outbox]:
    db = Database(f"sqlite:///{tmp_path / 'stream.db'}")
    box = Outbox(db)
    await box.setup()
    try:
        yield box
    finally:
        await db.dispose()


@pytest.fixture
async def make_dispatcher(store: Outbox) -> AsyncIterator[MakeDispatcher]:
    made: list[Dispatcher] = []

    def make(**kw: Any) -> Dispatcher:
        options: dict[str, Any] = {
            "policy": RetryPolicy(
                base_seconds=0.02, cap_seconds=0.05, max_age_seconds=30, timeout_seconds=2
            ),
            "poll_seconds": 0.1,
            "outbound_policy": OutboundPolicy.from_settings(LOOPBACK_CIDRS, ()),
            **kw,
        }
        d = Dispatcher(store.db, SystemClock(), Metrics(), **options)
        made.append(d)
        return d

    try:
        yield make
    finally:
        for d in made:
            await d.stop()


async def drained(d: Dispatcher, within: float = 10.0) -> None:
    await asyncio.wait_for(d.drain(), within)


async def test_streams_run_side_by_side_up_to_the_bound(
    store: Outbox, make_dispatcher: MakeDispatcher, stream_receiver: StreamReceiver
) -> None:
    stream_receiver.released.clear()  # requests are held: only streams side by side get in
    d = make_dispatcher(max_streams=4)
    conferences = [new_id("conference") for _ in range(6)]
    for cid in conferences:
        d.submit(await store.add(stream_receiver.url, cid, range(1, 4), lease=STREAM_LEASE))
    await d.start()

    async def four_in_flight() -> bool:
        return stream_receiver.in_flight >= 4

    await until(four_in_flight, what="four streams' first deliveries in flight at once")
    assert (stream_receiver.in_flight, d.sending, d.held) == (4, 4, 18)  # two streams wait
    stream_receiver.released.set()
    await stream_receiver.wait_for(lambda rs: len(rs) >= 18)
    assert stream_receiver.peak_in_flight == 4  # reached, and never more than the bound
    for cid in conferences:
        assert stream_receiver.sequences(cid) == [1, 2, 3]
    await drained(d)
    assert {r["status"] for r in await store.rows()} == {"delivered"}


async def test_rows_nobody_holds_go_before_newer_submitted_ones(
    store: Outbox, make_dispatcher: MakeDispatcher, stream_receiver: StreamReceiver
) -> None:
    cid = new_id("conference")
    url = stream_receiver.url
    # left by a crashed process: pending, lease expired
    await store.add(url, cid, range(1, 4), lease=timedelta(seconds=-5))
    # committed since by this process: leased to it, handed over in memory
    newer = await store.add(url, cid, range(4, 7), lease=STREAM_LEASE)
    other = new_id("conference")
    await store.add(url, other, range(1, 3), lease=None)  # a stream only the outbox knows
    d = make_dispatcher()
    await d.start()
    d.submit(newer)  # before the first poll has even run
    await stream_receiver.wait_for(lambda rs: len(rs) >= 8)
    assert stream_receiver.sequences(cid) == [1, 2, 3, 4, 5, 6]
    assert stream_receiver.sequences(other) == [1, 2]
    await drained(d)
    rows = await store.rows()
    assert [(r["status"], r["attempts"], r["lease_until"]) for r in rows] == [
        ("delivered", 1, None)
    ] * 8


async def test_rows_another_process_holds_keep_newer_ones_waiting(
    store: Outbox, make_dispatcher: MakeDispatcher, stream_receiver: StreamReceiver
) -> None:
    cid = new_id("conference")
    url = stream_receiver.url
    foreign = await store.add(url, cid, range(1, 3), lease=STREAM_LEASE)  # another process's
    newer = await store.add(url, cid, range(3, 5), lease=STREAM_LEASE)
    d = make_dispatcher()
    await d.start()
    d.submit(newer)

    async def waiting() -> bool:
        return d.waiting_streams == 1

    await until(waiting, what="the stream waits for the other process's rows")
    assert stream_receiver.received == []
    # the other process dies: its leases run out, and this one takes the rows over
    async with store.db.begin() as conn:
        await conn.execute(
            update(t.deliveries)
            .where(t.deliveries.c.id.in_([q.delivery.id for q in foreign]))
            .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    d.notify()
    await stream_receiver.wait_for(lambda rs: len(rs) >= 4)
    assert stream_receiver.sequences(cid) == [1, 2, 3, 4]
    await drained(d)


async def test_marks_are_written_in_batches_after_the_receiver_has_them(
    store: Outbox, make_dispatcher: MakeDispatcher, stream_receiver: StreamReceiver
) -> None:
    cid = new_id("conference")
    queued = await store.add(stream_receiver.url, cid, range(1, 51), lease=STREAM_LEASE)
    writes: list[int] = []

    def count(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        if sql.lstrip().upper().startswith("UPDATE DELIVERIES SET STATUS"):
            writes.append(len(params) if many else 1)

    event.listen(store.db.engine.sync_engine, "before_cursor_execute", count)
    d = make_dispatcher()
    await d.start()
    # hold the SQLite writer: delivery must not wait for marks
    async with store.db.begin() as conn:
        await conn.execute(select(1))
        d.submit(queued)
        await stream_receiver.wait_for(lambda rs: len(rs) >= 50)
        assert stream_receiver.sequences(cid) == list(range(1, 51))
        assert writes == []  # nothing was marked yet
    await d.flush()
    assert writes == [50]  # one statement for the whole backlog
    await drained(d)
    rows = await store.rows()
    assert all(r["status"] == "delivered" and r["delivered_at"] is not None for r in rows)
    assert [r["attempts"] for r in rows] == [1] * 50


async def test_leases_of_held_rows_are_renewed(
    store: Outbox, make_dispatcher: MakeDispatcher, stream_receiver: StreamReceiver
) -> None:
    stream_receiver.fail_first = 10**6  # down: everything stays held, the head retrying
    cid = new_id("conference")
    await store.add(stream_receiver.url, cid, range(1, 4), lease=None)
    a = make_dispatcher(lease_seconds=0.6)
    b = make_dispatcher(lease_seconds=0.6)  # another process on the same outbox
    await a.start()

    async def taken() -> bool:
        return a.held == 3

    await until(taken, what="the first process claims the rows at start")

    first: dict[str, datetime] = {}

    async def renewed_twice() -> bool:
        assert await b.run_once() == 0, "another process took a held row"
        rows = {r["id"]: r["lease_until"] for r in await store.rows()}
        if not first:
            first.update(rows)
            return False
        return all(rows[i] - first[i] > timedelta(seconds=1.2) for i in rows)

    await until(renewed_twice, what="the held rows' leases moved on past two lease lengths")
    assert stream_receiver.received == [] and a.held == 3 and b.held == 0
    stream_receiver.fail_first = 0
    await stream_receiver.wait_for(lambda rs: len(rs) >= 3)
    assert stream_receiver.sequences(cid) == [1, 2, 3]
    await drained(a)
    await a.stop()
    rows = await store.rows()
    assert [(r["status"], r["attempts"] >= 1) for r in rows] == [("delivered", True)] * 3
