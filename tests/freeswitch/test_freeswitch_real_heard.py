"""Heard by a real caller of the real FreeSWITCH, not only seen in the API: a waiting
caller hears its own wait media (played again and again in the lobby) until the conference
starts; a silent entry (play_beep never) joins with no entry tone, where play_beep
always plays it. Callers are our own SIP phone (bridge_testing/heard.py), silent themselves so
that only FreeSWITCH's audio is in what they receive."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bridge_testing.heard import (
    HEARD,
    SILENT,
    SipPhone,
    burst_amplitude,
    hears,
    new_phone,
    phone_set,
)
from bridge_testing.heard import freeswitch_tone as tone_file
from bridge_testing.live_app import Live, start_live
from bridge_testing.real_freeswitch import FreeSwitchProcess
from bridge_testing.wait import until
from fs_members import members

pytestmark = [pytest.mark.freeswitch, pytest.mark.freeswitch_real]

WAIT_HZ = 1700
# FreeSWITCH's entry sound in freeswitch-conf's profile: tone_stream://%(200,0,500,600,700)
ENTRY_HZ = (500.0, 600.0, 700.0)


@pytest.fixture
async def live(freeswitch: FreeSwitchProcess, tmp_path: Path) -> AsyncIterator[Live]:
    async with start_live(freeswitch, tmp_path) as app:
        yield app


@pytest.fixture
async def callers() -> AsyncIterator[list[SipPhone]]:
    async with phone_set() as phones:
        yield phones


async def _dial(live: Live, callers: list[SipPhone], code: str) -> SipPhone:
    phone = await new_phone(f"caller{len(callers)}", into=callers)
    assert await phone.call(("127.0.0.1", live.fs.ports.sip), code, within=10.0) == 200
    return phone


async def test_a_waiting_caller_hears_its_wait_media_until_the_start(
    live: Live, callers: list[SipPhone]
) -> None:
    wait = tone_file(live.fs, WAIT_HZ)
    conf = await live.ok(
        "POST",
        "/v1/conferences",
        {
            "name": "lobby",
            "dial_in": {
                "access_code": "7501",
                "participant_options": {
                    "start_on_entry": False,
                    "while_stopped_media": {"play": {"file": wait}},
                },
            },
        },
        201,
    )
    conf_id = conf["id"]
    mark = time.monotonic()
    guest = await _dial(live, callers, "7501")
    await hears(guest, WAIT_HZ, mark)
    # waiting in the lobby: joined for the API, not yet a member on FreeSWITCH
    joined = await live.wait_event(conf_id, "participant.joined")
    assert members(live.fs, conf_id) == []
    guest.send_digits("4")  # digits in the lobby still reach the application
    digit = await live.wait_event(conf_id, "participant.digit")
    assert digit["data"]["digit"] == "4", digit
    # a starting participant arrives: the guest leaves the lobby for the conference
    boss = await live.ok(
        "POST",
        f"/v1/conferences/{conf_id}/participants",
        {"to": "park", "participant": {"start_on_entry": True}},
        201,
    )
    await live.wait_participant(conf_id, boss["id"], "joined")
    await live.wait_conference(conf_id, "in_progress")
    await until(lambda: len(members(live.fs, conf_id)) == 2, what="the guest moved in")
    after = await guest.listen(1.0)
    assert burst_amplitude(after, WAIT_HZ) < SILENT, "the wait media goes on after the start"
    assert (await live.participant(conf_id, joined["participant_id"]))["status"] == "joined"
    await live.ok("DELETE", f"/v1/conferences/{conf_id}")


@pytest.mark.parametrize(("play_beep", "code"), [("never", "7502"), ("always", "7503")])
async def test_entry_tone_is_heard_only_when_the_conference_beeps(
    live: Live, callers: list[SipPhone], play_beep: str, code: str
) -> None:
    """A dial-out member is there first; then a caller dials in. With play_beep always it
    hears FreeSWITCH's entry tone (the control: the check can fail); with never it hears
    none of the tone's frequencies, and still joins."""
    conf = await live.ok(
        "POST",
        "/v1/conferences",
        {"name": "beep", "play_beep": play_beep, "dial_in": {"access_code": code}},
        201,
    )
    conf_id = conf["id"]
    first = await live.ok("POST", f"/v1/conferences/{conf_id}/participants", {"to": "park"}, 201)
    await live.wait_participant(conf_id, first["id"], "joined")
    mark = time.monotonic()
    phone = await _dial(live, callers, code)
    await until(lambda: len(members(live.fs, conf_id)) == 2, what="the caller is a member")

    async def both_joined() -> bool:
        await phone.listen(0.1)  # the phone keeps taking audio while it waits
        return sum(1 for p in await live.participants(conf_id) if p["status"] == "joined") >= 2

    await until(both_joined, 15, "both participants joined")
    # the entry tone is 200 ms, played as the member enters: two seconds hold it
    await phone.listen(2.0)
    heard = phone.heard_since(mark)
    loudest = max(burst_amplitude(heard, hz) for hz in ENTRY_HZ)
    if play_beep == "always":
        assert loudest > HEARD, f"no entry tone heard ({loudest:.0f})"
    else:
        assert loudest < SILENT, f"an entry tone was heard ({loudest:.0f})"
    await live.ok("DELETE", f"/v1/conferences/{conf_id}")
