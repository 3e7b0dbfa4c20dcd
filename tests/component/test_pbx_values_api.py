"""Values that would reach a PBX are refused at the API with a stable code and change
nothing: dial targets that pick an endpoint or trunk, say text a PBX would expand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from harness import Bridge

HOSTILE_TARGETS = [
    "accnoendpoint/sip:bob@example.org",  # PJSIP/<endpoint>/...: the tenant picks a trunk
    "PJSIP/1001",
    "sofia/gateway/carrier/4420",
    "loopback/9999",
    "{origination_caller_id_number=1}sip:bob@example.org",
    "sip:bob@example.org;transport=tcp",  # URI parameters and headers are configuration
    "sip:bob@example.org?X-Hdr=1",
    "1001,1002",
    "1001|1002",
    "1001&1002",
    "${system(touch /tmp/x)}",
    "$${hostname}",
    "$[1+1]",
    "sip:bob@evil.org\r\nVia: x",
    "bob\x00",
    "'bob'",
    '"bob"',
    "",
]

HOSTILE_SPEECH = [
    "${system(touch /tmp/cb-marker)}",
    "$${base_dir}",
    "hello|world",
    "a {b} c",
    "it's",
    'say "hi"',
    "line\r\nbreak",
    "nul\x00",
    "$[1+1]",
    "back\\slash",
    "under_score",
]


async def _conference(bridge: Bridge) -> str:
    body = {"name": "c", "dial_in": {"access_code": "4321"}}
    return str((await bridge.ok("POST", "/v1/conferences", 201, json=body))["id"])


@pytest.mark.parametrize("to", HOSTILE_TARGETS)
async def test_dial_out_target_is_a_number_user_or_sip_uri(bridge: Bridge, to: str) -> None:
    cid = await _conference(bridge)
    sent = len(bridge.backend.commands)
    status, err = await bridge.call("POST", f"/v1/conferences/{cid}/participants", json={"to": to})
    assert status == 400, err
    # a NUL is refused at the JSON edge, before any field is read
    expected = "invalid_text" if "\x00" in to else "invalid_dial_target"
    assert err["error"]["code"] == expected
    assert (await bridge.ok("GET", f"/v1/conferences/{cid}/participants"))["items"] == []
    assert len(bridge.backend.commands) == sent


@pytest.mark.parametrize(
    "to", ["+442012345678", "1001", "alice", "sip:bob@example.org", "sip:bob@[2001:db8::1]:5070"]
)
async def test_valid_targets_dial(bridge: Bridge, to: str) -> None:
    cid = await _conference(bridge)
    p = await bridge.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": to})
    assert p["to"] == to


@pytest.mark.parametrize("divert", HOSTILE_TARGETS[:8])
async def test_reservation_divert_is_a_dial_target(bridge: Bridge, divert: str) -> None:
    start = (bridge.clock.now() + timedelta(minutes=30)).strftime("%Y-%m-%d_%H:%M:%S")
    body = {"conference_name": "Div", "max_participants": 40, "start_time": start}
    status, err = await bridge.call(
        "POST", "/v1/reservations", json={**body, "duration": 60, "divert": divert}
    )
    assert status == 400 and err["error"]["code"] == "invalid_dial_target", err
    assert (await bridge.ok("GET", "/v1/reservations"))["items"] == []


@pytest.mark.parametrize("text", HOSTILE_SPEECH)
async def test_say_text_cannot_carry_expansion_or_separators(bridge: Bridge, text: str) -> None:
    cid = await _conference(bridge)
    p = await bridge.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": "1"})
    await bridge.settle()
    sent = len(bridge.backend.commands)
    media = {"media": {"say": {"text": text}}, "participant_id": p["id"]}
    status, err = await bridge.call("POST", f"/v1/conferences/{cid}/announcements", json=media)
    assert status == 400, err
    assert err["error"]["code"] in ("invalid_text", "invalid_field"), err
    assert len(bridge.backend.commands) == sent
    # the same text as a participant's spoken name is refused too
    status, err = await bridge.call(
        "POST",
        f"/v1/conferences/{cid}/participants",
        json={"to": "2", "participant": {"name": {"say": {"text": text}}}},
    )
    assert status == 400, err


async def test_plain_speech_of_any_script_is_accepted(bridge: Bridge) -> None:
    cid = await _conference(bridge)
    p = await bridge.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": "1"})
    await bridge.settle()
    media = {"media": {"say": {"text": "Hello, Zoë: 3 minutes left. Ça va? Да!"}}}
    await bridge.ok(
        "POST",
        f"/v1/conferences/{cid}/announcements",
        202,
        json={**media, "participant_id": p["id"]},
    )
