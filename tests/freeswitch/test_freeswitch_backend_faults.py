"""FreeSwitchBackend when things go wrong: drops, cut frames, silence, lost events, bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from bridge_testing.wait import until
from engine_fixtures import (
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
from bridge.core.models import Conference, ConferenceStatus, MediaItem, ParticipantOptions
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


async def test_lost_events_resync_forgets_who_left_meanwhile(fake: FakeFreeSwitch) -> None:
    """FreeSWITCH kills a listener that lost more than 500 events; after the reconnect
    the listing is the truth: whoever is not in it is gone."""
    backend, seen = await started(fake)
    pids, conf = room1_members(backend, ["Alice", "Bob"])
    fake.alias(engine_name(conf.id), "room1")
    await fake.push(find_event(EVENTS, "add-member", Member_ID="1"))
    await seen.wait(e.MemberJoined)
    bob = {"type": "caller", "id": 2, "uuid": ROOM1["Bob"][0]}
    listing = json.dumps([{"conference_name": "room1", "conference_uuid": "a9f9672c",
                           "members": [bob]}]).encode()  # fmt: skip
    fake.overrides[b"api conference json_list\n\n"] = listing
    fake.drop()
    await seen.wait(e.Snapshot, 2)
    assert seen.of(e.Snapshot)[-1].present == {conf.id: frozenset({pids["Bob"]})}
    assert pids["Alice"] not in backend._by_participant
    await backend.stop()


async def test_resync_after_a_bridge_restart_finds_participants_by_channel_variable(
    fake: FakeFreeSwitch,
) -> None:
    conf = make_conference()
    name = engine_name(conf.id)
    members = [
        {"type": "caller", "id": 7, "uuid": ROOM1["Bob"][0]},
        {"type": "recording_node", "id": 8, "uuid": "x"},
    ]
    listing = json.dumps(
        [{"conference_name": name, "conference_uuid": "u1", "members": members}]
    ).encode()
    fake.overrides[b"api conference json_list\n\n"] = listing
    fake.overrides[
        b"api uuid_getvar 254b4bca-5f90-4b62-9ae3-8ce56cd6eaf4 bridge_participant_id\n\n"
    ] = b"pa_01abcdefghjkmnpqrstvwxyz0"
    backend, seen = await started(fake)
    assert seen.of(e.Snapshot) == [
        e.Snapshot({conf.id: frozenset({"pa_01abcdefghjkmnpqrstvwxyz0"})})
    ]
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


async def test_commands_while_disconnected_fail_fast(fake: FakeFreeSwitch) -> None:
    backend, _ = await started(fake)
    await fake.close()
    fake.drop()
    await until(lambda: backend.health()["esl"] != "connected")
    conf = make_conference()
    with pytest.raises(EngineError, match="not connected"):
        await backend.execute(e.EndConference(conf))
    await backend.stop()


@pytest.mark.parametrize(
    "to",
    [
        "1001\r\napi hupall",
        "sofia/gw/x 1001",
        "a{b}",
        "x,origination_uuid=1",
        "bob&park()",
        "sofia/gateway/carrier/1001",
        "loopback/9999",
        "user/1001",
        "${system(touch /tmp/cb-x)}",
        "sip:bob@example.org;transport=tcp",
    ],
)
async def test_bad_dial_targets_never_reach_the_wire(fake: FakeFreeSwitch, to: str) -> None:
    backend, _ = await started(fake)
    conf = make_conference()
    mark = len(fake.requests)
    with pytest.raises(EngineError):
        await backend.execute(e.Originate(conf, make_participant(conf, to=to)))
    assert fake.requests[mark:] == []
    await backend.stop()


@pytest.mark.parametrize(
    "media",
    [
        MediaItem("play", file="a b.wav"),
        MediaItem("play", file="x.wav\napi hupall"),
        MediaItem("play", file="../../etc/passwd"),
        MediaItem("say", text="hi\r\nbgapi hupall"),
        MediaItem("say", text="${system(touch /tmp/cb-x)}"),
        MediaItem("say", text="it's {a|b}"),
        MediaItem("play", file="shell_stream:///bin/true"),
        MediaItem("play", file="/etc/passwd"),
        MediaItem("play", file="say:hello"),
    ],
)
async def test_bad_media_never_reaches_the_wire(fake: FakeFreeSwitch, media: MediaItem) -> None:
    backend, seen = await started(fake)
    _, conf = room1_members(backend, ["Bob"])
    fake.alias(engine_name(conf.id), "room1")
    await fake.push(find_event(EVENTS, "add-member", Member_ID="2"))
    await seen.wait(e.MemberJoined)
    mark = len(fake.requests)
    with pytest.raises(EngineError):
        await backend.execute(e.Play(conf, (media,), None, "an_x"))
    assert fake.requests[mark:] == []
    await backend.stop()


@pytest.mark.parametrize("from_", ["Evil Caller\n", "${log(CRIT x)}", "1001,x=y", "{a=b}"])
async def test_bad_caller_ids_refuse_the_originate(fake: FakeFreeSwitch, from_: str) -> None:
    backend, _ = await started(fake)
    conf = make_conference()
    p = make_participant(conf, to="1001", from_=from_, options=ParticipantOptions())
    mark = len(fake.requests)
    with pytest.raises(EngineError):
        await backend.execute(e.Originate(conf, p))
    assert fake.requests[mark:] == []
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
