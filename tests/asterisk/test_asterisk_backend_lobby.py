"""Latched start through the lobby, destroy_on_exit, listen=false and hold, on real calls."""

from __future__ import annotations

import pytest
from bridge_testing.ami_test_client import next_action_id
from bridge_testing.sipp import sipp_available
from bridge_testing.wait import Not, until
from live_bridge import Live

from bridge.pbx.asterisk.location import Where
from bridge.protocols import ami

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(not sipp_available(), reason="sipp (package sip-tester) is not installed"),
]

WAIT_MEDIA = {"play": {"file": "conf-waitforleader"}}


def _pin(digits: str) -> tuple[tuple[str, str | int], ...]:
    return (("pause", 300), *[("digit", d) for d in digits + "#"])


async def _channels(live: Live) -> list[ami.AmiEvent]:
    result = await live.ami.send(ami.core_show_channels(next_action_id()))
    assert result.ok, result
    return list(result.events)


async def _members(live: Live, conf_id: str, count: int, within: float = 15.0) -> list[str]:

    async def counted() -> list[str] | Not:
        names = [m.get("Channel") or "" for m in await live.pbx_members(conf_id)]
        return names if len(names) == count else Not(names)

    return await until(counted, within, f"{count} members in ConfbridgeList")


def _conference_body(**moderator: object) -> dict[str, object]:
    return {
        "dial_in": {
            "pin": "123",
            "moderator_pin": "456",
            "participant_options": {"start_on_entry": False, "while_stopped_media": WAIT_MEDIA},
            "moderator_options": {"start_on_entry": True, **moderator},
        }
    }


async def test_lobby_waits_with_own_media_until_start_and_start_latches(live: Live) -> None:
    conf = await live.conference("6001", **_conference_body())
    waiting = live.phone("6001", steps=_pin("123"))
    [p] = await live.wait_participants(conf["id"], 1, within=30)
    assert (await live.get(conf["id"]))["status"] == "populated"
    call = await until(lambda: live.backend.registry.by_participant.get(p["id"]))
    await until(lambda: call.where == Where.LOBBY, what="caller in the lobby")
    # outside the bridge, hearing its own wait media
    assert await live.pbx_members(conf["id"]) == []
    [chan] = [c for c in await _channels(live) if c.get("Uniqueid") == call.uniqueid]
    assert chan.get("Application") == "Playback"
    assert "conf-waitforleader" in (chan.get("ApplicationData") or "")

    moderator = live.phone("6001", steps=(*_pin("456"), ("pause", 1500)), wait_for_bye_ms=1)
    await live.wait_status(conf["id"], "in_progress", within=30)
    await _members(live, conf["id"], 2)
    assert call.where == Where.CONF
    # the moderator leaves: the conference stays started, the caller stays in the mix
    assert await moderator.finished() == 0, moderator.output()
    await _members(live, conf["id"], 1)
    assert (await live.get(conf["id"]))["status"] == "in_progress"
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")
    assert await waiting.finished() == 0, waiting.output()
    await live.wait_status(conf["id"], "terminated")
    await live.wait_hooks(conf["id"], "participant.left", "participant.left")
    # the lobby -> conference move is internal: one joined and one left per participant
    types = live.hook_types(conf["id"])
    assert types.count("participant.joined") == 2 and types.count("participant.left") == 2


async def test_destroy_on_exit_ends_everyones_call(live: Live) -> None:
    conf = await live.conference("6002", **_conference_body(destroy_on_exit=True))
    other = live.phone("6002", steps=_pin("123"))
    await live.wait_participants(conf["id"], 1, within=30)
    # the leader stays long enough for both to be seen in the bridge on a loaded machine
    leader = live.phone("6002", steps=(*_pin("456"), ("pause", 5000)), wait_for_bye_ms=1)
    await _members(live, conf["id"], 2)
    assert await leader.finished() == 0, leader.output()
    assert await other.finished() == 0, other.output()
    await live.wait_status(conf["id"], "terminated")
    assert await live.pbx_members(conf["id"]) == []
    reasons = sorted(p["leave_reason"] for p in await live.participants(conf["id"], status="left"))
    assert reasons == ["conference_ended", "hangup"]


async def test_listen_false_and_hold_move_out_and_back_without_leave_events(live: Live) -> None:
    conf = await live.conference("6003")
    phone = live.phone("6003")
    [p] = await live.wait_participants(conf["id"], 1)
    call = await until(lambda: live.backend.registry.by_participant.get(p["id"]))
    await until(lambda: call.where == Where.CONF)
    path = f"/v1/conferences/{conf['id']}/participants/{p['id']}"

    await live.ok("PATCH", path, json={"listen": False})
    await until(lambda: call.where == Where.HOLD, what="deaf caller held")
    assert await live.pbx_members(conf["id"]) == []
    assert (await live.get(conf["id"], p["id"]))["deaf"] is True
    await live.ok("PATCH", path, json={"listen": True})
    await _members(live, conf["id"], 1)

    media = {"play": {"file": "conf-waitforleader"}}
    await live.ok("PATCH", path, json={"hold": True, "hold_media": media})
    await until(lambda: call.where == Where.HOLD, what="caller on hold")
    [chan] = [c for c in await _channels(live) if c.get("Uniqueid") == call.uniqueid]
    assert "conf-waitforleader" in (chan.get("ApplicationData") or "")
    await live.ok("PATCH", path, json={"hold": False})
    await _members(live, conf["id"], 1)

    types = live.hook_types(conf["id"])
    assert types.count("participant.joined") == 1
    assert "participant.left" not in types
    await live.ok("DELETE", path)
    assert await phone.finished() == 0, phone.output()
    await live.wait_hooks(conf["id"], "participant.left")
    assert live.hook_types(conf["id"]).count("participant.joined") == 1
