"""Call handling of the embedded engine: refusals, PIN, wait media, beeps, hold, play,
recording, dial-out, and the webhooks they cause. Real SIP and RTP over loopback."""

from __future__ import annotations

import io
import time
import wave
from datetime import UTC, datetime, timedelta

import pytest
from bridge_testing.embedded import (
    HEARD,
    SILENT,
    Engine,
    joined,
    new_phone,
    until_flag,
    until_status,
)
from bridge_testing.phone import SipPhone, amplitude, burst_amplitude
from bridge_testing.wait import until
from receiver import WebhookReceiver

pytestmark = pytest.mark.embedded


async def test_refusals_carry_the_right_sip_status(engine: Engine, phones: list[SipPhone]) -> None:
    phone = await new_phone(phones, "refused")
    assert await phone.call(engine.sip, "9999") == 404
    start = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%d_%H:%M:00")
    await engine.ok("POST", "/v1/reservations", 201, json={
        "conference_name": "later", "start_time": start, "duration": 30, "max_participants": 40,
        "conference": {"dial_in": {"access_code": "6001"}}})  # fmt: skip
    assert await phone.call(engine.sip, "6001") == 486
    await engine.ok("POST", "/v1/reservations", 201, json={
        "conference_name": "diverted", "start_time": start, "duration": 30,
        "max_participants": 40, "divert": "sip:overflow@127.0.0.1:5099",
        "conference": {"dial_in": {"access_code": "6002"}}})  # fmt: skip
    assert await phone.call(engine.sip, "6002") == 302
    moved = phone.responses[-1]
    assert "overflow@127.0.0.1:5099" in (moved.headers.get("contact") or "")

    await engine.conference("6003", max_participants=1, play_beep="never")
    first = await new_phone(phones, "first")
    assert await first.call(engine.sip, "6003") == 200
    assert await phone.call(engine.sip, "6003") == 503
    assert await phone.call(engine.sip, "6003", sdp=b"v=0\r\nnot sdp\r\n") == 400


async def test_pin_wait_media_start_and_beeps(
    engine: Engine, phones: list[SipPhone], receiver: WebhookReceiver
) -> None:
    cid = await engine.conference(
        "7001",
        status_callback_url=receiver.url,
        wait_media={"play": {"file": "wait300.wav"}},
        dial_in={
            "pin": "1111",
            "moderator_pin": "2222",
            "participant_options": {"start_on_entry": False, "mute_digit": "5"},
            "moderator_options": {"start_on_entry": True},
        },
    )
    guest = await new_phone(phones, "guest", 500.0)
    assert await guest.call(engine.sip, "7001") == 200  # answered to collect the PIN
    guest.send_digits("1111#")
    [p] = await joined(engine, cid, 1)
    pcm = await guest.listen(1.0)
    assert amplitude(pcm, 300.0) > HEARD, "a waiting caller hears the wait media"

    host = await new_phone(phones, "host", 700.0)
    assert await host.call(engine.sip, "7001") == 200
    mark = time.monotonic()
    host.send_digits("2222#")
    await joined(engine, cid, 2)
    await guest.listen(1.5)
    around_join = guest.heard_since(mark)
    assert burst_amplitude(around_join, 880.0) > 1500.0, "the entry beep is heard"
    pcm = await guest.listen(1.0)
    assert amplitude(pcm, 300.0) < SILENT and amplitude(pcm, 700.0) > HEARD, "started: mixed"
    conf = await engine.ok("GET", f"/v1/conferences/{cid}")
    assert conf["status"] == "in_progress"

    guest.send_digits("5")  # the mute digit mutes, through core's decision
    muted = await until_flag(engine, cid, p["id"], "muted", True)
    assert muted["muted"] is True
    await host.listen(0.3)
    assert amplitude(await host.listen(1.0), 500.0) < SILENT

    mark = time.monotonic()
    await host.hangup()
    await guest.listen(1.0)
    assert burst_amplitude(guest.heard_since(mark), 880.0) > 1500.0, "the exit beep is heard"
    await receiver.wait_for(lambda rs: {"participant.digit", "participant.left"} <= {
        r.json["event"]["type"] for r in rs})  # fmt: skip


async def test_wrong_pin_hears_an_error_tone_then_bye(
    engine: Engine, phones: list[SipPhone]
) -> None:
    await engine.conference("7002", dial_in={"pin": "4321"})
    phone = await new_phone(phones, "wrong")
    assert await phone.call(engine.sip, "7002") == 200
    mark = time.monotonic()
    phone.send_digits("999#" * 3)
    await until(lambda: phone.bye_received, 10.0, "BYE after a wrong PIN")
    pcm = phone.heard_since(mark)
    assert burst_amplitude(pcm, 480.0) > 1500.0 and burst_amplitude(pcm, 620.0) > 1500.0


async def test_exit_digit_hold_play_and_recording(
    engine: Engine, phones: list[SipPhone], receiver: WebhookReceiver
) -> None:
    cid = await engine.conference(
        "7003", play_beep="never", status_callback_url=receiver.url,
        dial_in={"participant_options": {"exit_digit": "#"}},
    )  # fmt: skip
    a = await new_phone(phones, "a", 500.0)
    b = await new_phone(phones, "b", 700.0)
    for phone in (a, b):
        assert await phone.call(engine.sip, "7003") == 200
    people = {p["from"]: p for p in await joined(engine, cid, 2)}

    rec = await engine.ok("POST", f"/v1/conferences/{cid}/recordings", 201)
    await engine.ok("PATCH", f"/v1/conferences/{cid}/participants/{people['b']['id']}",
                    json={"hold": True})  # fmt: skip
    await a.listen(0.2)
    assert amplitude(await a.listen(1.0), 700.0) < SILENT, "a held participant is not heard"
    assert amplitude(await b.listen(1.0), 500.0) < SILENT, "a held participant hears nothing"
    await engine.ok("PATCH", f"/v1/conferences/{cid}/participants/{people['b']['id']}",
                    json={"hold": False})  # fmt: skip

    ann = await engine.ok("POST", f"/v1/conferences/{cid}/announcements", 202,
                          json={"media": [{"play": {"file": "ann2000.wav"}}]})  # fmt: skip
    assert amplitude(await a.listen(1.0), 2000.0) > HEARD
    await receiver.wait_for(lambda rs: any(
        r.json["event"]["type"] == "announcement.finished"
        and r.json["event"]["data"]["announcement_id"] == ann["id"] for r in rs))  # fmt: skip

    await engine.ok("PATCH", f"/v1/conferences/{cid}/recordings/{rec['id']}",
                    json={"status": "stopped"})  # fmt: skip
    await engine.settle()
    status, data = await engine.call("GET", f"/v1/conferences/{cid}/recordings/{rec['id']}/audio")
    assert status == 200, data
    with wave.open(io.BytesIO(data)) as wav:
        audio = wav.readframes(wav.getnframes())
    assert amplitude(audio, 500.0) > 500 and amplitude(audio, 700.0) > 500

    a.send_digits("#")
    await until(lambda: a.bye_received, 10.0, "BYE after the exit digit")
    left = await until_status(engine, cid, people["a"]["id"], "left")
    assert left["leave_reason"] == "exit_digit"


async def test_dial_out_answer_busy_and_no_answer(engine: Engine, phones: list[SipPhone]) -> None:
    cid = await engine.conference("7004", play_beep="never")
    inside = await new_phone(phones, "inside", 500.0)
    assert await inside.call(engine.sip, "7004") == 200
    await joined(engine, cid, 1)

    callee = await new_phone(phones, "callee", 700.0)
    p = await engine.ok("POST", f"/v1/conferences/{cid}/participants", 201,
                        json={"to": f"sip:{callee.uri}", "from": "+15550001"})  # fmt: skip
    await until_status(engine, cid, p["id"], "joined")
    assert amplitude(await callee.listen(1.0), 500.0) > HEARD
    assert amplitude(await inside.listen(1.0), 700.0) > HEARD
    await engine.ok("DELETE", f"/v1/conferences/{cid}/participants/{p['id']}")
    await until(lambda: callee.bye_received, 5.0, "BYE on eject")

    busy = await new_phone(phones, "busy")
    busy.answer_mode = "busy"
    p = await engine.ok("POST", f"/v1/conferences/{cid}/participants", 201,
                        json={"to": f"sip:{busy.uri}"})  # fmt: skip
    failed = await until_status(engine, cid, p["id"], "failed")
    assert failed["failure_reason"] == "busy"

    ringing = await new_phone(phones, "ringing")
    ringing.answer_mode = "ring"
    p = await engine.ok("POST", f"/v1/conferences/{cid}/participants", 201,
                        json={"to": f"sip:{ringing.uri}", "seconds_answer_timeout": 1})  # fmt: skip
    failed = await until_status(engine, cid, p["id"], "failed")
    assert failed["failure_reason"] == "no_answer"
    await until(lambda: any(r.method == "CANCEL" for r in ringing.requests), 5.0, "CANCEL")


async def test_phone_hold_by_reinvite_and_bye_from_the_phone(
    engine: Engine, phones: list[SipPhone]
) -> None:
    cid = await engine.conference("7005", play_beep="never")
    a = await new_phone(phones, "a", 500.0)
    b = await new_phone(phones, "b", 700.0)
    for phone in (a, b):
        assert await phone.call(engine.sip, "7005") == 200
    people = {p["from"]: p for p in await joined(engine, cid, 2)}
    assert await b.hold(True) == 200
    await a.listen(0.2)
    mark = time.monotonic()
    pcm = await a.listen(1.0)
    assert len(b.heard_since(mark)) == 0, "nothing is sent to a phone that holds us"
    assert amplitude(pcm, 700.0) < SILENT, "nor is its (hold) audio mixed"
    assert await b.hold(False) == 200
    assert amplitude(await b.listen(1.0), 500.0) > HEARD
    await b.hangup()
    left = await until_status(engine, cid, people["b"]["id"], "left")
    assert left["leave_reason"] == "hangup"
    await engine.ok("DELETE", f"/v1/conferences/{cid}")
    await until(lambda: a.bye_received, 5.0, "BYE when the conference ends")


async def test_without_users_nothing_is_challenged_and_register_is_refused(
    engine: Engine, phones: list[SipPhone]
) -> None:
    phone = await new_phone(phones, "plain")
    refused = await phone.register(engine.sip, "plain", "pw")
    assert refused.status == 405 and "REGISTER" not in (refused.headers.get("allow") or "")
    assert engine.backend.ua.guard is None
    await engine.conference("7104")
    assert await phone.call(engine.sip, "7104") == 200
