"""API actions on live calls, carried out by the real FreeSWITCH: what FreeSWITCH's own
member list (``conference json_list``) says after each one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bridge_testing.live_app import Live, start_live
from bridge_testing.real_freeswitch import FreeSwitchProcess
from bridge_testing.wait import until
from fs_members import conference_name, dial_out_member, member_flags, members

pytestmark = [pytest.mark.freeswitch, pytest.mark.freeswitch_real]


@pytest.fixture
async def live(freeswitch: FreeSwitchProcess, tmp_path: Path) -> AsyncIterator[Live]:
    async with start_live(freeswitch, tmp_path) as app:
        yield app


async def test_mute_deaf_and_hold_reach_the_member(live: Live) -> None:
    conf_id, pid = await dial_out_member(live, "7401")
    path = f"/v1/conferences/{conf_id}/participants/{pid}"

    def flags() -> dict[str, Any]:
        return member_flags(live.fs, conf_id)

    for change, check in (
        ({"muted": True}, lambda f: f["can_speak"] is False),
        ({"muted": False}, lambda f: f["can_speak"] is True),
        ({"deaf": True}, lambda f: f["can_hear"] is False),
        ({"listen": True}, lambda f: f["can_hear"] is True),
        # held: out of the mix both ways (the bridge deafens it too), and back
        ({"hold": True}, lambda f: f["hold"] is True and f["can_hear"] is False),
        ({"hold": False}, lambda f: f["hold"] is False and f["can_hear"] is True),
    ):
        got = await live.ok("PATCH", path, change)
        assert all(got[k] == v for k, v in change.items()), got
        await until(lambda check=check: check(flags()), what=f"{change} on FreeSWITCH")  # type: ignore[misc]
    await live.ok("DELETE", path)
    await live.wait_participant(conf_id, pid, "left")
    assert members(live.fs, conf_id) == []
    await live.ok("DELETE", f"/v1/conferences/{conf_id}")


async def test_talker_false_stays_muted_whoever_unmutes_it(live: Live) -> None:
    conf = await live.ok(
        "POST", "/v1/conferences", {"name": "listen", "dial_in": {"access_code": "7402"}}, 201
    )
    p = await live.ok(
        "POST",
        f"/v1/conferences/{conf['id']}/participants",
        {"to": "park", "participant": {"talker": False}},
        201,
    )
    await live.wait_participant(conf["id"], p["id"], "joined")
    assert member_flags(live.fs, conf["id"])["can_speak"] is False
    name = conference_name(live.fs, conf["id"])
    member_id = members(live.fs, conf["id"])[0]["id"]
    assert "OK" in live.fs.api(f"conference {name} unmute {member_id}")
    await until(
        lambda: member_flags(live.fs, conf["id"])["can_speak"] is False,
        what="muted again by the bridge",
    )
    assert (await live.participant(conf["id"], p["id"]))["muted"] is True
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")


async def test_ending_the_conference_ends_its_calls(live: Live) -> None:
    conf_id, first = await dial_out_member(live, "7403")
    second = await live.ok("POST", f"/v1/conferences/{conf_id}/participants", {"to": "park"}, 201)
    await live.wait_participant(conf_id, second["id"], "joined")
    channels = [str(m["uuid"]) for m in members(live.fs, conf_id)]
    assert len(channels) == 2
    await live.ok("DELETE", f"/v1/conferences/{conf_id}")
    for pid in (first, second["id"]):
        await live.wait_participant(conf_id, pid, "left")
    await until(lambda: members(live.fs, conf_id) == [], what="no members left on FreeSWITCH")
    await until(
        lambda: not any(c in live.fs.api("show channels") for c in channels),
        what="both calls hung up",
    )


async def test_a_dial_out_freeswitch_cannot_place_fails_with_a_reason(live: Live) -> None:
    conf = await live.ok(
        "POST", "/v1/conferences", {"name": "fail", "dial_in": {"access_code": "7404"}}, 201
    )
    # no extension 7404999 in the tree's default context: loopback/ finds no route
    p = await live.ok("POST", f"/v1/conferences/{conf['id']}/participants", {"to": "7404999"}, 201)
    failed = await live.wait_participant(conf["id"], p["id"], "failed")
    # FreeSWITCH's cause (NO_ROUTE_DESTINATION) maps to ours
    assert failed["failure_reason"] == "rejected", failed
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")
