"""Dial-in through the real FreeSWITCH: SIPp phones call our shipped SIP profile, the
shipped dialplan hands each call to the bridge's outbound socket, and the bridge admits
or refuses it. What FreeSWITCH sends the phone (the SIP answer) is what is checked.

A SIPp phone's RFC 4733 digits must rise within one call (fs_phones.py): the three
wrong PINs in a row are pressed by our own SIP phone (bridge_testing/heard.py), which hears the
prompts.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bridge_testing.heard import SipPhone, hears, new_phone
from bridge_testing.live_app import Live, start_live
from bridge_testing.real_freeswitch import FreeSwitchProcess
from bridge_testing.wait import until
from fs_members import dial_out_member, members
from fs_phones import dial, uac_scenario

pytestmark = [pytest.mark.freeswitch, pytest.mark.freeswitch_real]

PIN_PROMPT_HZ, BAD_PIN_HZ = 1300.0, 1400.0  # conf-pin.wav, conf-bad-pin.wav (placeholders)


@pytest.fixture
async def live(freeswitch: FreeSwitchProcess, tmp_path: Path) -> AsyncIterator[Live]:
    async with start_live(freeswitch, tmp_path) as app:
        yield app


async def test_admitted_caller_joins_talks_presses_and_leaves(live: Live, tmp_path: Path) -> None:
    conf = await live.ok(
        "POST", "/v1/conferences", {"name": "in", "dial_in": {"access_code": "7301"}}, 201
    )
    steps: tuple[tuple[str, str | int], ...] = (
        ("pause", 1500),
        ("digit", "7"),
        ("digit", "9"),
        ("pause", 1500),
    )
    phone = dial(
        tmp_path / "phone", live.fs.ports.sip, "7301", uac_scenario(steps=steps, wait_for_bye_ms=1)
    )
    try:
        joined = await live.wait_event(conf["id"], "participant.joined")
        pid = joined["participant_id"]
        await live.wait_conference(conf["id"], "in_progress")
        [member] = members(live.fs, conf["id"])
        assert member["caller_id_number"] == "sipp", member
        # the phone's 660 Hz tone is speech to FreeSWITCH's energy detector
        await live.wait_event(conf["id"], "participant.talking", talking=True)
        await live.wait_event(conf["id"], "participant.digit", digit="9")
        # caller-control digits are reported one by one, in the order pressed
        digits = [
            e["data"]["digit"]
            for e in await live.events(conf["id"])
            if e["type"] == "participant.digit"
        ]
        assert digits == ["7", "9"], digits
        assert await phone.finished(30) == 0, phone.output()
    finally:
        phone.stop()
    left = await live.wait_participant(conf["id"], pid, "left")
    assert left["leave_reason"] == "hangup", left


async def test_unknown_access_code_is_refused_404(live: Live, tmp_path: Path) -> None:
    phone = dial(tmp_path / "phone", live.fs.ports.sip, "7399", uac_scenario(expect=404))
    try:
        assert await phone.finished(30) == 0, phone.output()
    finally:
        phone.stop()


async def _at_the_pin_prompt(live: Live, code: str, name: str) -> tuple[str, SipPhone]:
    """A conference with PIN 1234 at `code`, and a phone that dialled it and hears the PIN
    prompt; returns the conference id and the phone (stopped by the caller)."""
    conf = await live.ok(
        "POST",
        "/v1/conferences",
        {"name": name, "dial_in": {"access_code": code, "pin": "1234"}},
        201,
    )
    phone = await new_phone(name)
    try:
        mark = time.monotonic()
        assert await phone.call(("127.0.0.1", live.fs.ports.sip), code, within=10.0) == 200
        await hears(phone, PIN_PROMPT_HZ, mark)
    except BaseException:
        await phone.stop()
        raise
    return str(conf["id"]), phone


async def test_right_pin_joins(live: Live) -> None:
    conf_id, phone = await _at_the_pin_prompt(live, "7302", "knows")
    try:
        phone.send_digits("1234#")
        await live.wait_event(conf_id, "participant.joined", within=30)
        assert len(members(live.fs, conf_id)) == 1
        await phone.hangup()
    finally:
        await phone.stop()
    await live.wait_event(conf_id, "participant.left")


async def test_full_conference_refuses_503(live: Live, tmp_path: Path) -> None:
    conf_id, _ = await dial_out_member(live, "7303", max_participants=1)
    phone = dial(tmp_path / "phone", live.fs.ports.sip, "7303", uac_scenario(expect=503))
    try:
        assert await phone.finished(30) == 0, phone.output()
    finally:
        phone.stop()
    assert len(members(live.fs, conf_id)) == 1
    await live.ok("DELETE", f"/v1/conferences/{conf_id}")


async def test_reservation_not_started_is_busy_or_diverted(live: Live, tmp_path: Path) -> None:
    start = (datetime.now(UTC) + timedelta(minutes=10)).strftime("%Y-%m-%d_%H:%M:%S")
    body = {"max_participants": 50, "start_time": start, "duration": 15}
    await live.ok(
        "POST",
        "/v1/reservations",
        {**body, "conference_name": "Early1", "conference": {"dial_in": {"access_code": "7304"}}},
        201,
    )
    await live.ok(
        "POST",
        "/v1/reservations",
        {
            **body,
            "conference_name": "Early2",
            "divert": "sip:lobby@example.org",
            "conference": {"dial_in": {"access_code": "7305"}},
        },
        201,
    )
    busy = dial(tmp_path / "busy", live.fs.ports.sip, "7304", uac_scenario(expect=486))
    diverted = dial(
        tmp_path / "divert", live.fs.ports.sip, "7305", uac_scenario(expect=302), trace=True
    )
    try:
        assert await busy.finished(30) == 0, busy.output()
        assert await diverted.finished(30) == 0, diverted.output()
    finally:
        busy.stop()
        diverted.stop()
    # the 302 names the divert target; the phone (SIPp) does not follow it
    assert "lobby@example.org" in diverted.messages()


async def test_wrong_pin_three_times_is_rejected(live: Live) -> None:
    """Each wrong PIN is answered by the bad-PIN prompt, then the PIN prompt again; the
    third ends the call (FreeSWITCH sends the BYE) and nobody joins."""
    conf_id, phone = await _at_the_pin_prompt(live, "7306", "guesser")
    try:
        for attempt in range(3):
            mark = time.monotonic()
            phone.send_digits("0000#")
            if attempt < 2:
                await hears(phone, BAD_PIN_HZ, mark)
                mark = time.monotonic()  # the PIN prompt follows the bad-PIN prompt
                await hears(phone, PIN_PROMPT_HZ, mark)
        await until(lambda: phone.bye_received, 15.0, "FreeSWITCH to hang up")
    finally:
        await phone.stop()
    assert [p for p in await live.participants(conf_id) if p["status"] == "joined"] == []
    assert members(live.fs, conf_id) == []


async def test_stopping_the_bridge_during_a_pin_prompt_logs_no_traceback(
    freeswitch: FreeSwitchProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The bridge shuts down while a caller is at the PIN prompt: its call session ends
    quietly (no asyncio 'Exception in callback' with a traceback)."""
    phone = await new_phone("waiting")
    try:
        async with start_live(freeswitch, tmp_path) as live:
            await live.ok(
                "POST",
                "/v1/conferences",
                {"name": "pin", "dial_in": {"access_code": "7307", "pin": "1234"}},
                201,
            )
            mark = time.monotonic()
            assert await phone.call(("127.0.0.1", freeswitch.ports.sip), "7307", within=10.0) == 200
            await hears(phone, PIN_PROMPT_HZ, mark)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
        assert errors == [], [r.getMessage() for r in errors]
    finally:
        if phone.answered and not phone.bye_received and phone.dialog is not None:
            with contextlib.suppress(AssertionError):
                await phone.hangup()
        await phone.stop()
