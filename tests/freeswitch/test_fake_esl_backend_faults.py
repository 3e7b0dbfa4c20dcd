"""FAKE ESL: FreeSwitchBackend against FakeFreeSwitch, for faults the real FreeSWITCH
cannot be made to produce: a connection cut inside a frame, a reply that never comes,
garbage digits in an event.

Everything a real FreeSWITCH can show is tested on it (test_freeswitch_real_*.py): an
ESL cut and reconnect, commands during an outage, calls that ended meanwhile, hostile
dial targets, media and caller ids, a restarted bridge adopting the calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from bridge_testing.engine_fixtures import (
    ROOM1,
    FakeFreeSwitch,
    NoRouter,
    Observations,
    StubSession,
    conference_events,
    find_event,
    make_conference,
    make_participant,
    with_sequence,
)

from bridge.core import engine as e
from bridge.core.ids import engine_name
from bridge.core.models import Conference, ConferenceStatus
from bridge.pbx.backend import EngineError
from bridge.pbx.freeswitch.backend import FreeSwitchBackend

pytestmark = pytest.mark.freeswitch

EVENTS = conference_events()


@pytest.fixture
async def fake() -> AsyncIterator[FakeFreeSwitch]:
    server = await FakeFreeSwitch().start()
    yield server
    await server.close()


async def started(fake: FakeFreeSwitch, **kw: float) -> tuple[FreeSwitchBackend, Observations]:
    backend = FreeSwitchBackend(
        "127.0.0.1", fake.port, "ClueCon", outbound_port=None, profile="default",
        order_hold=0.0, backoff_initial=0.05, **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    seen = Observations()
    await backend.start(seen, NoRouter())
    await asyncio.wait_for(backend.ready.wait(), 5)
    return backend, seen


def room1_members(
    backend: FreeSwitchBackend, names: list[str]
) -> tuple[dict[str, str], Conference]:
    """Register recorded room1 callers as ours; returns (name -> participant id, conference)."""
    conf = make_conference(status=ConferenceStatus.IN_PROGRESS)
    out: dict[str, str] = {}
    for name in names:
        p = make_participant(conf, call_ref=ROOM1[name][0])
        backend.admitted(conf, p, StubSession(ROOM1[name][0]))  # type: ignore[arg-type]
        out[name] = p.id
    return out, conf


async def test_drop_mid_event_reconnects_and_resyncs(fake: FakeFreeSwitch) -> None:
    backend, seen = await started(fake)
    pids, conf = room1_members(backend, list(ROOM1))
    fake.alias(engine_name(conf.id), "room1")
    frame = with_sequence(find_event(EVENTS, "add-member", Member_ID="2"), 5000)
    await fake.push_raw(frame[: len(frame) // 2])  # EOF inside the body
    fake.drop()
    await seen.wait(e.Snapshot, 2)
    # the second recorded `conference json_list` lists all six room1 callers
    assert seen.of(e.Snapshot)[-1].present == {conf.id: frozenset(pids.values())}
    assert fake.connections == 2 and backend.resyncs == 2
    assert backend.health()["members"] == 6  # member ids cached from the listing
    await backend.stop()


async def test_a_reply_that_never_comes_is_an_engine_error(fake: FakeFreeSwitch) -> None:
    backend, seen = await started(fake, command_timeout=0.3)
    pids, conf = room1_members(backend, ["Bob"])
    fake.alias(engine_name(conf.id), "room1")
    await fake.push(find_event(EVENTS, "add-member", Member_ID="2"))
    await seen.wait(e.MemberJoined)
    fake.silent.add(b"api conference " + engine_name(conf.id).encode() + b" mute")
    bob = make_participant(conf, id=pids["Bob"])
    with pytest.raises(EngineError, match="no reply"):
        await backend.execute(e.SetMute(conf, bob, True))
    await backend.stop()


async def test_bad_digits_in_events_are_not_reported(fake: FakeFreeSwitch) -> None:
    backend, seen = await started(fake)
    pids, conf = room1_members(backend, ["Bob"])
    fake.alias(engine_name(conf.id), "room1")
    await fake.push(find_event(EVENTS, "add-member", Member_ID="2"))
    frame = find_event(EVENTS, "dtmf-member").replace(b"Action: dtmf-member", b"Action: dtmf")
    frame = frame.replace(b"Digits: 1234", b"DTMF-Key: x%0A5")
    await fake.push(with_sequence(frame, 9000))
    digits = await seen.wait(e.DigitPressed)
    assert digits == [e.DigitPressed(pids["Bob"], "5")]
    await backend.stop()
