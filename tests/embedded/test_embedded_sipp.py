"""SIPp phones (sip-tester) dial into the embedded engine with PCMU audio and RFC 4733 digits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from bridge_testing.embedded import Engine, joined, new_phone, until_flag, until_status
from bridge_testing.phone import SipPhone, burst_amplitude
from bridge_testing.sipp import start_sipp
from receiver import WebhookReceiver

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.usefixtures("sipp_installed"),
]


async def test_sipp_is_heard_and_its_mute_digit_mutes(
    engine: Engine, phones: list[SipPhone], receiver: WebhookReceiver, tmp_path: Path
) -> None:
    cid = await engine.conference(
        "8001", play_beep="never", status_callback_url=receiver.url,
        dial_in={"participant_options": {"mute_digit": "1"}},
    )  # fmt: skip
    listener = await new_phone(phones, "listener")
    assert await listener.call(engine.sip, "8001") == 200
    sipp = start_sipp(tmp_path / "sipp", engine.sip, "8001", digit="1", tone_hz=1000.0)
    try:
        people = await joined(engine, cid, 2)
        caller = next(p for p in people if p["from"] == "sipp")
        assert burst_amplitude(await listener.listen(1.0), 1000.0, 0.5) > 1500.0
        muted = await until_flag(engine, cid, caller["id"], "muted", True)
        assert muted["muted"] is True
        code = await asyncio.to_thread(sipp.process.wait, 30)
        assert code == 0, sipp.output()
        left = await until_status(engine, cid, caller["id"], "left")
        assert left["leave_reason"] == "hangup"
    finally:
        sipp.stop()
    got = await receiver.wait_for(lambda rs: any(
        r.json["event"]["type"] == "participant.digit" for r in rs))  # fmt: skip
    digit = next(r.json["event"] for r in got if r.json["event"]["type"] == "participant.digit")
    assert digit["data"] == {"digit": "1", "action": "mute"}


async def test_sipp_exit_digit_hangs_up(engine: Engine, tmp_path: Path) -> None:
    cid = await engine.conference("8002", dial_in={"participant_options": {"exit_digit": "#"}})
    sipp = start_sipp(
        tmp_path / "sipp", engine.sip, "8002", scenario="uac_exit_digit.xml", digit="#"
    )
    try:
        [caller] = await joined(engine, cid, 1)
        code = await asyncio.to_thread(sipp.process.wait, 30)
        assert code == 0, sipp.output()  # the scenario received our BYE
        left = await until_status(engine, cid, caller["id"], "left")
        assert left["leave_reason"] == "exit_digit"
    finally:
        sipp.stop()
