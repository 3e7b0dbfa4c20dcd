"""Dial-in end to end: SIPp phones → our Asterisk → FastAGI routing → ConfBridge, with the
real app on top. Outcomes are checked through the API, the webhooks received and
Asterisk's own ConfbridgeList."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bridge_testing.sipp import sipp_available
from bridge_testing.wait import Not, until
from live_bridge import Live

from bridge.protocols.ami import AmiEvent

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(not sipp_available(), reason="sipp (package sip-tester) is not installed"),
]


async def test_caller_joins_and_hangs_up(live: Live) -> None:
    conf = await live.conference("5001")
    phone = live.phone("5001", steps=(("pause", 3000),), wait_for_bye_ms=1)
    [p] = await live.wait_participants(conf["id"], 1)
    assert p["direction"] == "inbound"
    members = await live.pbx_members(conf["id"])
    assert len(members) == 1 and (members[0].get("Channel") or "").startswith("PJSIP/")
    assert (await live.get(conf["id"]))["status"] == "in_progress"
    assert await phone.finished() == 0, phone.output()
    await live.wait_hooks(conf["id"], "participant.joined", "participant.left")
    left = await live.get(conf["id"], p["id"])
    assert left["status"] == "left" and left["leave_reason"] == "hangup"
    assert left["seconds_connected_duration"] >= 2.0
    await live.wait_status(conf["id"], "empty")
    assert await live.pbx_members(conf["id"]) == []


@pytest.mark.parametrize(
    ("code", "expect"),
    [("4040", 404), ("4041", 503)],
    ids=["unknown-code-404", "full-503"],
)
async def test_refusals_map_to_sip_codes(live: Live, code: str, expect: int) -> None:
    if code == "4041":
        conf = await live.conference(code, max_participants=1)
        first = live.phone(code, wait_for_bye_ms=30_000)
        await live.wait_participants(conf["id"], 1)
    phone = live.phone(code, expect=expect)
    assert await phone.finished() == 0, phone.output()
    if code == "4041":
        await live.ok("DELETE", f"/v1/conferences/{conf['id']}")
        assert await first.finished() == 0, first.output()


async def test_kick_and_terminate_end_the_calls(live: Live) -> None:
    conf = await live.conference("5002")
    a = live.phone("5002")
    b = live.phone("5002")
    pa, pb = await live.wait_participants(conf["id"], 2)
    await until(lambda: len(live.backend.registry.calls) == 2)
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}/participants/{pa['id']}")
    # pa is whichever INVITE Asterisk took first, not necessarily a's: the kicked one ends
    kicked_phone = await until(
        lambda: next((p for p in (a, b) if p.process.poll() is not None), None),
        30,
        "the kicked caller's call ends",
    )
    assert kicked_phone.process.returncode == 0, kicked_phone.output()
    b = b if kicked_phone is a else a
    await live.wait_hooks(conf["id"], "participant.left")
    kicked = await live.get(conf["id"], pa["id"])
    assert kicked["leave_reason"] == "kicked"
    assert len(await live.pbx_members(conf["id"])) == 1
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")
    assert await b.finished() == 0, b.output()
    await live.wait_status(conf["id"], "terminated")
    ended = await live.get(conf["id"], pb["id"])
    assert ended["leave_reason"] == "conference_ended"
    assert await live.pbx_members(conf["id"]) == []


def _muted(member: AmiEvent) -> str:
    return (member.get("Muted") or "").lower()


async def test_mute_unmute_by_api_and_talker_false(live: Live) -> None:
    conf = await live.conference(
        "5003", dial_in={"pin": "123", "moderator_pin": "456",
                         "participant_options": {"talker": False},
                         "moderator_options": {"start_on_entry": True}},
    )  # fmt: skip
    listener = live.phone("5003", steps=(("pause", 300), *[("digit", d) for d in "123#"]))
    speaker = live.phone("5003", steps=(("pause", 300), *[("digit", d) for d in "456#"]))
    await live.wait_participants(conf["id"], 2, within=30)
    await until(lambda: len(live.backend.registry.calls) == 2)
    people = {p["moderator"]: p for p in await live.participants(conf["id"])}
    quiet, talker = people[False], people[True]
    assert quiet["muted"] is True and talker["muted"] is False
    members = await until_members(live, conf["id"], 2)
    by_muted = sorted(_muted(m) for m in members)
    assert by_muted == ["no", "yes"]

    # a listener is never unmuted
    path = f"/v1/conferences/{conf['id']}/participants"
    status, _ = await live.call("PATCH", f"{path}/{quiet['id']}", json={"muted": False})
    assert status == 409
    # mute / unmute the talker by API: ConfbridgeMute/Unmute on its exact channel
    since = live.ami.mark()
    await live.ok("PATCH", f"{path}/{talker['id']}", json={"muted": True})
    await live.ami.wait_event(lambda ev: ev.name == "ConfbridgeMute", since=since)
    assert sorted(_muted(m) for m in await live.pbx_members(conf["id"])) == ["yes", "yes"]
    await live.ok("PATCH", f"{path}/{talker['id']}", json={"muted": False})
    await live.ami.wait_event(lambda ev: ev.name == "ConfbridgeUnmute", since=since)
    assert sorted(_muted(m) for m in await live.pbx_members(conf["id"])) == ["no", "yes"]
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")
    for phone in (listener, speaker):
        assert await phone.ended_by_pbx(), phone.output()


async def until_members(
    live: Live, conf_id: str, count: int, within: float = 15.0
) -> list[AmiEvent]:
    """Poll Asterisk's ConfbridgeList until it lists `count` members."""

    async def counted() -> list[AmiEvent] | Not:
        members = await live.pbx_members(conf_id)
        return list(members) if len(members) == count else Not(members)

    return await until(counted, within, f"{count} members in ConfbridgeList")


async def test_digits_mute_unmute_exit(live: Live) -> None:
    opts = {"mute_digit": "1", "unmute_digit": "2", "exit_digit": "3"}
    conf = await live.conference("5004", dial_in={"participant_options": opts})
    steps = (("pause", 1500), ("digit", "1"), ("pause", 1000), ("digit", "2"),
             ("pause", 1000), ("digit", "3"))  # fmt: skip
    phone = live.phone("5004", steps=steps, wait_for_bye_ms=20_000)
    [p] = await live.wait_participants(conf["id"], 1)
    assert await phone.finished() == 0, phone.output()
    await live.wait_hooks(conf["id"], "participant.digit", "participant.digit",
                          "participant.digit", "participant.left")  # fmt: skip
    hooks = live.receiver.events(conf["id"])
    digits = [(h["data"]["digit"], h["data"]["action"]) for h in hooks
              if h["type"] == "participant.digit"]  # fmt: skip
    assert digits == [("1", "mute"), ("2", "unmute"), ("3", "exit")], hooks
    mutes = [h["data"]["muted"] for h in hooks
             if h["type"] == "participant.updated" and "muted" in h["data"]]  # fmt: skip
    assert mutes == [True, False]
    left = await live.get(conf["id"], p["id"])
    assert left["leave_reason"] == "exit_digit"
    seqs = [h["sequence"] for h in hooks]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_dtmf_disabled_digits_do_nothing(live: Live) -> None:
    opts = {"mute_digit": "1", "exit_digit": "3", "dtmf_enabled": False}
    conf = await live.conference("5005", dial_in={"participant_options": opts})
    steps = (("pause", 1500), ("digit", "1"), ("digit", "3"), ("pause", 500))
    phone = live.phone("5005", steps=steps, wait_for_bye_ms=1)
    [p] = await live.wait_participants(conf["id"], 1)
    assert await phone.finished() == 0, phone.output()
    await live.wait_hooks(conf["id"], "participant.digit", "participant.digit", "participant.left")
    hooks = live.receiver.events(conf["id"])
    assert [h["data"]["action"] for h in hooks if h["type"] == "participant.digit"] == [
        "none",
        "none",
    ]
    assert (await live.get(conf["id"], p["id"]))["leave_reason"] == "hangup"


async def test_reservation_not_started_busies_or_diverts(live: Live) -> None:
    start = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%d_%H:%M:%S")
    for code, divert, expect in (("5201", None, 486), ("5202", "sip:lobby@example.org", 302)):
        body: dict[str, object] = {
            "conference_name": f"Res{code}",
            "max_participants": 40,
            "start_time": start,
            "duration": 60,
            "conference": {"dial_in": {"access_code": code}},
        }
        if divert:
            body["divert"] = divert
        await live.ok("POST", "/v1/reservations", 201, json=body)
        phone = live.phone(code, expect=expect)
        assert await phone.finished() == 0, phone.output()
    # nobody was admitted: no participant exists in either conference
    assert not live.backend.registry.calls


async def test_wrong_pin_then_right_pin_is_admitted(live: Live) -> None:
    conf = await live.conference("5203", dial_in={"pin": "3456"})
    # "12" times out (wrong: core/pin.py's 8 s digit timeout), then the re-prompt takes
    # "3456#" (digits must rise: see bridge_testing.sipp_phone). In between plays the
    # wrong-PIN prompt (2.7 s, digits sent during it are lost), then the PIN prompt (2.4 s,
    # which they interrupt): the digits come 11.5 s after the last wrong one, inside the PIN
    # prompt.
    steps = (("pause", 300), ("digit", "1"), ("digit", "2"), ("pause", 11500),
             *[("digit", d) for d in "3456#"])  # fmt: skip
    phone = live.phone("5203", steps=steps)
    [p] = await live.wait_participants(conf["id"], 1, within=40)
    assert p["from"] == "sipp"
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")
    assert await phone.finished() == 0, phone.output()
