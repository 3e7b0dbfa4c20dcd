"""Smoke tests against a real Asterisk running our dialplan/ files."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from bridge_testing.ami_test_client import AmiTestClient, next_action_id
from bridge_testing.asterisk_pbx import AMI_USER, AsteriskProcess
from bridge_testing.sipp import sipp_available, start_sipp
from bridge_testing.wait import Not, until

from bridge.pbx.asterisk.fastagi import AgiSession, FastAgiServer
from bridge.protocols import ami
from bridge.protocols.ami import AmiEvent, AmiParser
from bridge.protocols.safe import UnsafeValueError

pytestmark = pytest.mark.asterisk

DATA = Path(__file__).resolve().parent / "data"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def _record_capture(name: str, data: bytes) -> None:
    """With BRIDGE_RECORD_AMI_CAPTURES=1, refresh tests/asterisk/data/<name>."""
    if os.environ.get("BRIDGE_RECORD_AMI_CAPTURES") == "1":
        (DATA / name).write_bytes(data)


def _is(name: str, conference: str) -> Callable[[AmiEvent], bool]:
    def match(event: AmiEvent) -> bool:
        return event.name == name and event.get("Conference") == conference

    return match


async def test_login_and_list_rooms_through_our_codec(ami_client: AmiTestClient) -> None:
    assert ami_client.banner is not None and ami_client.banner.version
    pong = await ami_client.send(ami.ping(next_action_id()))
    assert pong.ok and pong.response is not None and pong.response.get("Ping") == "Pong"
    # Nothing running: Asterisk answers an error that the tracker maps to []. The session's
    # Asterisk is shared, so the last call of an earlier test may still be hanging up.

    async def no_rooms() -> bool | Not:
        rooms = await ami_client.send(ami.confbridge_list_rooms(next_action_id()))
        assert rooms.ok
        return rooms.events == () or Not([dict(e.headers) for e in rooms.events])

    await until(no_rooms, 20, "no ConfBridge room left open", every=0.2)


async def test_wrong_secret_is_refused(asterisk: AsteriskProcess) -> None:
    with pytest.raises(ConnectionError, match="Authentication failed"):
        await AmiTestClient.connect("127.0.0.1", asterisk.ports.ami, AMI_USER, "wrong-secret")


async def test_list_rooms_through_panoramisk(asterisk: AsteriskProcess) -> None:
    from panoramisk import Manager

    manager = Manager(
        loop=asyncio.get_running_loop(),
        host="127.0.0.1",
        port=asterisk.ports.ami,
        username=AMI_USER,
        secret=asterisk.secret,
        events="off",
        ping_delay=60,
    )
    try:
        await manager.connect()
        async with asyncio.timeout(10):
            reply = await manager.send_action({"Action": "ConfbridgeListRooms"})
        messages = reply if isinstance(reply, list) else [reply]
        assert messages[0].Response == "Error"
        assert messages[0].Message == "No active conferences."
    finally:
        manager.close()


async def test_crlf_value_is_refused_before_anything_is_sent(ami_client: AmiTestClient) -> None:
    sent = ami_client.bytes_sent
    with pytest.raises(UnsafeValueError):
        ami.confbridge_kick("cb-1\r\nAction: Originate", "all", next_action_id())
    with pytest.raises(UnsafeValueError):
        ami.originate(
            "Local/wait@bridge-anchor",
            next_action_id(),
            application="ConfBridge",
            variables={"BRIDGE_CONF": ("cb-1\nAction: Hangup", "name")},
        )
    assert ami_client.bytes_sent == sent
    # The stream is still in step: the next action gets its own answer.
    assert (await ami_client.send(ami.ping(next_action_id()))).ok


async def test_originate_local_channel_into_confbridge(ami_client: AmiTestClient) -> None:
    conference = "cb-smoke-originate"
    since = ami_client.mark()
    result = await ami_client.send(
        ami.originate(
            "Local/wait@bridge-anchor",
            next_action_id(),
            application="ConfBridge",
            data=[(conference, "name"), ("cb_bridge", "name"), ("cb_user", "name")],
            variables={"BRIDGE_CONF": (conference, "name")},
        ),
        within=15,
    )
    assert result.ok, result
    join = await ami_client.wait_event(_is("ConfbridgeJoin", conference), since=since)
    channel = join.get("Channel") or ""
    assert channel.startswith("Local/wait@bridge-anchor-") and channel.endswith(";1")

    listing = await ami_client.send(ami.confbridge_list(conference, next_action_id()))
    assert listing.ok
    assert [e.get("Channel") for e in listing.events] == [channel]
    rooms = await ami_client.send(ami.confbridge_list_rooms(next_action_id()))
    assert [(e.get("Conference"), e.get("Parties")) for e in rooms.events] == [(conference, "1")]

    muted = await ami_client.send(ami.confbridge_mute(conference, channel, next_action_id()))
    assert muted.ok
    await ami_client.wait_event(_is("ConfbridgeMute", conference), since=since)

    kicked = await ami_client.send(ami.confbridge_kick(conference, "all", next_action_id()))
    assert kicked.ok
    await ami_client.wait_event(_is("ConfbridgeLeave", conference), since=since)
    await ami_client.wait_event(_is("ConfbridgeEnd", conference), since=since)
    gone = await ami_client.send(ami.confbridge_list(conference, next_action_id()))
    assert gone.ok and gone.events == ()

    # The bytes Asterisk really sent parse the same whole and one byte at a time.
    raw = bytes(ami_client.received)
    _record_capture("originate_confbridge.ami", raw)
    whole = AmiParser().feed(raw)
    parser = AmiParser()
    trickled = [m for i in range(len(raw)) for m in parser.feed(raw[i : i + 1])]
    assert trickled == whole


async def test_unprivileged_actions_are_refused(ami_client: AmiTestClient) -> None:
    # Least privilege: ConfbridgeStartRecord needs write=system, which we never grant.
    refused = await ami_client.send(ami.confbridge_start_record("cb-none", next_action_id()))
    assert not refused.ok
    assert "Permission denied" in refused.message


@pytest.mark.skipif(not sipp_available(), reason="sipp (package sip-tester) is not installed")
async def test_sipp_call_joins_through_fastagi_and_leaves(
    asterisk: AsteriskProcess, ami_client: AmiTestClient, tmp_path: Path
) -> None:
    conference = "cb-smoke-sipp"
    seen: list[AgiSession] = []

    async def route(session: AgiSession) -> None:
        seen.append(session)
        await session.set_variable("BRIDGE_CONF", conference, "name")
        await session.set_variable("BRIDGE_USER_PROFILE", "cb_user", "name")
        await session.set_variable("BRIDGE_MENU", "cb_menu_bridge_dtmf", "name")

    since = ami_client.mark()
    async with FastAgiServer(route, port=asterisk.ports.agi):
        call = start_sipp(
            tmp_path / "sipp", ("127.0.0.1", asterisk.ports.sip), "4242",
            scenario="uac_pcmu_dtmf.xml", scenarios=SCENARIOS, tone_hz=440.0, timeout=30,
        )  # fmt: skip
        try:
            join = await ami_client.wait_event(_is("ConfbridgeJoin", conference), since=since)
            channel = join.get("Channel") or ""
            assert channel.startswith("PJSIP/bridge-loopback-")
            listing = await ami_client.send(ami.confbridge_list(conference, next_action_id()))
            assert [e.get("Channel") for e in listing.events] == [channel]

            # DTMF in the bridge: the no_op menu swallows the digit, AMI reports it.
            digit = await ami_client.wait_event(
                lambda e: (
                    e.name == "DTMFEnd"
                    and e.get("Channel") == channel
                    and e.get("Direction") == "Received"
                ),
                since=since,
            )
            assert digit.get("Digit") == "1"

            await ami_client.wait_event(_is("ConfbridgeLeave", conference), since=since)
            # this call's: one an earlier test hung up may still be finishing
            result = await ami_client.wait_event(
                lambda e: (
                    e.name == "UserEvent"
                    and e.get("UserEvent") == "BridgeConfLeave"
                    and e.get("Uniqueid") == join.get("Uniqueid")
                ),
                since=since,
            )
            assert result.get("Result") == "HANGUP"
            assert await asyncio.to_thread(call.wait, 30) == 0, call.output()
            _record_capture("sipp_confbridge_dtmf.ami", bytes(ami_client.received))
        finally:
            call.stop()
    assert len(seen) == 1
    assert seen[0].env.script == "dialin"
    assert seen[0].env.args == ("4242",)
    assert seen[0].env.channel == channel
