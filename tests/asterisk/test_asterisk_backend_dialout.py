"""Dial-out (connect_to_conference): Originate with an answer timeout to a SIPp phone, and
to a number through the trunk the operator configured (ami_dial_endpoint)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from bridge_testing.ami_test_client import AmiTestClient
from bridge_testing.asterisk_pbx import AsteriskProcess
from bridge_testing.sipp import sipp_available
from bridge_testing.sipp_phone import answerer, uas_scenario
from live_bridge import Live, running_bridge

from bridge.app import make_backend
from bridge.config import load
from bridge.pbx.asterisk import mapping
from bridge.pbx.asterisk.backend import AsteriskBackend

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
    # the span from joined_at to left_at (a participant that never joined reports 0.0)
    span = datetime.fromisoformat(done["left_at"]) - datetime.fromisoformat(done["joined_at"])
    assert done["seconds_connected_duration"] == round(span.total_seconds(), 1)


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


@pytest.fixture
async def via_carrier(
    asterisk: AsteriskProcess, ami_client: AmiTestClient, receiver: Any, tmp_path: Path
) -> AsyncIterator[Live]:
    """The bridge with its dial-outs going through the test trunk `bridge-test-carrier`, set
    the way an operator sets it (ami_dial_endpoint, here from the environment)."""
    config = load(
        environ={"BRIDGE_ENGINE": "asterisk", "BRIDGE_AMI_DIAL_ENDPOINT": "bridge-test-carrier"}
    )
    built = make_backend(config)
    assert isinstance(built, AsteriskBackend)
    assert mapping.dial_channel("+15551230", built._dial_endpoint) == (
        "PJSIP/+15551230@bridge-test-carrier"
    )
    async with running_bridge(
        asterisk, ami_client, receiver, tmp_path, dial_endpoint=config.ami_dial_endpoint
    ) as live:
        yield live


async def test_dial_out_to_a_number_leaves_through_the_configured_trunk(
    via_carrier: Live, asterisk: AsteriskProcess
) -> None:
    live = via_carrier
    conf = await live.conference("8004")
    phone = answerer(
        live.workdir / "carrier", uas_scenario(answer=True), port=asterisk.ports.carrier, trace=True
    )
    live.phones.append(phone)
    path = f"/v1/conferences/{conf['id']}/participants"
    p = await live.ok("POST", path, 201, json={"to": "+15551230", "seconds_answer_timeout": 10})
    await live.wait_hooks(conf["id"], "participant.answered", "participant.joined")
    assert len(await live.pbx_members(conf["id"])) == 1
    assert "INVITE sip:+15551230@127.0.0.1" in phone.messages(), phone.messages()[-2000:]
    await live.ok("DELETE", f"{path}/{p['id']}")
    assert await phone.finished() == 0, phone.output()
    await live.wait_hooks(conf["id"], "participant.left")
