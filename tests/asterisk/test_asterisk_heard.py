"""Heard by a real caller, not only seen in the webhooks: announcements and joined/left
messages reach the callers; an announcement to one participant reaches that one only; a
caller taken out of the mix (listen=false) keeps receiving RTP (silence)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from bridge_testing.heard import (
    FRAMES_PER_SECOND,
    SILENT,
    SipPhone,
    burst_amplitude,
    hears,
    new_phone,
    phone_set,
)
from bridge_testing.heard import asterisk_tone as tone_file
from bridge_testing.pbx_truth import pbx_places
from bridge_testing.wait import until
from live_bridge import Live

pytestmark = [pytest.mark.asterisk]

JOINED_HZ, LEFT_HZ, ANNOUNCE_HZ, PRIVATE_HZ = 1500, 2500, 1000, 700


@pytest.fixture
async def callers() -> AsyncIterator[list[SipPhone]]:
    async with phone_set() as phones:
        yield phones


async def _dial(
    live: Live, callers: list[SipPhone], conf_id: str, code: str
) -> tuple[SipPhone, str]:
    """A caller joins; returns its phone and its participant id."""
    before = {p["id"] for p in await live.participants(conf_id)}
    phone = await new_phone(f"caller{len(callers)}", into=callers)
    assert await phone.call(("127.0.0.1", live.pbx.ports.sip), code) == 200
    joined = await live.wait_participants(conf_id, len(before) + 1)
    [pid] = {p["id"] for p in joined} - before
    return phone, pid


async def test_announcements_and_join_leave_messages_are_heard(
    live: Live, callers: list[SipPhone]
) -> None:
    opts = {
        "has_joined_message": {"play": {"file": tone_file(live.pbx, JOINED_HZ)}},
        "has_left_message": {"play": {"file": tone_file(live.pbx, LEFT_HZ)}},
    }
    conf = await live.conference("7201", play_beep="never", dial_in={"participant_options": opts})
    mark = time.monotonic()
    a, _ = await _dial(live, callers, conf["id"], "7201")
    await hears(a, JOINED_HZ, mark)  # its own joined message plays to the whole room

    mark = time.monotonic()
    body = {"media": [{"play": {"file": tone_file(live.pbx, ANNOUNCE_HZ)}}]}
    await live.ok("POST", f"/v1/conferences/{conf['id']}/announcements", 202, json=body)
    await hears(a, ANNOUNCE_HZ, mark)
    await live.wait_hooks(conf["id"], "announcement.started", "announcement.finished")

    b, _ = await _dial(live, callers, conf["id"], "7201")
    mark = time.monotonic()
    await b.hangup()
    await hears(a, LEFT_HZ, mark)
    await live.wait_participants(conf["id"], 1, status="left")


async def test_listen_false_sends_silence_not_nothing(live: Live, callers: list[SipPhone]) -> None:
    conf = await live.conference("7202", play_beep="never")
    a, pa = await _dial(live, callers, conf["id"], "7202")
    talker, _ = await _dial(live, callers, conf["id"], "7202")
    talker.set_tone(ANNOUNCE_HZ)
    await hears(a, ANNOUNCE_HZ, time.monotonic())  # in the mix: a hears the talker

    path = f"/v1/conferences/{conf['id']}/participants/{pa}"
    await live.ok("PATCH", path, json={"listen": False})
    await until(lambda: live.backend.registry.by_participant[pa].where == "hold")
    pcm = await a.listen(2.0)  # fails (times out) when the hold place sends no RTP
    assert len(pcm) >= 2 * FRAMES_PER_SECOND * 160 * 2 * 0.9
    assert burst_amplitude(pcm[len(pcm) // 2 :], ANNOUNCE_HZ) < SILENT, "deaf, yet hears"

    await live.ok("PATCH", path, json={"listen": True})
    await until(lambda: live.backend.registry.by_participant[pa].where == "conf")
    await hears(a, ANNOUNCE_HZ, time.monotonic())
    assert (await pbx_places(live.ami, conf["id"]))[pa] == ("conf", False)


async def test_announcement_to_one_participant_is_heard_by_it_alone(
    live: Live, callers: list[SipPhone]
) -> None:
    conf = await live.conference("7203", play_beep="never")
    a, pa = await _dial(live, callers, conf["id"], "7203")
    b, _ = await _dial(live, callers, conf["id"], "7203")
    path = f"/v1/conferences/{conf['id']}"
    await live.ok("PATCH", f"{path}/participants/{pa}", json={"muted": True})

    mark = time.monotonic()
    body = {"media": [{"play": {"file": tone_file(live.pbx, PRIVATE_HZ)}}], "participant_id": pa}
    ann = await live.ok("POST", f"{path}/announcements", 202, json=body)
    await hears(a, PRIVATE_HZ, mark)
    await live.wait_hooks(conf["id"], "announcement.started", "announcement.finished")
    [done] = [h for h in live.receiver.events(conf["id"]) if h["type"] == "announcement.finished"]
    assert done["data"]["announcement_id"] == ann["id"]
    assert burst_amplitude(b.heard_since(mark), PRIVATE_HZ) < SILENT, "b heard a's announcement"

    # back in the mix, still muted, and hearing the others again
    await until(lambda: live.backend.registry.by_participant[pa].where == "conf")
    places = await pbx_places(live.ami, conf["id"])
    assert places[pa] == ("conf", True), places
    b.set_tone(ANNOUNCE_HZ)
    await hears(a, ANNOUNCE_HZ, time.monotonic())
    assert (await live.get(conf["id"], pa))["status"] == "joined"
