"""FAKE ESL: FreeSwitchBackend against FakeFreeSwitch, for faults the real FreeSWITCH
cannot be made to produce: a connection cut inside a frame, a reply that never comes,
garbage digits in an event.

Everything a real FreeSWITCH can show is tested on it (test_freeswitch_real_*.py): an
ESL cut and reconnect, commands during an outage, calls that ended meanwhile, hostile
dial targets, media and caller ids, a restarted bridge adopting the calls.
"""

from __future__ import annotations

import pytest
from bridge_testing.engine_fixtures import EVENTS, ROOM1, EslRig, esl_rig, find_event, with_sequence

from bridge.core import engine as e
from bridge.pbx.backend import EngineError

pytestmark = pytest.mark.freeswitch


async def test_drop_mid_event_reconnects_and_resyncs(rig: EslRig) -> None:
    pids = {rig.member(who).id for who in ROOM1}
    frame = with_sequence(find_event(EVENTS, "add-member", Member_ID="2"), 5000)
    await rig.fake.push_raw(frame[: len(frame) // 2])  # EOF inside the body
    rig.fake.drop()
    await rig.seen.wait(e.Snapshot, 2)
    # the second recorded `conference json_list` lists all six room1 callers
    assert rig.seen.of(e.Snapshot)[-1].present == {rig.conf.id: frozenset(pids)}
    assert rig.fake.connections == 2 and rig.backend.resyncs == 2
    assert rig.backend.health()["members"] == 6  # member ids cached from the listing


async def test_a_reply_that_never_comes_is_an_engine_error() -> None:
    async with esl_rig(command_timeout=0.3) as rig:
        bob = rig.member("Bob")
        await rig.fake.push(find_event(EVENTS, "add-member", Member_ID="2"))
        await rig.seen.wait(e.MemberJoined)
        rig.fake.silent.add(b"api conference " + rig.name.encode() + b" mute")
        with pytest.raises(EngineError, match="no reply"):
            await rig.backend.execute(e.SetMute(rig.conf, bob, True))


async def test_bad_digits_in_events_are_not_reported(rig: EslRig) -> None:
    bob = rig.member("Bob")
    await rig.fake.push(find_event(EVENTS, "add-member", Member_ID="2"))
    frame = find_event(EVENTS, "dtmf-member").replace(b"Action: dtmf-member", b"Action: dtmf")
    frame = frame.replace(b"Digits: 1234", b"DTMF-Key: x%0A5")
    await rig.fake.push(with_sequence(frame, 9000))
    digits = await rig.seen.wait(e.DigitPressed)
    assert digits == [e.DigitPressed(bob.id, "5")]
