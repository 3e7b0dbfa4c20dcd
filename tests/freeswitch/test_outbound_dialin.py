"""Dial-in through the outbound ESL socket, with the real application deciding.

The bridge runs with FreeSwitchBackend; FakeFreeSwitch plays FreeSWITCH's event
socket from the recording, FakeFreeSwitchCaller plays one call that the dialplan's
``socket`` application hands over (30-outbound-socket). Every admission outcome is
checked on the wire (what the call is told to do) and in the API and webhooks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from bridge_testing.wait import until
from engine_fixtures import (
    ROOM1,
    FakeFreeSwitch,
    FakeFreeSwitchCaller,
    caller_control_event,
    conference_events,
    executes,
    find_event,
    with_sequence,
)
from harness import Bridge
from receiver import WebhookReceiver

from bridge.app import PARTS, build_app
from bridge.config import Config
from bridge.core.clock import OffsetClock
from bridge.core.ids import engine_name
from bridge.pbx.freeswitch.backend import FreeSwitchBackend

pytestmark = pytest.mark.freeswitch

EVENTS = conference_events()
BOB = ROOM1["Bob"][0]


class Rig:
    def __init__(self, bridge: Bridge, fake: FakeFreeSwitch, backend: FreeSwitchBackend) -> None:
        self.bridge, self.fake, self.backend = bridge, fake, backend
        self.callers: list[FakeFreeSwitchCaller] = []
        self.sequence = 20_000

    async def dial(
        self, code: str, uuid: str = BOB, caller_id: str = "2001"
    ) -> FakeFreeSwitchCaller:
        assert self.backend.outbound is not None
        caller = FakeFreeSwitchCaller(code, caller_id=caller_id, uuid=uuid)
        self.callers.append(caller)
        await caller.dial(self.backend.outbound.port)
        return caller

    async def push(self, *frames: bytes) -> None:
        """Send recorded events and wait until the backend has applied them."""
        target = self.backend.events_applied + len(frames)
        for frame in frames:
            self.sequence += 1
            await self.fake.push(with_sequence(frame, self.sequence))
        await until(lambda: self.backend.events_applied >= target)

    async def conference(self, **body: Any) -> str:
        conf = await self.bridge.ok("POST", "/v1/conferences", 201, json={"name": "fs", **body})
        cid: str = conf["id"]
        self.fake.alias(engine_name(cid), "room1")
        return cid


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    fake = await FakeFreeSwitch().start()
    backend = FreeSwitchBackend(
        "127.0.0.1", fake.port, "ClueCon", outbound_port=0, profile="default",
        order_hold=0.0, pin_timeout=2.0,
    )  # fmt: skip
    config = Config(
        outbound_allowed_cidrs=("127.0.0.1/32",),  # the webhook receiver is on the loopback
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        webhook_retry_base_seconds=0.05,
        webhook_retry_cap_seconds=0.2,
        webhook_poll_seconds=0.2,
        webhook_timeout_seconds=2.0,
    )
    clock = OffsetClock()
    app = build_app(config, backend=backend, clock=clock, run_scheduler=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    parts = app[PARTS]
    assert parts.admin_key is not None
    await asyncio.wait_for(backend.ready.wait(), 5)
    rig = Rig(Bridge(client, parts, backend, clock, parts.admin_key), fake, backend)  # type: ignore[arg-type]
    try:
        yield rig
    finally:
        for caller in rig.callers:
            await caller.close()
        await client.close()
        await fake.close()


async def settled(rig: Rig) -> None:
    await rig.backend.drained()
    await rig.bridge.settle()


async def test_admitted_caller_joins_talks_presses_and_leaves(
    rig: Rig, receiver: WebhookReceiver
) -> None:
    cid = await rig.conference(dial_in={"access_code": "4321"}, status_callback_url=receiver.url)
    caller = await rig.dial("4321")
    await caller.wait_for(b"execute-app-name: conference\n")
    name = engine_name(cid)
    apps = executes(caller.commands)
    assert apps[0] == ("answer", None)
    assert ("set", "conference_controls=cb-digits") in apps
    assert ("set", "conference_permanent_wait_mod_moh=true") in apps
    assert apps[-1] == ("conference", f"{name}@default+flags{{moderator}}")
    assert caller.commands[:3] == [b"connect\n\n", b"myevents\n\n", b"linger\n\n"]
    [p] = (await rig.bridge.ok("GET", f"/v1/conferences/{cid}/participants"))["items"]
    assert p["status"] == "joining" and p["from"] == "2001"

    await rig.push(find_event(EVENTS, "add-member", Member_ID="2"))
    await rig.push(find_event(EVENTS, "start-talking", Member_ID="2"))
    await rig.push(caller_control_event(EVENTS, "7"))
    await settled(rig)
    got = await rig.bridge.ok("GET", f"/v1/conferences/{cid}/participants/{p['id']}")
    assert got["status"] == "joined" and got["talking"] is True
    assert (await rig.bridge.ok("GET", f"/v1/conferences/{cid}"))["status"] == "in_progress"

    await rig.push(find_event(EVENTS, "del-member", Member_ID="2"))
    await settled(rig)
    got = await rig.bridge.ok("GET", f"/v1/conferences/{cid}/participants/{p['id']}")
    assert got["status"] == "left" and got["leave_reason"] == "hangup"
    wanted = {"participant.joined", "participant.digit", "participant.left"}
    await receiver.wait_for(lambda rs: wanted <= {r.json["event"]["type"] for r in rs})
    # the conference application returned: the bridge hangs the call up, then says exit
    await caller.execute_complete("conference")
    await caller.wait_for(b"call-command: hangup\nhangup-cause: NORMAL_CLEARING")
    await caller.hang_up()
    await caller.wait_for(b"exit\n\n")


async def test_unknown_access_code_is_refused_as_unallocated(rig: Rig) -> None:
    caller = await rig.dial("9999")
    await caller.wait_for(b"hangup-cause: UNALLOCATED_NUMBER")
    assert executes(caller.commands) == []  # never answered


async def test_pin_is_collected_by_dtmf_and_checked(rig: Rig) -> None:
    cid = await rig.conference(dial_in={"access_code": "555", "pin": "1234"})
    caller = await rig.dial("555")
    await caller.wait_for(b"execute-app-arg: conference/conf-pin.wav")
    for digit in "1234#":
        await caller.press(digit)
    await caller.wait_for(b"execute-app-name: conference\n")
    [p] = (await rig.bridge.ok("GET", f"/v1/conferences/{cid}/participants"))["items"]
    assert p["status"] == "joining"


async def test_wrong_pin_three_times_is_rejected(rig: Rig) -> None:
    await rig.conference(dial_in={"access_code": "556", "pin": "1234"})
    caller = await rig.dial("556")
    for attempt in range(1, 4):
        await caller.wait_for(b"execute-app-arg: conference/conf-pin.wav", attempt)
        for digit in "0000#":
            await caller.press(digit)
        if attempt < 3:  # the bad-PIN prompt plays to its end before the PIN prompt
            await caller.wait_for(b"execute-app-arg: conference/conf-bad-pin.wav", attempt)
            await caller.execute_complete("playback", "conference/conf-bad-pin.wav")
    await caller.wait_for(b"hangup-cause: CALL_REJECTED")
    assert len(await caller.wait_for(b"conf-bad-pin.wav")) == 2


async def test_full_conference_refuses(rig: Rig) -> None:
    await rig.conference(dial_in={"access_code": "557"}, max_participants=1)
    first = await rig.dial("557", uuid=ROOM1["Alice"][0])
    await first.wait_for(b"execute-app-name: conference\n")
    second = await rig.dial("557", uuid=ROOM1["Carol"][0])
    await second.wait_for(b"hangup-cause: NORMAL_TEMPORARY_FAILURE")


def _start(rig: Rig, minutes: int) -> str:
    return (rig.bridge.clock.now() + timedelta(minutes=minutes)).strftime("%Y-%m-%d_%H:%M:%S")


async def test_reservation_not_started_busy_or_divert(rig: Rig) -> None:
    body = {"max_participants": 50, "start_time": _start(rig, 10), "duration": 15}
    await rig.bridge.ok("POST", "/v1/reservations", 201, json={
        **body, "conference_name": "Early1", "conference": {"dial_in": {"access_code": "777"}},
    })  # fmt: skip
    await rig.bridge.ok("POST", "/v1/reservations", 201, json={
        **body, "conference_name": "Early2", "divert": "sip:lobby@example.org",
        "conference": {"dial_in": {"access_code": "778"}},
    })  # fmt: skip
    busy = await rig.dial("777")
    await busy.wait_for(b"hangup-cause: USER_BUSY")
    diverted = await rig.dial("778", uuid=ROOM1["Carol"][0])
    await diverted.wait_for(b"hangup-cause: NORMAL_CLEARING")
    assert executes(diverted.commands) == [("redirect", "sip:lobby@example.org")]


async def test_lobby_caller_waits_with_own_media_until_the_start(rig: Rig) -> None:
    opts = {
        "start_on_entry": False,
        "while_stopped_media": {"play": {"file": "music/wait.wav"}},
    }
    cid = await rig.conference(
        dial_in={"access_code": "600", "participant_options": opts, "moderator_pin": "999",
                 "pin": "111", "moderator_options": {"start_on_entry": True}},
    )  # fmt: skip
    guest = await rig.dial("600")
    await guest.wait_for(b"conf-pin.wav")
    for digit in "111#":
        await guest.press(digit)
    await guest.wait_for(b"execute-app-name: endless_playback\nexecute-app-arg: music/wait.wav")
    await until(lambda: rig.backend.health()["lobby"] == 1)  # the playback reply is on its way
    await settled(rig)
    [p] = (await rig.bridge.ok("GET", f"/v1/conferences/{cid}/participants"))["items"]
    assert p["status"] == "joined"  # waiting in the lobby: joined for the API
    await guest.press("4")  # digits in the lobby still reach core

    boss = await rig.dial("600", uuid=ROOM1["Alice"][0])
    await boss.wait_for(b"conf-pin.wav")
    for digit in "999#":
        await boss.press(digit)
    await boss.wait_for(b"execute-app-name: conference\n")
    await rig.push(find_event(EVENTS, "add-member", Member_ID="1"))
    await settled(rig)
    assert (await rig.bridge.ok("GET", f"/v1/conferences/{cid}"))["status"] == "in_progress"
    # StartConference moved the guest in: conference queued, then the wait media broken
    await guest.wait_for(b"execute-app-name: conference\n")
    (brk,) = await guest.wait_for(b"api uuid_break")
    assert brk == b"api uuid_break " + BOB.encode() + b"\n\n"
    (app,) = [a for a in executes(guest.commands) if a[0] == "conference"]
    assert app == ("conference", f"{engine_name(cid)}@default")
    events = await rig.bridge.ok("GET", f"/v1/conferences/{cid}/events")
    digits = [x for x in events["items"] if x["type"] == "participant.digit"]
    assert [d["data"]["digit"] for d in digits] == ["4"]
