"""FreeSWITCH engine throughput against the recorded traffic. Prints figures only.

- events parsed and applied per second: recorded conference::maintenance frames through
  EslParser and FreeSwitchBackend (in-process), and end to end (socket -> ESL thread ->
  backend -> observer -> SQLite) into the real application;
- cost per member join: a dial-in over the outbound socket, routed by the real app,
  answered, joined with add-member, until the participant is joined in the store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from bridge_testing.app_client import Served, serve_app
from bridge_testing.engine_fixtures import (
    ROOM1,
    FakeFreeSwitch,
    FakeFreeSwitchCaller,
    Observations,
    StubSession,
    conference_events,
    find_event,
    make_conference,
    make_participant,
    reframe,
    with_sequence,
)
from bridge_testing.fake_esl import REFERENCE
from bridge_testing.wait import until

from bridge.config import Config
from bridge.core.clock import OffsetClock
from bridge.core.ids import engine_name
from bridge.core.models import ConferenceStatus
from bridge.pbx.freeswitch.backend import FreeSwitchBackend
from bridge.protocols import esl

pytestmark = pytest.mark.benchmark


def _talk_stream(name: str, count: int) -> bytes:
    """``count`` start/stop-talking events for room1's six callers, renamed to ``name``."""
    events = conference_events()
    templates = [find_event(events, "start-talking", Member_ID=str(m)) for m in (1, 2, 4, 5, 6)]
    out = []
    for i in range(count):
        frame = templates[i % len(templates)]
        if i % 2:
            frame = frame.replace(b"Action: start-talking", b"Action: stop-talking")
        out.append(with_sequence(frame, 100_000 + i))
    return b"".join(reframe(f, {b"room1": name.encode()}) for f in out)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="recorded ESL traffic not available")
async def test_events_parsed_and_applied_in_process() -> None:
    backend = FreeSwitchBackend("127.0.0.1", 1, "x", outbound_port=None)
    seen = Observations()
    backend._sink = seen
    conf = make_conference(status=ConferenceStatus.IN_PROGRESS)
    for uuid, _ in ROOM1.values():
        backend.admitted(conf, make_participant(conf, call_ref=uuid), StubSession(uuid))  # type: ignore[arg-type]
    data = _talk_stream(engine_name(conf.id), 10_000)
    best = float("inf")
    for _ in range(3):
        parser = esl.EslParser()
        start = time.perf_counter()
        for i in range(0, len(data), 65536):
            for msg in parser.feed(data[i : i + 65536]):
                if isinstance(msg, esl.Event):
                    backend._on_event(msg)
        best = min(best, time.perf_counter() - start)
    print(
        f"\nFreeSWITCH in-process: 10000 talking events parsed + applied by the backend, "
        f"best of 3: {best * 1000:.0f} ms = {10_000 / best:,.0f} events/s"
    )


@asynccontextmanager
async def _app(tmp_path: Path) -> AsyncIterator[tuple[FakeFreeSwitch, Served, FreeSwitchBackend]]:
    fake = await FakeFreeSwitch().start()
    backend = FreeSwitchBackend(
        "127.0.0.1", fake.port, "ClueCon", outbound_port=0, profile="default", order_hold=0.0
    )
    config = Config(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'b.db'}")
    try:
        async with serve_app(
            config, backend=backend, clock=OffsetClock(), run_scheduler=False
        ) as app:
            await asyncio.wait_for(backend.ready.wait(), 5)
            yield fake, app, backend
    finally:
        await fake.close()


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="recorded ESL traffic not available")
async def test_events_end_to_end_and_cost_per_join(tmp_path: Path) -> None:
    async with _app(tmp_path) as (fake, app, backend):
        await _end_to_end_and_joins(fake, app, backend)


async def _end_to_end_and_joins(
    fake: FakeFreeSwitch, app: Served, backend: FreeSwitchBackend
) -> None:
    client, parts, key = app.client, app.parts, app.admin_key
    resp = await client.post(
        "/v1/conferences",
        json={"name": "bench", "dial_in": {"access_code": "4321"}, "max_participants": 40},
        headers={"Authorization": f"Bearer {key}"},
    )
    cid = (await resp.json())["id"]
    name = engine_name(cid)
    fake.alias(name, "room1")
    add = find_event(conference_events(), "add-member", Member_ID="2")
    assert backend.outbound is not None
    joins = 30
    start = time.perf_counter()
    for i in range(joins):
        uuid = f"00000000-0000-4000-8000-{i:012d}"
        caller = FakeFreeSwitchCaller("4321", caller_id=f"{2000 + i}", uuid=uuid)
        await caller.dial(backend.outbound.port)
        await caller.wait_for(b"execute-app-name: conference\n")
        frame = with_sequence(add, 50_000 + i).replace(ROOM1["Bob"][0].encode(), uuid.encode())
        target = backend.events_applied + 1
        await fake.push(frame)
        await until(lambda t=target: backend.events_applied >= t)  # type: ignore[misc]
        await backend.drained()
        await parts.observer.drain()
        await caller.close()
    per_join = (time.perf_counter() - start) / joins
    print(
        f"\nFreeSWITCH dial-in join (outbound socket + admission + add-member + store): "
        f"{joins} joins, {per_join * 1000:.1f} ms per join"
    )
    # the six recorded room1 callers' talking events, pointed at the joined callers
    members = [m for m in backend._members.values() if m.member_id is not None][:5]
    count = 2_000
    events = conference_events()
    template = find_event(events, "start-talking", Member_ID="2")
    frames = []
    for i in range(count):
        uuid = members[i % len(members)].uuid
        frame = template if i % 2 == 0 else template.replace(b"start-talking", b"stop-talking")
        frame = with_sequence(frame, 200_000 + i).replace(ROOM1["Bob"][0].encode(), uuid.encode())
        frames.append(frame)
    target = backend.events_applied + count
    start = time.perf_counter()
    await fake.push(*frames)
    await until(lambda: backend.events_applied >= target, 60)
    parsed = time.perf_counter() - start
    await backend.drained()
    await parts.observer.drain()
    applied = time.perf_counter() - start
    print(
        f"FreeSWITCH end to end: {count} talking events over the socket: "
        f"{count / parsed:,.0f} events/s parsed+applied by the backend, "
        f"{count / applied:,.0f} events/s applied into the app (SQLite, observer)"
    )
