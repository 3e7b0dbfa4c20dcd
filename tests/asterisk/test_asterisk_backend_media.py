"""Media options on real calls: dynamic profiles (beeps, talker), announcer channels
(announcements, name / has_joined / has_left), the recorder channel, conference timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bridge_testing.ami_test_client import AmiTestClient
from bridge_testing.asterisk_pbx import AsteriskProcess
from bridge_testing.sipp import sipp_available
from bridge_testing.wait import until
from live_bridge import Live, running_bridge

from bridge.protocols.ami import AmiEvent

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(not sipp_available(), reason="sipp (package sip-tester) is not installed"),
]


def _announcer_join(ev: AmiEvent) -> bool:
    return ev.name == "ConfbridgeJoin" and (ev.get("Channel") or "").startswith(
        "Local/play@bridge-announce"
    )


async def test_dynamic_profile_follows_beep_and_talker_options(live: Live) -> None:
    opts = {"beep_on_entry": False, "talker": False}
    conf = await live.conference(
        "9001", play_beep="exit_only", dial_in={"participant_options": opts}
    )
    live.phone("9001")
    [p] = await live.wait_participants(conf["id"], 1)
    # CONFBRIDGE() cannot be read back (Getvar gives ""); startmuted shows in the list.
    [member] = await live.pbx_members(conf["id"])
    assert (member.get("Muted") or "").lower() == "yes"
    assert p["muted"] is True
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")


async def test_announcement_and_join_leave_messages_play_into_the_conference(
    live: Live,
) -> None:
    opts = {
        "name": {"play": {"file": "conf-hasjoin"}},
        "has_joined_message": {"play": {"file": "confbridge-has-joined.gsm"}},
        "has_left_message": {"play": {"file": "confbridge-has-left"}},
    }
    conf = await live.conference("9002", dial_in={"participant_options": opts})
    since = live.ami.mark()
    live.phone("9002")
    await live.wait_participants(conf["id"], 1)
    # the has_joined message plays through the announcer channel (the event does not name
    # the file): its join is the check
    await live.ami.wait_event(_announcer_join, since=since)

    since = live.ami.mark()
    body = {"media": [{"play": {"file": "conf-now-recording"}}]}
    ann = await live.ok("POST", f"/v1/conferences/{conf['id']}/announcements", 202, json=body)
    await live.ami.wait_event(_announcer_join, since=since)
    await live.wait_hooks(conf["id"], "announcement.started", "announcement.finished")
    finished = [h for h in live.receiver.events(conf["id"]) if h["type"] == "announcement.finished"]
    assert finished[0]["data"]["announcement_id"] == ann["id"]
    # the announcer is not a participant
    assert len(await live.participants(conf["id"])) == 1
    assert live.hook_types(conf["id"]).count("participant.joined") == 1

    # a second caller leaves: its has_left message plays to the one still there
    leaver = live.phone("9002", steps=(("pause", 2500),), wait_for_bye_ms=1)
    await live.wait_participants(conf["id"], 2)
    since = live.ami.mark()
    assert await leaver.finished() == 0, leaver.output()
    await live.ami.wait_event(_announcer_join, since=since, within=15)

    # text to say has no engine on Asterisk: refused up front, nothing starts
    status, body = await live.call(
        "POST",
        f"/v1/conferences/{conf['id']}/announcements",
        json={"media": {"say": {"text": "hello"}}},
    )
    assert status == 400 and body["error"]["code"] == "media_unavailable", body
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")


@pytest.fixture
async def shared_live(
    asterisk: AsteriskProcess, ami_client: AmiTestClient, receiver: Any, tmp_path: Path
) -> AsyncIterator[Live]:
    """`live` with a recordings directory Asterisk and the bridge share."""
    async with running_bridge(asterisk, ami_client, receiver, tmp_path, shared_data=True) as live:
        yield live


async def test_record_starts_with_the_conference_and_stops_at_the_end(
    shared_live: Live,
) -> None:
    live = shared_live
    conf = await live.conference("9003", record=True)
    phone = live.phone("9003")
    await live.wait_participants(conf["id"], 1)
    await live.wait_hooks(conf["id"], "recording.started")
    rec_hook = [h for h in live.receiver.events(conf["id"]) if h["type"] == "recording.started"]
    rec_id = rec_hook[0]["data"]["recording_id"]
    recorder = await until(
        lambda: [m for m in live.backend._recorders.values() if m[1] == rec_id],
        what="recorder channel",
    )
    assert recorder
    members = await live.pbx_members(conf["id"])
    assert any((m.get("Channel") or "").startswith("Local/rec@bridge-record") for m in members)
    # the recorder is not a participant
    assert len(await live.participants(conf["id"])) == 1
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")
    assert await phone.finished() == 0, phone.output()
    await live.wait_hooks(conf["id"], "recording.completed")
    [done] = [h for h in live.receiver.events(conf["id"]) if h["type"] == "recording.completed"]
    assert done["data"]["size_bytes"] > 44, done
    status, audio = await live.call(
        "GET", f"/v1/conferences/{conf['id']}/recordings/{rec_id}/audio"
    )
    assert status == 200 and audio[:4] == b"RIFF" and len(audio) == done["data"]["size_bytes"]


async def test_a_recording_asterisk_could_not_write_for_us_is_an_error(live: Live) -> None:
    """Asterisk records into a directory the bridge does not share: recording.failed, and
    no recording.completed with size 0."""
    conf = await live.conference("9005", record=True)
    phone = live.phone("9005")
    await live.wait_participants(conf["id"], 1)
    await live.wait_hooks(conf["id"], "recording.started")
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")
    assert await phone.finished() == 0, phone.output()
    await live.wait_hooks(conf["id"], "recording.failed")
    assert "recording.completed" not in live.hook_types(conf["id"])


async def test_conference_timeout_ends_every_call(live: Live) -> None:
    conf = await live.conference("9004", timeout=4)
    phone = live.phone("9004")
    await live.wait_participants(conf["id"], 1)
    assert await phone.finished(within=30) == 0, phone.output()
    ended = await live.wait_status(conf["id"], "terminated")
    assert ended["end_reason"] == "timeout"
    [p] = await live.participants(conf["id"], status="left")
    assert p["leave_reason"] == "timeout"
    assert await live.pbx_members(conf["id"]) == []
