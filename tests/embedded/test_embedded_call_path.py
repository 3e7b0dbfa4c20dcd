"""The embedded call path's contract: a participant is joined once, when its call is up
(our 2xx ACKed), and the engine's map of calls empties as calls end, however they end."""

from __future__ import annotations

import pytest
from bridge_testing.embedded import Engine, joined, new_phone
from bridge_testing.phone import SipPhone
from bridge_testing.wait import until
from receiver import WebhookReceiver

pytestmark = pytest.mark.embedded


def answers(phone: SipPhone) -> int:
    return sum(1 for r in phone.responses if r.cseq.method == "INVITE" and r.status == 200)


async def test_joined_waits_for_the_ack_and_is_reported_once(
    engine: Engine, phones: list[SipPhone], receiver: WebhookReceiver
) -> None:
    cid = await engine.conference("8101", play_beep="never", status_callback_url=receiver.url)
    late = await new_phone(phones, "late")
    late.held_acks = []
    assert await late.call(engine.sip, "8101") == 200
    # the 2xx retransmitted (Timer G2xx, 500 ms): the engine has been waiting for the ACK
    await until(lambda: answers(late) >= 2, 5.0, "2xx retransmission")
    await engine.settle()
    [p] = await engine.participants(cid)
    assert p["status"] == "joining", "not joined before the call is up"
    late.release_acks()
    await joined(engine, cid, 1)
    await receiver.wait_for(
        lambda rs: any(r.json["event"]["type"] == "participant.joined" for r in rs)
    )
    other = await new_phone(phones, "other")
    assert await other.call(engine.sip, "8101") == 200
    await joined(engine, cid, 2)
    await late.hangup()
    await receiver.wait_for(
        lambda rs: any(r.json["event"]["type"] == "participant.left" for r in rs)
    )
    kinds = [e["type"] for e in receiver.events(cid) if e.get("participant_id") == p["id"]]
    assert kinds.count("participant.joined") == 1, kinds


async def test_a_call_whose_ack_never_comes_leaves_without_joining(
    engine: Engine, phones: list[SipPhone]
) -> None:
    cid = await engine.conference("8102", play_beep="never")
    lost = await new_phone(phones, "lost")
    lost.held_acks = []
    assert await lost.call(engine.sip, "8102") == 200
    await until(lambda: answers(lost) >= 2, 5.0, "2xx retransmission")
    await lost.hangup()  # a BYE before any ACK: `answer` gives up, the call never joined
    await engine.settle()
    await until(lambda: not engine.backend.legs, 5.0, "the engine forgets the call")
    [p] = await engine.participants(cid)
    assert p["status"] != "joined" and p["joined_at"] is None, p


async def test_the_engine_forgets_calls_however_they_end(
    engine: Engine, phones: list[SipPhone]
) -> None:
    cid = await engine.conference("8103", play_beep="never")
    refused = await new_phone(phones, "refused")
    assert await refused.call(engine.sip, "0000") == 404
    kicked, hanging = await new_phone(phones, "kicked"), await new_phone(phones, "hanging")
    assert await kicked.call(engine.sip, "8103") == 200
    assert await hanging.call(engine.sip, "8103") == 200
    people = await joined(engine, cid, 2)
    assert len(engine.backend.legs) == 2
    victim = next(p for p in people if p["from"] == "kicked")
    await engine.ok("DELETE", f"/v1/conferences/{cid}/participants/{victim['id']}")
    await until(lambda: kicked.bye_received, 5.0, "BYE to the kicked phone")
    await hanging.hangup()
    await engine.settle()
    await until(
        lambda: not engine.backend.legs and not engine.backend.ua.calls, 5.0, "no calls left"
    )
    assert not engine.backend.by_participant


async def test_a_dial_out_kicked_while_ringing_is_cancelled_by_the_ua(
    engine: Engine, phones: list[SipPhone]
) -> None:
    cid = await engine.conference("8104", play_beep="never")
    ringing = await new_phone(phones, "ringing")
    ringing.answer_mode = "ring"
    dial = {"to": f"sip:{ringing.uri}", "seconds_answer_timeout": 30}
    p = await engine.ok("POST", f"/v1/conferences/{cid}/participants", 201, json=dial)
    await until(lambda: any(r.method == "INVITE" for r in ringing.requests), 5.0, "INVITE")
    await until(lambda: bool(engine.backend.ua.calls), 5.0, "the call is dialling")
    await engine.ok("DELETE", f"/v1/conferences/{cid}/participants/{p['id']}")
    await until(lambda: any(r.method == "CANCEL" for r in ringing.requests), 5.0, "CANCEL")
    await engine.settle()
    assert not engine.backend.ua.calls and not engine.backend.legs
    got = await engine.ok("GET", f"/v1/conferences/{cid}/participants/{p['id']}")
    assert got["status"] != "joined" and got["joined_at"] is None, got
