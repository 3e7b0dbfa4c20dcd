"""Dial-out (connect_to_conference): Originate with an answer timeout to a SIPp phone."""

from __future__ import annotations

import pytest
from live_bridge import Live
from sipp_phones import answerer, uas_scenario
from sipp_runner import sipp_available

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(not sipp_available(), reason="sipp (package sip-tester) is not installed"),
]


async def test_dial_out_answered_joins_and_eject_ends_it(live: Live) -> None:
    conf = await live.conference("8001")
    phone = answerer(live.workdir / "uas", uas_scenario(answer=True))
    live.phones.append(phone)
    target = f"sip:bob@127.0.0.1:{phone.port}"
    path = f"/v1/conferences/{conf['id']}/participants"
    p = await live.ok("POST", path, 201, json={"to": target, "seconds_answer_timeout": 10})
    assert p["status"] == "joining" and p["direction"] == "outbound"
    await live.wait_hooks(conf["id"], "participant.answered", "participant.joined")
    members = await live.pbx_members(conf["id"])
    assert len(members) == 1
    await live.ok("DELETE", f"{path}/{p['id']}")
    assert await phone.finished() == 0, phone.output()
    await live.wait_hooks(conf["id"], "participant.left")
    done = await live.get(conf["id"], p["id"])
    assert done["status"] == "left" and done["leave_reason"] == "kicked"
    assert done["seconds_connected_duration"] >= 0.0


async def test_dial_out_busy_fails_with_reason(live: Live) -> None:
    conf = await live.conference("8002")
    phone = answerer(live.workdir / "uas", uas_scenario(answer=False, final="486 Busy Here"))
    live.phones.append(phone)
    path = f"/v1/conferences/{conf['id']}/participants"
    body = {"to": f"sip:bob@127.0.0.1:{phone.port}", "seconds_answer_timeout": 10}
    p = await live.ok("POST", path, 201, json=body)
    await live.wait_hooks(conf["id"], "participant.failed")
    failed = await live.get(conf["id"], p["id"])
    assert failed["status"] == "failed" and failed["failure_reason"] == "busy"
    assert "participant.joined" not in live.hook_types(conf["id"])
    assert not live.backend.registry.by_participant


async def test_dial_out_not_answered_in_time_fails_no_answer(live: Live) -> None:
    conf = await live.conference("8003")
    ringing = uas_scenario(answer=False, final="486 Busy Here", ring_ms=30_000)
    phone = answerer(live.workdir / "uas", ringing)
    live.phones.append(phone)
    path = f"/v1/conferences/{conf['id']}/participants"
    body = {"to": f"sip:bob@127.0.0.1:{phone.port}", "seconds_answer_timeout": 2}
    p = await live.ok("POST", path, 201, json=body)
    await live.wait_hooks(conf["id"], "participant.failed", within=15)
    failed = await live.get(conf["id"], p["id"])
    assert failed["failure_reason"] == "no_answer"
