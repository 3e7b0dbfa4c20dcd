"""GET /v1/events/stream over a real aiohttp server and client: the webhook's event objects
live; a reconnect with Last-Event-ID (or after_sequence) loses and repeats nothing, also
while changes are being committed; filters and tenant isolation; heartbeats; a client that
never reads is cut off with a reason while another keeps receiving everything. On PostgreSQL,
two bridge instances on one database: each one's stream carries both's events in one commit
order, and a client resumes on the other instance."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bridge_testing.wait import until
from harness import Bridge, app_config, serve_bridge
from sqlalchemy import select, text

from bridge.api.stream import FEED
from bridge.services.events_feed import Feed
from bridge.store import tables as t

STREAM = "/v1/events/stream"


@dataclass
class Sse:
    """One SSE connection, parsed as it arrives."""

    resp: aiohttp.ClientResponse
    events: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    controls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ended: bool = False

    async def pump(self) -> None:
        fields: dict[str, str] = {}
        while True:
            line = await self.resp.content.readline()
            if not line:
                self.ended = True
                return
            text = line.decode().rstrip("\n")
            if text == "":
                if "data" in fields:
                    data = json.loads(fields["data"])
                    if "event" in fields:
                        self.controls.append((fields["event"], data))
                    else:
                        self.events.append(data)
                        self.ids.append(fields["id"])
                fields = {}
            elif text.startswith(":"):
                self.comments.append(text[1:].strip())
            else:
                name, _, value = text.partition(":")
                fields[name] = value.removeprefix(" ")


@asynccontextmanager
async def stream(
    bridge: Bridge, query: str = "", headers: dict[str, str] | None = None, key: str | None = None
) -> AsyncIterator[Sse]:
    resp = await bridge.client.get(
        STREAM + query,
        headers={"Authorization": f"Bearer {key or bridge.admin_key}", **(headers or {})},
    )
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    sse = Sse(resp)
    task = asyncio.create_task(sse.pump())
    try:
        await until(lambda: any(c[0] == "ready" for c in sse.controls), what="ready")
        yield sse
    finally:
        task.cancel()
        resp.close()


async def all_events(bridge: Bridge, cids: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for cid in cids:
        after = 0
        while True:
            page = await bridge.ok(
                "GET", f"/v1/conferences/{cid}/events?limit=200&after_sequence={after}"
            )
            out += page["items"]
            if page["next_after_sequence"] is None:
                break
            after = page["next_after_sequence"]
    return out


async def conference(bridge: Bridge, name: str, key: str | None = None) -> str:
    body = await bridge.ok("POST", "/v1/conferences", 201, json={"name": name}, key=key)
    return str(body["id"])


async def touch(bridge: Bridge, cid: str, n: int, key: str | None = None) -> None:
    for i in range(n):
        await bridge.ok("PATCH", f"/v1/conferences/{cid}", json={"alias": f"a{i}"}, key=key)


def by_conference(events: list[dict[str, Any]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for e in events:
        out.setdefault(e["conference_id"], []).append(e["sequence"])
    return out


async def test_stream_carries_the_webhook_event_objects_live(bridge: Bridge) -> None:
    async with stream(bridge) as sse:
        cid = await conference(bridge, "live")
        await touch(bridge, cid, 3)
        stored = await all_events(bridge, [cid])
        await until(lambda: len(sse.events) >= len(stored), what="events")
        assert sse.events == stored  # the same objects as the webhooks and the event log
        assert [e["type"] for e in stored][:1] == ["conference.created"]
        assert len(set(sse.ids)) == len(sse.ids)


async def test_reconnect_with_last_event_id_loses_and_repeats_nothing(bridge: Bridge) -> None:
    a, b = await conference(bridge, "a"), await conference(bridge, "b")
    async with stream(bridge, "?last_event_id=0-ev_00000000000000000000000000") as first:
        await touch(bridge, a, 3)
        await touch(bridge, b, 2)
        await until(lambda: len(first.events) >= 7, what="first events")
        seen, last = list(first.events[:5]), first.ids[4]  # the client got five, then broke
    # while it is away, both conferences change; and again while it reconnects
    await touch(bridge, a, 2)
    await touch(bridge, b, 2)
    writer = asyncio.gather(touch(bridge, a, 15), touch(bridge, b, 15))
    async with stream(bridge, headers={"Last-Event-ID": last}) as second:
        await writer
        total = len(await all_events(bridge, [a, b]))
        await until(lambda: len(seen) + len(second.events) >= total, what="all events")
        await asyncio.sleep(0)  # nothing more may come
        got = seen + second.events
    stored = await all_events(bridge, [a, b])
    assert len(got) == len(stored)
    assert sorted(e["id"] for e in got) == sorted(e["id"] for e in stored)  # none lost, none twice
    for seqs in by_conference(got).values():
        assert seqs == list(range(1, len(seqs) + 1))  # in order per conference


async def test_resume_by_after_sequence_for_one_conference(bridge: Bridge) -> None:
    a, b = await conference(bridge, "a"), await conference(bridge, "b")
    await touch(bridge, a, 4)
    await touch(bridge, b, 1)
    async with stream(bridge, f"?conference_id={a}&after_sequence=2") as sse:
        await touch(bridge, a, 1)
        await until(lambda: len(sse.events) >= 4, what="events of a")
        assert [e["sequence"] for e in sse.events] == [3, 4, 5, 6]
        assert {e["conference_id"] for e in sse.events} == {a}


async def test_filters_and_tenant_isolation(bridge: Bridge) -> None:
    other = await bridge.ok("POST", "/v1/accounts", 201, json={"name": "other"})
    key = (await bridge.ok("POST", f"/v1/accounts/{other['id']}/keys", 201, json={}))["key"]
    mine = await conference(bridge, "mine")
    async with (
        stream(bridge, key=key) as theirs,
        stream(bridge, "?types=conference.updated") as updates,
        stream(bridge, f"?conference_id={mine}&types=conference.*") as one,
    ):
        await touch(bridge, mine, 2)
        theirs_cid = await conference(bridge, "theirs", key=key)
        await until(lambda: len(updates.events) >= 2 and len(theirs.events) >= 1)
        await until(lambda: len(one.events) >= 2)
        assert {e["conference_id"] for e in theirs.events} == {theirs_cid}
        assert {e["type"] for e in updates.events} == {"conference.updated"}
        assert {e["conference_id"] for e in updates.events} == {mine}
        assert {e["conference_id"] for e in one.events} == {mine}
    # someone else's conference is not found, as everywhere
    status, body = await bridge.call("GET", f"{STREAM}?conference_id={mine}", key=key)
    assert (status, body["error"]["code"]) == (404, "conference_not_found")


@pytest.mark.parametrize(
    ("query", "headers", "code"),
    [
        ("", {"Last-Event-ID": "1-ev_x<script>"}, "invalid_last_event_id"),
        ("?last_event_id=abc", {}, "invalid_last_event_id"),
        ("?types=<script>", {}, "invalid_field"),
        ("?types=participant.joined,participant.joind", {}, "unknown_event_type"),
        ("?after_sequence=3", {}, "invalid_field"),
    ],
)
async def test_hostile_input_is_refused_with_a_code(
    bridge: Bridge, query: str, headers: dict[str, str], code: str
) -> None:
    status, body = await bridge.call("GET", STREAM + query, headers=headers)
    assert (status, body["error"]["code"]) == (400, code)
    status, body = await bridge.call("GET", STREAM, key="cbk_nope")
    assert status == 401


async def test_heartbeats_keep_an_idle_stream_awake(bridge: Bridge) -> None:
    bridge.client.app[FEED].heartbeat_seconds = 0.05
    async with stream(bridge) as sse:
        await until(lambda: sse.comments.count("heartbeat") >= 3, what="heartbeats")


async def test_a_client_that_never_reads_is_cut_off_and_others_keep_receiving(
    bridge: Bridge,
) -> None:
    feed: Feed = bridge.client.app[FEED]
    feed.buffer_events = 20
    host, port = bridge.client.server.host, bridge.client.server.port
    assert port is not None  # the server is started
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never reads
    stuck.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(stuck, (str(host), port))
    request = (
        f"GET {STREAM} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {bridge.admin_key}\r\n\r\n"
    )
    await loop.sock_sendall(stuck, request.encode())
    try:
        async with stream(bridge) as reader:
            await until(lambda: feed.subscribers == 2, what="both subscribed")
            cids = [await conference(bridge, "load")]

            async def overflowed() -> bool:
                await touch(bridge, cids[-1], 10)
                return feed.cut_off > 0

            # events until the stuck client's buffer overflows
            await until(overflowed, 30, "the stuck client cut off", every=0)
            await touch(bridge, cids[-1], 5)  # and after it: the reader still gets everything
            stored = await all_events(bridge, cids)
            await until(lambda: len(reader.events) >= len(stored), what="reader's events")
            assert [e["id"] for e in reader.events] == [e["id"] for e in stored]
            await until(lambda: feed.subscribers == 1, what="stuck one gone")
        # the stuck client, reading at last, finds the reason at the end of what it was sent
        received = b""
        while True:
            chunk = await asyncio.wait_for(loop.sock_recv(stuck, 65536), 10)
            if not chunk:
                break
            received += chunk
        assert b"event: error" in received and b'"code":"slow_consumer"' in received
    finally:
        stuck.close()


@pytest.fixture
async def second(tmp_path: Path, database_url: str) -> AsyncIterator[Bridge]:
    """A second bridge instance on the same PostgreSQL database (another process's view)."""
    if database_url.startswith("sqlite"):
        pytest.skip("several bridge instances share PostgreSQL, not SQLite")
    async with serve_bridge(app_config(tmp_path / "second", database_url)) as running:
        yield running


def has(sse: Sse, n: int) -> Callable[[], bool]:
    return lambda: len(sse.events) >= n


def positions_of(ids: list[str]) -> list[int]:
    return [int(i.split("-", 1)[0]) for i in ids]


async def test_a_stream_carries_every_instances_events_in_commit_order(
    bridge: Bridge, second: Bridge
) -> None:
    second.admin_key = bridge.admin_key
    async with stream(bridge) as on_a, stream(second) as on_b:
        a = await conference(bridge, "on-a")
        b = await conference(second, "on-b")
        c = await conference(bridge, "made-on-a")
        # both instances commit at once, B into a conference A made too
        await asyncio.gather(touch(bridge, a, 10), touch(second, b, 10), touch(second, c, 5))
        stored = await all_events(bridge, [a, b, c])
        for sse in (on_a, on_b):
            await until(has(sse, len(stored)), what="all events")
            await asyncio.sleep(0)  # nothing more may come
            assert sorted(e["id"] for e in sse.events) == sorted(e["id"] for e in stored)
            pos = positions_of(sse.ids)
            assert pos == sorted(pos) and len(set(pos)) == len(pos), "one order, no repeat"
            for seqs in by_conference(sse.events).values():
                assert seqs == list(range(1, len(seqs) + 1))
        assert on_a.ids == on_b.ids, "every instance streams the same order"


async def test_resume_on_another_instance_loses_and_repeats_nothing(
    bridge: Bridge, second: Bridge
) -> None:
    second.admin_key = bridge.admin_key
    a, b = await conference(bridge, "a"), await conference(second, "b")
    async with stream(bridge, "?last_event_id=0-ev_00000000000000000000000000") as first:
        await touch(bridge, a, 3)
        await touch(second, b, 3)
        await until(lambda: len(first.events) >= 8, what="first events")
        seen, last = list(first.events[:5]), first.ids[4]  # instance A's client broke here
    await touch(second, a, 2)
    await touch(bridge, b, 2)
    writer = asyncio.gather(touch(bridge, a, 10), touch(second, b, 10))
    async with stream(second, headers={"Last-Event-ID": last}) as resumed:  # now on B
        await writer
        total = len(await all_events(bridge, [a, b]))
        await until(lambda: len(seen) + len(resumed.events) >= total, what="all events")
        await asyncio.sleep(0)
        got = seen + resumed.events
    stored = await all_events(bridge, [a, b])
    assert sorted(e["id"] for e in got) == sorted(e["id"] for e in stored)  # none lost, none twice
    for seqs in by_conference(got).values():
        assert seqs == list(range(1, len(seqs) + 1))


async def test_event_positions_are_dense_and_in_commit_order_across_instances(
    bridge: Bridge, second: Bridge
) -> None:
    second.admin_key = bridge.admin_key
    a, b = await conference(bridge, "a"), await conference(second, "b")
    await asyncio.gather(touch(bridge, a, 20), touch(second, b, 20))
    async with bridge.parts.services.db.read() as conn:
        rows = (await conn.execute(select(t.events.c.position).order_by(t.events.c.position))).all()
    pos = [int(r.position) for r in rows]
    assert pos == list(range(pos[0], pos[0] + len(pos))), "no gap, no repeat"


async def test_a_lost_listen_connection_is_covered_by_the_poll(
    bridge: Bridge, second: Bridge, database_url: str
) -> None:
    second.admin_key = bridge.admin_key
    b = await conference(second, "b")
    async with stream(bridge) as on_a:
        # the store drops both instances' LISTEN connections (a restart, a proxy's timeout)
        async with bridge.parts.services.db.begin() as conn:
            dropped = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                )
            )
        assert dropped == 2
        await touch(second, b, 3)
        await until(lambda: len(on_a.events) >= 3, timeout=10, what="events after the loss")
        assert [e["sequence"] for e in on_a.events] == [2, 3, 4]
        # and the instances listen again: the next events come without waiting for a poll
        async with bridge.parts.services.db.read() as conn:
            listening = (
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )

            async def relistening() -> bool:
                return bool(await conn.scalar(text(listening)) >= 2)

            await until(relistening, 10, "both instances listening again", every=0.05)


async def test_the_resume_header_is_in_the_openapi_document(bridge: Bridge) -> None:
    spec = await bridge.ok("GET", "/openapi.json")
    params = {p["name"]: p for p in spec["paths"][STREAM]["get"]["parameters"]}
    assert params["Last-Event-ID"]["in"] == "header"
    assert {"conference_id", "types", "after_sequence", "last_event_id"} <= set(params)
