"""Each facade's lifecycle against the embedded engine, with real SIP callers on loopback:
FreeClimb empty -> populated -> inProgress -> empty -> terminated; a VoIPbin conferencecall
joining -> joined -> leaving -> leaved; an Aculab reservation RESERVED -> HOLDING -> ACTIVE
-> COMPLETED with a caller busied before the start and one diverted; connect_to_conference
reporting seconds_connected_duration to next_page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from bridge_testing.embedded import new_phone
from bridge_testing.facades import Live
from bridge_testing.phone import SipPhone
from bridge_testing.wait import until
from receiver import WebhookReceiver

from bridge.api.facades import freeclimb
from bridge.protocols.sip import build_response

pytestmark = pytest.mark.embedded


def equals(probe: Callable[[], Awaitable[Any]], wanted: Any) -> Callable[[], Awaitable[bool]]:
    """A condition for `until`: `probe()` returns `wanted`."""

    async def check() -> bool:
        return bool(await probe() == wanted)

    return check


async def test_freeclimb_conference_lifecycle(
    live: Live, phones: list[SipPhone], receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = live.tenant
    base = f"/apiserver/Accounts/{t.account_id}/Conferences"
    conf = await live.ok("POST", base, t.freeclimb, json={
        "alias": "Standup", "playBeep": "never", "record": True,
        "statusCallbackUrl": receiver.url})  # fmt: skip
    cid = conf["conferenceId"]
    assert conf["status"] == "empty"
    # callers reach it by an access code (set through /v1: the same conference)
    await live.ok("PATCH", f"/v1/conferences/{cid}", t.v1, json={"dial_in": {
        "access_code": "8101", "pin": "1111", "moderator_pin": "2222",
        "participant_options": {"start_on_entry": False},
        "moderator_options": {"start_on_entry": True}}})  # fmt: skip

    async def status() -> str:
        return str((await live.ok("GET", f"{base}/{cid}", t.freeclimb))["status"])

    async def joined() -> int:
        page = await live.ok("GET", f"{base}/{cid}/Participants", t.freeclimb)
        return sum(1 for p in page["participants"] if p["dateCreated"])

    guest = await new_phone(phones, "guest", 500.0)
    assert await guest.call(live.sip, "8101") == 200
    guest.send_digits("1111#")
    await until(equals(status, "populated"), what="a participant without startConfOnEnter")
    host = await new_phone(phones, "host", 700.0)
    assert await host.call(live.sip, "8101") == 200
    host.send_digits("2222#")
    await until(equals(status, "inProgress"), what="a start-moderator joined")
    await until(equals(joined, 2), what="both participants listed")

    page = await live.ok("GET", f"{base}/{cid}/Participants", t.freeclimb)
    guest_p = next(p for p in page["participants"] if not p["startConfOnEnter"])
    assert guest_p["talk"] is True and guest_p["listen"] is True
    uri = f"/Accounts/{t.account_id}/Conferences/{cid}/Participants/{guest_p['callId']}"
    assert guest_p["uri"] == uri
    part = f"{base}/{cid}/Participants/{guest_p['callId']}"
    updated = await live.ok("POST", part, t.freeclimb, json={"talk": False})
    assert updated["talk"] is False and updated["listen"] is True
    v1 = await live.ok("GET", f"/v1/conferences/{cid}/participants/{guest_p['callId']}", t.v1)
    assert v1["muted"] is True, "talk=false is our mute"
    talking = await live.ok("GET", f"{base}/{cid}/Participants", t.freeclimb,
                            params={"talk": "false"})  # fmt: skip
    assert [p["callId"] for p in talking["participants"]] == [guest_p["callId"]]
    # the participants, one a page: nextPageUri (relative to /apiserver) leads to the second
    monkeypatch.setattr(freeclimb, "PAGE_SIZE", 1)
    first = await live.ok("GET", f"{base}/{cid}/Participants", t.freeclimb)
    assert (first["total"], first["numPages"], first["page"]) == (2, 2, 0)
    second = await live.ok("GET", "/apiserver" + first["nextPageUri"], t.freeclimb)
    assert (second["page"], second["start"], second["nextPageUri"]) == (1, 1, None)
    paged = [p["callId"] for p in first["participants"] + second["participants"]]
    assert sorted(paged) == sorted(p["callId"] for p in page["participants"])
    monkeypatch.undo()

    await host.hangup()
    resp = await live.client.delete(part, headers=t.freeclimb)
    assert resp.status == 204
    await until(lambda: guest.bye_received, 5.0, "BYE on remove")
    await until(equals(status, "empty"), what="the last participant left")
    done = await live.ok("POST", f"{base}/{cid}", t.freeclimb, json={"status": "terminated"})
    assert done["status"] == "terminated"

    got = await receiver.wait_for(lambda rs: any(
        r.json.get("status") == "terminated" for r in rs))  # fmt: skip
    seen = [r.json["status"] for r in got if r.json.get("requestType") == "conferenceStatus"]
    assert seen == ["populated", "inProgress", "empty", "terminated"], seen
    created = [r.json for r in got if r.json.get("requestType") == "createConference"]
    assert created and created[0]["conferenceId"] == cid and created[0]["status"] == "empty"
    assert created[0]["accountId"] == t.account_id

    # the recording made while inProgress, through the advertised subresource URI
    recs_uri = "/apiserver" + done["subresourceUris"]["recordings"]

    async def recordings() -> int:
        return len((await live.ok("GET", recs_uri, t.freeclimb))["recordings"])

    await until(equals(recordings, 1), what="the recording listed")
    [rec] = (await live.ok("GET", recs_uri, t.freeclimb))["recordings"]
    assert rec["conferenceId"] == cid and rec["uri"].endswith(f"/Recordings/{rec['recordingId']}")
    assert isinstance(rec["durationSec"], int)
    one = await live.ok("GET", "/apiserver" + rec["uri"], t.freeclimb)
    assert one["recordingId"] == rec["recordingId"]
    audio = await live.client.get("/apiserver" + rec["uri"] + "/Download", headers=t.freeclimb)
    assert audio.status == 200 and audio.content_type == "audio/wav"
    assert (await audio.read())[:4] == b"RIFF"
    status_code, body = await live.call("GET", f"{recs_uri}/rec_x", t.freeclimb)
    assert status_code == 404 and body["details"]["code"] == "recording_not_found"


@dataclass
class LatePhone(SipPhone):
    """A phone that rings when called and answers only when told to: a call we can see in
    its joining state for as long as the test needs."""

    held: tuple[Any, Any] | None = None

    def _incoming_invite(self, request: Any, addr: Any) -> None:
        if self.held is None and not self.answered:
            self._send_sip(build_response(request, 180), addr)
            self.held = (request, addr)
            return
        super()._incoming_invite(request, addr)

    def answer_now(self) -> None:
        assert self.held is not None, "not called yet"
        super()._incoming_invite(*self.held)


async def test_voipbin_conferencecall_lifecycle(live: Live, phones: list[SipPhone]) -> None:
    t = live.tenant
    conf = await live.ok("POST", "/v1.0/conferences", t.voipbin, json={
        "type": "conference", "name": "support",
        "pre_actions": [{"type": "talk", "option": {
            "text": "Welcome", "gender": "female", "language": "en-US"}}]})  # fmt: skip
    cid = conf["id"]
    phone = LatePhone("late", 500.0)
    await phone.start()
    phones.append(phone)
    dialled = await live.ok("POST", f"/v1/conferences/{cid}/participants", t.v1, 201,
                            json={"to": f"sip:{phone.uri}"})  # fmt: skip
    await until(lambda: phone.held is not None, 5.0, "the call rings")
    one = f"/v1.0/conferencecalls/{dialled['id']}"
    call = await live.ok("GET", one, t.voipbin)
    assert call["status"] == "joining" and call["reference_type"] == "call"
    assert call["conference_id"] == cid and call["tm_delete"] == "9999-01-01 00:00:00.000000"
    page = await live.ok("GET", "/v1.0/conferencecalls", t.voipbin)
    assert [c["id"] for c in page["result"]] == [call["id"]]
    seen = [call["status"]]

    async def status() -> str:
        got = str((await live.ok("GET", one, t.voipbin))["status"])
        if got != seen[-1]:
            seen.append(got)
        return got

    phone.answer_now()
    await until(equals(status, "joined"), what="the call was answered")
    conference = await live.ok("GET", f"/v1.0/conferences/{cid}", t.voipbin)
    assert conference["status"] == "progressing"
    assert conference["conferencecall_ids"] == [call["id"]]

    removed = await live.ok("DELETE", one, t.voipbin)
    assert removed["status"] == "leaving", "DELETE starts the disconnection"
    seen.append("leaving")
    await until(lambda: phone.bye_received, 5.0, "BYE to the call")
    await until(equals(status, "leaved"), what="the call left")
    assert seen == ["joining", "joined", "leaving", "leaved"], seen
    final = await live.ok("GET", one, t.voipbin)
    assert final["tm_delete"] != "9999-01-01 00:00:00.000000"
    # forward only: a left call cannot be removed again, and stays leaved
    status_code, body = await live.call("DELETE", one, t.voipbin)
    assert status_code == 409 and body["error"]["code"] == "participant_not_present"
    assert (await live.ok("GET", one, t.voipbin))["status"] == "leaved"


async def test_aculab_reservation_lifecycle(live: Live, phones: list[SipPhone]) -> None:
    t = live.tenant
    start = live.clock.now() + timedelta(minutes=10)

    async def reserve(name: str, **extra: str) -> str:
        form = {"conference_name": name, "max_participants": "40", "duration": "30",
                "start_time": start.strftime("%Y-%m-%d-%H-%M"), **extra}  # fmt: skip
        body = await live.ok("POST", "/webservices/conference_reservation_create", t.aculab,
                             data=form)  # fmt: skip
        return str(body["reservation_token"])

    token = await reserve("Board")
    diverted_token = await reserve("Overflow", divert="sip:overflow@127.0.0.1:5099")
    for tok, code in ((token, "8301"), (diverted_token, "8302")):
        r = await live.ok("GET", f"/v1/reservations/{tok}", t.v1)
        await live.ok("PATCH", f"/v1/conferences/{r['conference_id']}", t.v1,
                      json={"dial_in": {"access_code": code}})  # fmt: skip

    async def listed() -> str:
        page = await live.ok("GET", "/webservices/conference_list", t.aculab)
        board = next(x for x in page["conferences"] if x["conference_name"] == "Board")
        return str(board["status"])

    assert await listed() == "RESERVED"
    early = await new_phone(phones, "early")
    assert await early.call(live.sip, "8301") == 486, "before the start: BUSY"
    assert await early.call(live.sip, "8302") == 302, "before the start, with divert: diverted"
    assert "overflow@127.0.0.1:5099" in (early.responses[-1].headers.get("contact") or "")

    live.clock.advance(10 * 60)
    await live.parts.scheduler.tick()
    await until(equals(listed, "HOLDING"), what="the start time came")
    leader = await new_phone(phones, "leader", 500.0)
    assert await leader.call(live.sip, "8301") == 200
    await until(equals(listed, "ACTIVE"), what="a participant that starts the conference")
    other = await new_phone(phones, "other", 700.0)
    assert await other.call(live.sip, "8301") == 200

    async def people() -> int:
        body = await live.ok("GET", "/webservices/conference_participant_list", t.aculab,
                             params={"conference_name": "Board"})  # fmt: skip
        return len(body["participants"])

    await until(equals(people, 2), what="both callers listed")
    body = await live.ok("GET", "/webservices/conference_participant_list", t.aculab,
                         params={"reservation_token": token})  # fmt: skip
    assert body["status"] == "ACTIVE"
    first = body["participants"][0]
    assert set(first) == {"participant_id", "muted", "dtmf_enabled"}
    assert first["muted"] is False and first["dtmf_enabled"] is True
    pid = first["participant_id"]
    got = await live.ok("POST", "/webservices/conference_participant_set_options", t.aculab,
                        data={"conference_name": "Board", "participant_id": pid,
                              "muted": "true", "dtmf_enabled": "false"})  # fmt: skip
    assert got == {"options_set": True}
    body = await live.ok("GET", "/webservices/conference_participant_list", t.aculab,
                         params={"conference_name": "Board"})  # fmt: skip
    mine = next(p for p in body["participants"] if p["participant_id"] == pid)
    assert mine["muted"] is True and mine["dtmf_enabled"] is False
    got = await live.ok("GET", "/webservices/conference_participant_eject", t.aculab,
                        params={"conference_name": "Board", "participant_id": pid})  # fmt: skip
    assert got == {"ejected": True}
    await until(equals(people, 1), what="the ejected participant left")

    live.clock.advance(31 * 60)  # past the reservation's end
    await live.parts.scheduler.tick()
    await until(equals(listed, "COMPLETED"), what="the reservation ended")
    for phone in (leader, other):
        await until(lambda p=phone: p.bye_received, 5.0, "BYE at the end")  # type: ignore[misc]


async def test_aculab_connect_to_conference(
    live: Live, phones: list[SipPhone], receiver: WebhookReceiver
) -> None:
    t = live.tenant
    callee = await new_phone(phones, "callee", 700.0)
    action = {
        "name": "Adhoc",
        "hold_media": {"play": {"play_list": [{"text_to_say": "Please wait"}]}},
        "seconds_answer_timeout": 10,
        "conference_participant": {
            "talker": True, "start_on_entry": True, "destroy_on_exit": False,
            "beep_on_entry": False, "exit_digit": "#", "mute_digit": "5",
            "has_joined_message": {"play": {"play_list": [{"file_to_play": "wait300.wav"}]}},
        },
        "secondary_call": {"call_recording": False, "minutes_max_call_duration": 10,
                           "first_page": {"url": f"{receiver.url}/first"},
                           "final_page": f"{receiver.url}/final"},
        "next_page": {"url": f"{receiver.url}/next"},
    }  # fmt: skip
    request = {"call_to": f"sip:{callee.uri}", "connect_to_conference": action}
    got = await live.ok("POST", "/webservices/connect_to_conference", t.aculab, json=request)
    pid = got["participant_id"]
    assert got["conference_name"] == "Adhoc"

    async def present() -> int:
        body = await live.ok("GET", "/webservices/conference_participant_list", t.aculab,
                             params={"conference_name": "Adhoc"})  # fmt: skip
        return len(body["participants"])

    await until(equals(present, 1), what="the secondary call joined")
    await until(lambda: callee.answered, 5.0, "the callee answered")
    await callee.listen(0.5)
    callee.send_digits("#")  # the exit digit
    ended = await receiver.wait_for(lambda rs: any(r.path == "/hook/next" for r in rs))
    [nxt] = [r.json for r in ended if r.path == "/hook/next"]
    seconds = nxt["action_result"]["result"]["seconds_connected_duration"]
    assert nxt["action_result"]["action"] == "connect_to_conference"
    assert isinstance(seconds, str) and len(seconds.split(".")[1]) == 1 and float(seconds) > 0
    assert nxt["event"]["participant_id"] == pid
    assert any(r.path == "/hook/first" for r in ended), "first_page on answer"
    # bad action objects are refused, nothing dialled
    action["conference_participant"] = {"mute_digit": "x"}
    status_code, body = await live.call("POST", "/webservices/connect_to_conference", t.aculab,
                                        json={"call_to": f"sip:{callee.uri}",
                                              "connect_to_conference": action})  # fmt: skip
    assert status_code == 400 and body["error"]["code"] == "0002"
