"""Reservations: Aculab's rules end to end, with the scheduler driven by a manual clock."""

from __future__ import annotations

from datetime import timedelta

from harness import Bridge


def _start(b: Bridge, minutes: int) -> str:
    return (b.clock.now() + timedelta(minutes=minutes)).strftime("%Y-%m-%d_%H:%M:%S")


async def test_reservation_lifecycle(bridge: Bridge) -> None:
    body = {
        "conference_name": "Board1",
        "max_participants": 50,
        "start_time": _start(bridge, 10),
        "duration": 15,
        "conference": {"dial_in": {"access_code": "777"}},
    }
    r = await bridge.ok("POST", "/v1/reservations", 201, json=body)
    token = r["reservation_token"]
    assert r["status"] == "reserved" and r["start_time"].endswith(":00")
    status, err = await bridge.call(
        "POST", "/v1/reservations", json={**body, "start_time": _start(bridge, 30)}
    )
    assert status == 409 and err["error"]["code"] == "reservation_name_in_use"
    # early callers are busied
    assert (await bridge.backend.dial_in("777")).admission.sip_status == 486
    ext = await bridge.ok("PATCH", f"/v1/reservations/{token}", json={"extend_minutes": 15})
    assert ext["extended"] and ext["reservation"]["duration"] == 30
    # the start time comes: holding, callers admitted
    bridge.clock.advance(11 * 60)
    assert await bridge.parts.scheduler.tick() == 1
    assert (await bridge.ok("GET", f"/v1/reservations/{token}"))["status"] == "holding"
    route = await bridge.backend.dial_in("777")
    await bridge.settle()
    assert route.participant is not None
    assert (await bridge.ok("GET", f"/v1/reservations/{token}"))["status"] == "active"
    status, err = await bridge.call("DELETE", f"/v1/reservations/{token}")
    assert status == 409 and err["error"]["code"] == "reservation_not_removable"
    # the end comes: everyone is kicked, completed
    bridge.clock.advance(30 * 60)
    await bridge.parts.scheduler.tick()
    await bridge.settle()
    assert (await bridge.ok("GET", f"/v1/reservations/{token}"))["status"] == "completed"
    conf = await bridge.ok("GET", f"/v1/conferences/{r['conference_id']}")
    assert conf["status"] == "terminated" and conf["end_reason"] == "reservation_ended"


async def test_reservation_rules_refuse_bad_bookings(bridge: Bridge) -> None:
    base = {
        "conference_name": "Team",
        "max_participants": 40,
        "start_time": _start(bridge, 10),
        "duration": 15,
    }
    for change, code in (
        ({"start_time": _start(bridge, 4)}, "start_too_soon"),
        ({"start_time": _start(bridge, 24 * 60 + 2)}, "start_too_far"),
        ({"duration": 481}, "out_of_range"),
        ({"max_participants": 351}, "out_of_range"),
        ({"conference_name": "x" * 48}, "invalid_field"),
    ):
        status, err = await bridge.call("POST", "/v1/reservations", json={**base, **change})
        assert status == 400 and err["error"]["code"] == code, (change, err)
    assert (await bridge.ok("GET", "/v1/reservations"))["items"] == []


async def test_remove_and_divert(bridge: Bridge) -> None:
    r = await bridge.ok(
        "POST",
        "/v1/reservations",
        201,
        json={
            "conference_name": "Sales",
            "max_participants": 40,
            "start_time": _start(bridge, 30),
            "duration": 60,
            "divert": "sip:lobby@example.org",
            "conference": {"dial_in": {"access_code": "888"}},
        },
    )
    route = await bridge.backend.dial_in("888")
    assert route.admission.sip_status == 302 and route.admission.divert == "sip:lobby@example.org"
    removed = await bridge.ok("DELETE", f"/v1/reservations/{r['reservation_token']}")
    assert removed["removed"] and removed["reservation"]["status"] == "cancelled"
    conf = await bridge.ok("GET", f"/v1/conferences/{r['conference_id']}")
    assert conf["status"] == "terminated"


async def test_conference_timeout(bridge: Bridge) -> None:
    cid = (await bridge.ok("POST", "/v1/conferences", 201, json={"name": "t", "timeout": 60}))["id"]
    p = await bridge.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": "1"})
    await bridge.settle()
    bridge.clock.advance(61)
    await bridge.parts.scheduler.tick()
    await bridge.settle()
    got = await bridge.ok("GET", f"/v1/conferences/{cid}/participants/{p['id']}")
    assert got["leave_reason"] == "timeout"
    assert (await bridge.ok("GET", f"/v1/conferences/{cid}"))["status"] == "terminated"
