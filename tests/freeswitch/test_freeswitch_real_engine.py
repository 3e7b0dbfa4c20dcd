"""The FreeSWITCH engine on the real FreeSWITCH, with our freeswitch-conf/ installed.

Callers are SIPp phones dialling in through the shipped SIP profile (fs_phones.py) or
dial-outs through ``loopback/park``; the app is the real one (live_app.py). The fault
tests cut the real ESL connection with a TCP proxy (bridge_testing/tcp_proxy.py).
"""

from __future__ import annotations

import asyncio
import io
import math
import re
import shutil
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bridge_testing.heard import new_phone
from bridge_testing.live_app import Live, start_live
from bridge_testing.real_freeswitch import FreeSwitchProcess
from bridge_testing.tcp_proxy import CuttableProxy
from bridge_testing.wait import until
from fs_members import conference_name, dial_out_member, member_flags, members
from fs_phones import dial, uac_scenario

pytestmark = [pytest.mark.freeswitch, pytest.mark.freeswitch_real]


@pytest.fixture
async def live(freeswitch: FreeSwitchProcess, tmp_path: Path) -> AsyncIterator[Live]:
    async with start_live(freeswitch, tmp_path) as app:
        yield app


# --------------------------------------------------------------------------- silent entry


@pytest.mark.parametrize(
    ("play_beep", "beep_on_entry"),
    [("never", True), ("exit_only", True), ("always", False)],
)
async def test_silent_entry_still_joins_and_leaves(
    live: Live, tmp_path: Path, play_beep: str, beep_on_entry: bool
) -> None:
    """No entry sound (play_beep never/exit_only, beep_on_entry false) and yet FreeSWITCH
    reports the member: the caller joins, the conference fills, and the hangup is a
    participant.left."""
    code = {"never": "7201", "exit_only": "7202", "always": "7203"}[play_beep]
    conf = await live.ok(
        "POST",
        "/v1/conferences",
        {
            "name": "silent",
            "play_beep": play_beep,
            "dial_in": {
                "access_code": code,
                "participant_options": {"beep_on_entry": beep_on_entry},
            },
        },
        201,
    )
    phone = await new_phone("silent")  # our SIP phone: it hangs up when told to
    try:
        assert await phone.call(("127.0.0.1", live.fs.ports.sip), code, within=10.0) == 200
        joined = await live.wait_event(conf["id"], "participant.joined")
        pid = joined["participant_id"]
        assert len(members(live.fs, conf["id"])) == 1
        assert (await live.ok("GET", f"/v1/conferences/{conf['id']}"))["status"] != "empty"
        await phone.hangup()
        left = await live.wait_participant(conf["id"], pid, "left")
        assert left["leave_reason"] is not None, left
        await live.wait_event(conf["id"], "participant.left")
    finally:
        await phone.stop()


# --------------------------------------------------------------------------- ESL outage


async def test_change_during_an_esl_outage_is_refused_and_changes_nothing(
    cut_live: Live, proxy: CuttableProxy
) -> None:
    """While the control link is down, a change that needs FreeSWITCH is refused with 503
    engine_unavailable: neither the API nor FreeSWITCH changes. After the reconnect the
    same change goes through to the real member."""
    live = cut_live
    conf_id, pid = await dial_out_member(live, "7210")
    proxy.cut()
    await until(lambda: not live.backend.available, what="the engine saw the cut")
    status, body = await live.call(
        "PATCH", f"/v1/conferences/{conf_id}/participants/{pid}", {"muted": True}
    )
    assert status == 503, body
    assert body["error"]["code"] == "engine_unavailable", body
    assert (await live.participant(conf_id, pid))["muted"] is False
    assert member_flags(live.fs, conf_id)["can_speak"] is True
    proxy.restore()
    await live.wait_ready()
    await live.ok("PATCH", f"/v1/conferences/{conf_id}/participants/{pid}", {"muted": True})
    await until(
        lambda: member_flags(live.fs, conf_id)["can_speak"] is False, what="FreeSWITCH muted"
    )
    await live.ok("DELETE", f"/v1/conferences/{conf_id}")


async def test_flags_changed_on_freeswitch_while_disconnected_are_reconciled(
    cut_live: Live, proxy: CuttableProxy
) -> None:
    """mute, deaf and hold made on FreeSWITCH while the link was cut show in the API after
    the reconnect's resync; undoing them there, during a second cut, shows too."""
    live = cut_live
    conf_id, pid = await dial_out_member(live, "7211")
    name = conference_name(live.fs, conf_id)
    member_id = members(live.fs, conf_id)[0]["id"]
    # hold mutes and deafens on FreeSWITCH too, so hold is changed on its own
    off = {"muted": False, "deaf": False, "hold": False}
    for verbs, expect in (
        (("mute", "deaf"), {"muted": True, "deaf": True, "hold": False}),
        (("unmute", "undeaf"), off),
        (("hold",), {**off, "hold": True}),
        (("unhold",), off),
    ):
        proxy.cut()
        await until(lambda: not live.backend.available, what="the engine saw the cut")
        for verb in verbs:
            reply = live.fs.api(f"conference {name} {verb} {member_id}")
            assert "OK" in reply, (verb, reply)
        proxy.restore()
        await live.wait_ready()
        await live.wait_participant(conf_id, pid, "joined", **expect)
    await live.ok("DELETE", f"/v1/conferences/{conf_id}")


async def test_a_call_that_ended_while_disconnected_is_left_after_the_resync(
    cut_live: Live, proxy: CuttableProxy
) -> None:
    """Its del-member event was never seen: the listing after the reconnect is the truth,
    and whoever is not in it has left."""
    live = cut_live
    conf_id, pid = await dial_out_member(live, "7214")
    kept = await live.ok("POST", f"/v1/conferences/{conf_id}/participants", {"to": "park"}, 201)
    await live.wait_participant(conf_id, kept["id"], "joined")
    gone = await live.participant(conf_id, pid)
    uuid = next(
        str(m["uuid"])
        for m in members(live.fs, conf_id)
        if live.fs.api(f"uuid_getvar {m['uuid']} bridge_participant_id").strip() == pid
    )
    proxy.cut()
    await until(lambda: not live.backend.available, what="the engine saw the cut")
    assert "+OK" in live.fs.api(f"uuid_kill {uuid}")
    await until(lambda: len(members(live.fs, conf_id)) == 1, what="FreeSWITCH ended the call")
    assert (await live.participant(conf_id, pid))["status"] == gone["status"] == "joined"
    proxy.restore()
    await live.wait_ready()
    await live.wait_participant(conf_id, pid, "left")
    assert (await live.participant(conf_id, kept["id"]))["status"] == "joined"
    await live.ok("DELETE", f"/v1/conferences/{conf_id}")


async def test_a_restarted_bridge_adopts_the_calls_still_on_freeswitch(
    freeswitch: FreeSwitchProcess, tmp_path: Path
) -> None:
    """The bridge goes away while its call goes on; the next bridge on the same database
    finds the member by its channel variable (bridge_participant_id) and drives it."""
    async with start_live(freeswitch, tmp_path) as first:
        conf_id, pid = await dial_out_member(first, "7215")
    assert len(members(freeswitch, conf_id)) == 1  # the call outlived the bridge
    async with start_live(freeswitch, tmp_path) as second:
        await second.wait_participant(conf_id, pid, "joined")
        await second.ok("PATCH", f"/v1/conferences/{conf_id}/participants/{pid}", {"muted": True})
        await until(
            lambda: member_flags(freeswitch, conf_id)["can_speak"] is False,
            what="the adopted member muted on FreeSWITCH",
        )
        await second.ok("DELETE", f"/v1/conferences/{conf_id}")
        await until(lambda: members(freeswitch, conf_id) == [], what="the call ended")


async def test_freeswitch_restart_ends_the_calls_and_the_engine_reconnects(
    freeswitch: FreeSwitchProcess, tmp_path: Path
) -> None:
    """A real FreeSWITCH restart: its calls are gone, so the resync ends the participant;
    the engine reconnects by itself and takes new calls."""
    async with start_live(freeswitch, tmp_path) as live:
        conf_id, pid = await dial_out_member(live, "7212")
        freeswitch.stop()
        await until(lambda: not live.backend.available, what="the engine saw the stop")
        freeswitch.start()
        await live.wait_ready(60)
        left = await live.wait_participant(conf_id, pid, "left")
        assert left["left_at"] is not None
        conf2, _ = await dial_out_member(live, "7213")
        assert len(members(freeswitch, conf2)) == 1
        await live.ok("DELETE", f"/v1/conferences/{conf2}")


# --------------------------------------------------------------------------- PIN prompts


def _executes(fs: FreeSwitchProcess, since: int) -> list[str]:
    """The playback applications FreeSWITCH ran and finished, in log order."""
    text = fs.log_text()[since:]
    out = []
    for line in text.splitlines():
        if m := re.search(r"^\S+ EXECUTE \[depth=(\d+)\] \S+ playback\((\S+)\)", line):
            # depth 1 is a playback of its own; a playback nested in another is deeper
            assert m.group(1) == "1", line
            out.append(f"start {m.group(2)}")
        elif m := re.search(r"done playing file \S+/(conference/\S+)", line):
            out.append(f"done {m.group(1)}")
    return out


async def test_wrong_pin_plays_bad_pin_to_its_end_before_the_pin_prompt(
    live: Live, tmp_path: Path
) -> None:
    await live.ok(
        "POST",
        "/v1/conferences",
        {"name": "pin", "dial_in": {"access_code": "7220", "pin": "4444"}},
        201,
    )
    since = len(live.fs.log_text())
    # wrong PIN 1235 + #, then hang up after the bad-PIN prompt and the second PIN prompt
    steps: tuple[tuple[str, str | int], ...] = (
        ("pause", 800),
        *(("digit", d) for d in "1235#"),
        ("pause", 3000),
    )
    # the phone hangs up itself after the pause (FreeSWITCH would wait out the PIN timeout)
    phone = dial(
        tmp_path / "phone", live.fs.ports.sip, "7220", uac_scenario(steps=steps, wait_for_bye_ms=1)
    )
    try:
        await phone.finished(60)
    finally:
        phone.stop()
    order = [x for x in _executes(live.fs, since) if "conf-pin" in x or "conf-bad-pin" in x]
    starts = [x for x in order if x.startswith("start")]
    assert starts[:3] == [
        "start conference/conf-pin.wav",
        "start conference/conf-bad-pin.wav",
        "start conference/conf-pin.wav",
    ], order
    bad = order.index("start conference/conf-bad-pin.wav")
    second_prompt = order.index("start conference/conf-pin.wav", bad)
    assert "done conference/conf-bad-pin.wav" in order[bad:second_prompt], order


# --------------------------------------------------------------------------- media


async def test_say_is_refused_without_a_tts_module(live: Live) -> None:
    conf_id, pid = await dial_out_member(live, "7230")
    assert live.backend.tts is False
    before = len(await live.events(conf_id))
    for body in (
        {"media": {"say": {"text": "hello"}}},
        {"media": {"say": {"text": "hello"}}, "participant_id": pid},
    ):
        status, data = await live.call("POST", f"/v1/conferences/{conf_id}/announcements", body)
        assert status == 400, data
        assert data["error"]["code"] == "media_unavailable", data
    assert len(await live.events(conf_id)) == before
    await live.ok("DELETE", f"/v1/conferences/{conf_id}")


async def test_a_playback_freeswitch_refuses_is_reported_as_failed(live: Live) -> None:
    conf_id, _ = await dial_out_member(live, "7231")
    ann = await live.ok(
        "POST",
        f"/v1/conferences/{conf_id}/announcements",
        {"media": {"play": {"file": "no/such/file.wav"}}},
        202,
    )
    done = await live.wait_event(conf_id, "announcement.finished", announcement_id=ann["id"])
    assert done["data"].get("failed") is True, done
    await live.ok("DELETE", f"/v1/conferences/{conf_id}")


@pytest.mark.parametrize("setting", ["", "sounds", "absolute"])
async def test_play_files_where_freeswitch_sees_them(
    freeswitch: FreeSwitchProcess, tmp_path: Path, setting: str
) -> None:
    """esl_media_dir: empty = the bridge's media_dir (same host); ``sounds`` = the same
    relative names in FreeSWITCH's sounds directory; an absolute path = a share mounted
    there. In each case the real FreeSWITCH plays the file to its end."""
    relative = f"cb-media-{setting or 'same'}/greeting.wav"
    prompt = freeswitch.home / "share/freeswitch/sounds/en/us/callie/conference/8000/conf-muted.wav"
    share = tmp_path / "share"
    if setting == "absolute":
        esl_media_dir = str(share)
        target = share / relative
    elif setting == "sounds":
        esl_media_dir = "sounds"
        # relative names resolve under the profile's sound-prefix ($${sound_prefix})
        target = freeswitch.sounds / "en/us/callie" / relative
    else:
        esl_media_dir = ""
        target = tmp_path / "data/media" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(prompt, target)
    async with start_live(freeswitch, tmp_path, esl_media_dir=esl_media_dir) as live:
        conf_id, _ = await dial_out_member(live, "7240")
        ann = await live.ok(
            "POST",
            f"/v1/conferences/{conf_id}/announcements",
            {"media": {"play": {"file": relative}}},
            202,
        )
        done = await live.wait_event(conf_id, "announcement.finished", announcement_id=ann["id"])
        assert not done["data"].get("failed"), done
        await live.ok("DELETE", f"/v1/conferences/{conf_id}")


# --------------------------------------------------------------------------- audio


def power_at(samples: Any, rate: int, hz: float) -> float:
    """Goertzel: the power of ``samples`` (int16, numpy) at one frequency, per sample."""
    coefficient = 2 * math.cos(2 * math.pi * hz / rate)
    previous = before = 0.0
    for sample in samples.astype(float):
        previous, before = sample + coefficient * previous - before, previous
    return float(previous**2 + before**2 - coefficient * previous * before) / max(1, len(samples))


async def test_a_callers_audio_is_in_the_conference_recording(live: Live, tmp_path: Path) -> None:
    """A SIPp phone sends 660 Hz (clear of every placeholder prompt) through the real
    FreeSWITCH; the conference recording the bridge started holds it. The control
    frequency 1500 Hz (nothing plays it) stays far below."""
    np = pytest.importorskip("numpy")
    conf = await live.ok(
        "POST",
        "/v1/conferences",
        {"name": "audio", "record": True, "dial_in": {"access_code": "7250"}},
        201,
    )
    phone = dial(tmp_path / "phone", live.fs.ports.sip, "7250", uac_scenario(wait_for_bye_ms=4000))
    try:
        assert await phone.finished(30) == 0, phone.output()
    finally:
        phone.stop()
    path = f"/v1/conferences/{conf['id']}/recordings"

    async def stopped() -> list[dict[str, Any]]:
        items = (await live.ok("GET", path))["items"]
        return [r for r in items if r["status"] in ("stopped", "failed")]

    [rec] = await until(stopped, 20, "the recording stopped")
    assert rec["status"] == "stopped", rec
    audio = await live.ok("GET", f"{path}/{rec['id']}/audio")
    with wave.open(io.BytesIO(audio)) as w:
        assert w.getsampwidth() == 2
        rate, channels = w.getframerate(), w.getnchannels()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")[::channels]
    assert len(samples) > rate, "under a second recorded"
    # the middle second: the phone talks all through it
    middle = samples[len(samples) // 2 - rate // 2 : len(samples) // 2 + rate // 2]
    tone, control = power_at(middle, rate, 660.0), power_at(middle, rate, 1500.0)
    assert tone > 100 * max(control, 1.0), (tone, control)


async def test_an_eject_lost_in_a_cut_is_carried_out_and_never_undone(
    cut_live: Live, proxy: CuttableProxy
) -> None:
    """The eject was answered while the link was up, its kick never reached FreeSWITCH:
    after the reconnect the listing still has the member, and the API keeps it leaving
    (never joined again) until the kick, sent again, makes FreeSWITCH drop it."""
    live = cut_live
    conf_id, pid = await dial_out_member(live, "7215")
    path = f"/v1/conferences/{conf_id}/participants/{pid}"
    proxy.swallow = True
    eject = asyncio.create_task(live.call("DELETE", path))
    await until(lambda: b" kick " in proxy.swallowed, what="the kick sent")
    proxy.cut()
    status, body = await eject
    assert status == 200 and body["status"] == "leaving", (status, body)
    assert len(members(live.fs, conf_id)) == 1, "FreeSWITCH never saw the kick"
    seen: list[str] = []

    async def left() -> bool:
        now = str((await live.participant(conf_id, pid))["status"])
        if not seen or seen[-1] != now:
            seen.append(now)
        return now == "left"

    proxy.restore()
    await until(left, 20, "the participant left", every=0.02)
    assert seen == ["leaving", "left"], seen
    assert members(live.fs, conf_id) == []
    await live.ok("DELETE", f"/v1/conferences/{conf_id}")
