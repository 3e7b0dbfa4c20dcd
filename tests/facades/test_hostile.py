"""Hostile input through the facades: a clear 4xx in the vendor's shape with a stable code,
nothing changed, no traceback logged."""

from __future__ import annotations

import logging

import pytest
from bridge_testing.facades import Tenant
from harness import Bridge

BAD_TEXT = ("a\r\nb", "${jndi}", "x|y", "\x00")
CONTROL = ("a\r\nb", "\x00", "tab\there")  # free text (alias) refuses only controls: it never
# reaches a PBX (conferences are cb-<id> there)


async def count_v1(bridge: Bridge, tenant: Tenant) -> int:
    resp = await bridge.client.get("/v1/conferences", headers=tenant.v1)
    return len((await resp.json())["items"])


@pytest.mark.parametrize("text", CONTROL)
async def test_freeclimb_alias(
    bridge: Bridge, tenant: Tenant, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"/apiserver/Accounts/{tenant.account_id}/Conferences"
    resp = await bridge.client.post(path, json={"alias": text}, headers=tenant.freeclimb)
    body = await resp.json()
    assert resp.status == 400 and body["details"]["code"] == "invalid_field", body
    assert await count_v1(bridge, tenant) == 0
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_aculab_names_media_and_files(bridge: Bridge, tenant: Tenant) -> None:
    for name in BAD_TEXT:
        resp = await bridge.client.post(
            "/webservices/conference_reservation_create",
            data={"conference_name": name, "max_participants": "40",
                  "start_time": "2030-01-01-12-00", "duration": "30"},
            headers=tenant.aculab,
        )  # fmt: skip
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["error"]["code"] == "0002"
    action = {"name": "Adhoc", "hold_media": {"play": {"play_list": [
        {"text_to_say": "hello ${x}"}]}}}  # fmt: skip
    resp = await bridge.client.post(
        "/webservices/connect_to_conference",
        json={"call_to": "1001", "connect_to_conference": action},
        headers=tenant.aculab,
    )
    assert resp.status == 400 and (await resp.json())["error"]["reason"] == "invalid_text"
    action = {"name": "Adhoc", "hold_media": {"play": {"play_list": [
        {"file_to_play": "../../etc/passwd"}]}}}  # fmt: skip
    resp = await bridge.client.post(
        "/webservices/connect_to_conference",
        json={"call_to": "1001", "connect_to_conference": action},
        headers=tenant.aculab,
    )
    assert resp.status == 400
    resp = await bridge.client.post(
        "/webservices/connect_to_conference",
        json={"call_to": "sip:a@b;x=${y}", "connect_to_conference": {"name": "Adhoc"}},
        headers=tenant.aculab,
    )
    assert resp.status == 400
    assert await count_v1(bridge, tenant) == 0, "nothing was opened or dialled"


async def test_voipbin_talk_text_and_too_many_parameters(bridge: Bridge, tenant: Tenant) -> None:
    talk = {"type": "talk", "option": {"text": "hi\r\nEvent: x"}}
    resp = await bridge.client.post(
        "/v1.0/conferences", headers=tenant.voipbin, json={"name": "x", "pre_actions": [talk]}
    )
    assert resp.status == 400
    resp = await bridge.client.post("/v1.0/conferences", headers=tenant.voipbin, json={
        "name": "x", "pre_actions": [{"type": "talk", "option": {
            "text": "hi", "gender": "robot"}}]})  # fmt: skip
    assert resp.status == 400
    many = {f"p{i}": "x" for i in range(100)}
    resp = await bridge.client.post("/v1.0/conferences", headers=tenant.voipbin, json=many)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "too_many_parameters"
    resp = await bridge.client.post(
        "/v1.0/conferences",
        headers={**tenant.voipbin, "Content-Type": "text/plain"},
        data=b"name=x",
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "unsupported_media_type"
    assert await count_v1(bridge, tenant) == 0


async def test_a_malformed_form_body_is_refused(
    bridge: Bridge, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"/apiserver/Accounts/{tenant.account_id}/Conferences"
    for content_type in ("multipart/form-data", "multipart/form-data; boundary="):
        resp = await bridge.client.post(
            path, data=b'{"alias": "x"}', headers={**tenant.freeclimb, "Content-Type": content_type}
        )
        body = await resp.json()
        assert resp.status == 400, body
        assert body["details"]["code"] == "unsupported_media_type", body
    assert await count_v1(bridge, tenant) == 0
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
