"""Conferences and participants through a real aiohttp server, SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from typing import Any

from harness import Bridge

from bridge.core import engine as e


async def _conference(b: Bridge, **body: object) -> dict[str, Any]:
    created: dict[str, Any] = await b.ok(
        "POST", "/v1/conferences", 201, json={"name": "standup", **body}
    )
    return created


async def test_create_read_list_patch(bridge: Bridge) -> None:
    c = await _conference(bridge, alias="Daily", data={"team": "core"}, play_beep="entry_only")
    assert c["status"] == "empty" and c["revision"] == 1
    assert c["vendor_status"] == {"freeclimb": "empty", "aculab": "HOLDING", "voipbin": "starting"}
    assert c["created_at"].endswith("Z")
    got = await bridge.ok("GET", f"/v1/conferences/{c['id']}")
    assert got == c
    page = await bridge.ok("GET", "/v1/conferences?status=empty&name=standup")
    assert [x["id"] for x in page["items"]] == [c["id"]]
    patched = await bridge.ok(
        "PATCH", f"/v1/conferences/{c['id']}", json={"detail": "d", "max_participants": 10}
    )
    assert patched["revision"] == 2 and patched["max_participants"] == 10


async def test_pagination(bridge: Bridge) -> None:
    ids = [(await _conference(bridge, name=f"c{i}"))["id"] for i in range(5)]
    first = await bridge.ok("GET", "/v1/conferences?limit=2")
    second = await bridge.ok("GET", f"/v1/conferences?limit=2&after={first['next_after']}")
    assert [x["id"] for x in first["items"] + second["items"]] == ids[:4]


async def test_bad_input_is_refused_and_changes_nothing(bridge: Bridge) -> None:
    for body in (
        {"name": "a\r\nb"},
        {"name": "x", "status_callback_url": "ftp://x"},
        {"name": "x", "play_beep": "sometimes"},
        {"name": "x", "max_participants": 41},
        {"name": "x", "unknown": 1},
        {"name": "x", "dial_in": {"access_code": "12a"}},
        {"name": "x", "wait_media": {"play": {"file": "../../etc/passwd"}}},
    ):
        status, err = await bridge.call("POST", "/v1/conferences", json=body)
        assert status == 400, body
        assert set(err["error"]) == {"code", "message", "details"}
    status, err = await bridge.call(
        "POST", "/v1/conferences", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400
    page = await bridge.ok("GET", "/v1/conferences")
    assert page["items"] == []


async def test_auth_and_account_isolation(bridge: Bridge) -> None:
    c = await _conference(bridge)
    other = await bridge.ok("POST", "/v1/accounts", 201, json={"name": "tenant"})
    key = (await bridge.ok("POST", f"/v1/accounts/{other['id']}/keys", 201, json={}))["key"]
    status, err = await bridge.call("GET", f"/v1/conferences/{c['id']}", key=key)
    assert status == 404 and err["error"]["code"] == "conference_not_found"
    status, err = await bridge.call("GET", "/v1/accounts", key=key)
    assert status == 403 and err["error"]["code"] == "admin_only"
    basic = base64.b64encode(f"{other['id']}:{key}".encode()).decode()
    resp = await bridge.client.get("/v1/conferences", headers={"Authorization": f"Basic {basic}"})
    assert resp.status == 200
    resp = await bridge.client.get("/v1/conferences")
    assert resp.status == 401
    key_id = key.split("_")[1] + "_" + key.split("_")[2]
    await bridge.ok("DELETE", f"/v1/accounts/{other['id']}/keys/{key_id}")
    status, err = await bridge.call("GET", "/v1/conferences", key=key)
    assert status == 401 and err["error"]["code"] == "api_key_revoked"


async def test_dial_out_latched_start_and_leave(bridge: Bridge) -> None:
    c = await _conference(bridge, record=True)
    cid = c["id"]
    listener = await bridge.ok(
        "POST",
        f"/v1/conferences/{cid}/participants",
        201,
        json={
            "to": "1001",
            "participant": {"start_on_entry": False, "talker": False},
        },
    )
    assert listener["status"] == "joining" and listener["muted"] is True
    await bridge.settle()
    assert (await bridge.ok("GET", f"/v1/conferences/{cid}"))["status"] == "populated"
    mod = await bridge.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": "1002"})
    await bridge.settle()
    conf = await bridge.ok("GET", f"/v1/conferences/{cid}")
    assert conf["status"] == "in_progress" and conf["recording_id"]
    assert bridge.backend.of(e.StartRecording) and bridge.backend.of(e.StartConference)
    # the moderator leaves: latched, stays in progress
    await bridge.backend.leave(cid, mod["id"], None)
    await bridge.settle()
    assert (await bridge.ok("GET", f"/v1/conferences/{cid}"))["status"] == "in_progress"
    left = await bridge.ok("GET", f"/v1/conferences/{cid}/participants/{mod['id']}")
    assert left["status"] == "left" and left["leave_reason"] == "hangup"
    # a listener is never unmuted
    status, err = await bridge.call(
        "PATCH", f"/v1/conferences/{cid}/participants/{listener['id']}", json={"muted": False}
    )
    assert status == 409 and err["error"]["code"] == "participant_not_talker"
    await bridge.ok("DELETE", f"/v1/conferences/{cid}/participants/{listener['id']}")
    await bridge.settle()
    conf = await bridge.ok("GET", f"/v1/conferences/{cid}")
    assert conf["status"] == "empty" and conf["recording_id"] is None
    recs = await bridge.ok("GET", f"/v1/conferences/{cid}/recordings")
    assert [r["status"] for r in recs["items"]] == ["stopped"]


async def test_mute_deaf_hold_and_digits(bridge: Bridge) -> None:
    cid = (await _conference(bridge))["id"]
    p = await bridge.ok(
        "POST",
        f"/v1/conferences/{cid}/participants",
        201,
        json={
            "to": "1001",
            "participant": {"mute_digit": "1", "unmute_digit": "2", "exit_digit": "#"},
        },
    )
    pid = p["id"]
    await bridge.settle()
    url = f"/v1/conferences/{cid}/participants/{pid}"
    got = await bridge.ok("PATCH", url, json={"muted": True, "listen": False})
    assert got["muted"] and got["deaf"]
    assert [c.muted for c in bridge.backend.of(e.SetMute)] == [True]
    assert [c.deaf for c in bridge.backend.of(e.SetDeaf)] == [True]
    await bridge.ok("PATCH", url, json={"hold": True, "hold_media": {"play": {"file": "moh.wav"}}})
    assert bridge.backend.of(e.SetHold)[-1].media is not None
    await bridge.backend.press(pid, "2")
    await bridge.settle()
    assert (await bridge.ok("GET", url))["muted"] is False
    await bridge.ok("PATCH", url, json={"dtmf_enabled": False})
    await bridge.backend.press(pid, "1")
    await bridge.settle()
    assert (await bridge.ok("GET", url))["muted"] is False
    await bridge.ok("PATCH", url, json={"dtmf_enabled": True})
    await bridge.backend.press(pid, "#")
    await bridge.settle()
    gone = await bridge.ok("GET", url)
    assert gone["status"] == "left" and gone["leave_reason"] == "exit_digit"


async def test_terminate_ends_every_call_and_the_id_is_never_reused(bridge: Bridge) -> None:
    cid = (await _conference(bridge, dial_in={"access_code": "4321"}))["id"]
    for n in ("1001", "1002"):
        await bridge.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": n})
    await bridge.settle()
    ended = await bridge.ok("DELETE", f"/v1/conferences/{cid}")
    assert ended["status"] == "terminating"
    await bridge.settle()
    final = await bridge.ok("GET", f"/v1/conferences/{cid}")
    assert final["status"] == "terminated" and final["ended_at"]
    parts = await bridge.ok("GET", f"/v1/conferences/{cid}/participants")
    assert {p["leave_reason"] for p in parts["items"]} == {"conference_ended"}
    status, err = await bridge.call("PATCH", f"/v1/conferences/{cid}", json={"alias": "again"})
    assert status == 409 and err["error"]["code"] == "conference_terminated"
    status, _ = await bridge.call(
        "POST", f"/v1/conferences/{cid}/participants", json={"to": "1003"}
    )
    assert status == 409
    # its access code is free again for a new conference
    await _conference(bridge, dial_in={"access_code": "4321"})


async def test_destroy_on_exit_and_failed_dial_out(bridge: Bridge) -> None:
    cid = (await _conference(bridge))["id"]
    boss = await bridge.ok(
        "POST",
        f"/v1/conferences/{cid}/participants",
        201,
        json={"to": "1", "participant": {"destroy_on_exit": True}},
    )
    await bridge.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": "2"})
    await bridge.settle()
    await bridge.backend.leave(cid, boss["id"], None)
    await bridge.settle()
    assert (await bridge.ok("GET", f"/v1/conferences/{cid}"))["status"] == "terminated"
    cid2 = (await _conference(bridge))["id"]
    from bridge.core.models import FailureReason

    bridge.backend.fail_next_with = FailureReason.NO_ANSWER
    p = await bridge.ok("POST", f"/v1/conferences/{cid2}/participants", 201, json={"to": "9"})
    await bridge.settle()
    got = await bridge.ok("GET", f"/v1/conferences/{cid2}/participants/{p['id']}")
    assert got["status"] == "failed" and got["failure_reason"] == "no_answer"
    assert (await bridge.ok("GET", f"/v1/conferences/{cid2}"))["status"] == "empty"


async def test_dial_in_admission(bridge: Bridge) -> None:
    cid = (
        await _conference(
            bridge,
            dial_in={
                "access_code": "555",
                "pin": "1234",
                "moderator_pin": "9999",
                "participant_options": {"start_on_entry": False},
            },
        )
    )["id"]
    b = bridge.backend
    assert (await b.dial_in("556")).admission.sip_status == 404
    assert (await b.dial_in("555")).admission.outcome.value == "need_pin"
    assert (await b.dial_in("555", pin="0000")).admission.sip_status == 403
    guest = await b.dial_in("555", pin="1234", caller="2001")
    await bridge.settle()
    assert guest.participant is not None and not guest.participant.moderator
    assert (await bridge.ok("GET", f"/v1/conferences/{cid}"))["status"] == "populated"
    boss = await b.dial_in("555", pin="9999", caller="2002")
    await bridge.settle()
    assert boss.participant is not None and boss.participant.moderator
    assert (await bridge.ok("GET", f"/v1/conferences/{cid}"))["status"] == "in_progress"
    await bridge.ok("PATCH", f"/v1/conferences/{cid}", json={"max_participants": 2})
    assert (await b.dial_in("555", pin="1234", caller="2003")).admission.sip_status == 503


async def test_announcements_and_recordings(bridge: Bridge) -> None:
    cid = (await _conference(bridge))["id"]
    status, err = await bridge.call(
        "POST", f"/v1/conferences/{cid}/announcements", json={"media": {"say": {"text": "hi"}}}
    )
    assert status == 409 and err["error"]["code"] == "conference_not_populated"
    p = await bridge.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": "1"})
    await bridge.settle()
    ann = await bridge.ok(
        "POST",
        f"/v1/conferences/{cid}/announcements",
        202,
        json={"media": [{"play": {"file": "welcome.wav"}}], "participant_id": p["id"]},
    )
    assert bridge.backend.of(e.Play)[-1].participant is not None and ann["id"].startswith("an_")
    rec = await bridge.ok("POST", f"/v1/conferences/{cid}/recordings", 201)
    rid = rec["id"]
    status, _ = await bridge.call("POST", f"/v1/conferences/{cid}/recordings")
    assert status == 409
    assert (
        await bridge.ok(
            "PATCH", f"/v1/conferences/{cid}/recordings/{rid}", json={"status": "paused"}
        )
    )["status"] == "paused"
    assert (
        await bridge.ok(
            "PATCH", f"/v1/conferences/{cid}/recordings/{rid}", json={"status": "in_progress"}
        )
    )["status"] == "in_progress"
    assert (
        await bridge.ok(
            "PATCH", f"/v1/conferences/{cid}/recordings/{rid}", json={"status": "stopped"}
        )
    )["status"] == "stopped"
    status, err = await bridge.call("GET", f"/v1/conferences/{cid}/recordings/{rid}/audio")
    assert status == 404 and err["error"]["code"] == "recording_audio_unavailable"
    events = await bridge.ok("GET", f"/v1/conferences/{cid}/events")
    seqs = [x["sequence"] for x in events["items"]]
    assert seqs == list(range(1, len(seqs) + 1))
    types = [x["type"] for x in events["items"]]
    assert {
        "recording.started",
        "recording.paused",
        "recording.resumed",
        "recording.stopped",
        "announcement.started",
    } <= set(types)


async def test_health_metrics_docs(bridge: Bridge) -> None:
    health = await bridge.ok("GET", "/healthz")
    assert health["database"] == "ok"
    resp = await bridge.client.get("/metrics")
    assert resp.status == 200 and "bridge_http_requests_total" in await resp.text()
    resp = await bridge.client.get("/docs")
    assert resp.status == 200 and "/v1/conferences" in await resp.text()
