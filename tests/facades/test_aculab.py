"""Aculab's facade: the documented web service examples and every limit, replayed field by
field; auth as cloudID/username; the time rules near the start and the end."""

from __future__ import annotations

from datetime import timedelta

from bridge_testing.facades import Tenant
from harness import Bridge
from replay import Replay, load


def starts(bridge: Bridge) -> dict[str, str]:
    now = bridge.clock.now()
    out: dict[str, str] = {}
    for minutes in (4, 10, 20, 1442):
        at = now + timedelta(minutes=minutes)
        out[f"start{minutes}_dash"] = at.strftime("%Y-%m-%d-%H-%M")
        out[f"start{minutes}_us"] = at.strftime("%Y-%m-%d_%H:%M:00")
    return out


async def test_documented_examples_and_limits(bridge: Bridge, tenant: Tenant) -> None:
    replay = Replay(bridge.client, tenant.aculab, starts(bridge))
    await replay.run(load("aculab.json"))


async def test_rules_near_the_start_and_the_end(bridge: Bridge, tenant: Tenant) -> None:
    replay = Replay(bridge.client, tenant.aculab, starts(bridge))
    form = {"conference_name": "Soon", "max_participants": "40",
            "start_time": "{start10_dash}", "duration": "15"}  # fmt: skip
    step = {
        "request": {"method": "POST", "path": "/webservices/conference_reservation_create",
                    "form": form},
        "status": 200,
    }  # fmt: skip
    token = (await replay.step(step))["reservation_token"]
    bridge.clock.advance(6 * 60)  # now due to start within 5 minutes
    resp = await bridge.client.post(
        "/webservices/conference_reservation_remove",
        data={"reservation_token": token},
        headers=tenant.aculab,
    )
    assert resp.status == 409
    assert (await resp.json())["error"]["reason"] == "reservation_starting"
    await bridge.parts.scheduler.tick()
    bridge.clock.advance(4 * 60 + 11 * 60)  # started; due to finish within 5 minutes
    resp = await bridge.client.post(
        "/webservices/conference_reservation_modify",
        data={"reservation_token": token, "duration": "15"},
        headers=tenant.aculab,
    )
    assert resp.status == 409
    assert (await resp.json())["error"]["reason"] == "reservation_ending"


async def test_credentials(bridge: Bridge, tenant: Tenant) -> None:
    resp = await bridge.client.get("/webservices/conference_list")
    assert resp.status == 401
    body = await resp.json()
    assert body["error"]["code"] == "HTTP 401" and body["error"]["reason"] == "missing_credentials"
    resp = await bridge.client.get("/webservices/conference_list", headers=tenant.basic("nocloud"))
    assert resp.status == 401
    resp = await bridge.client.get(
        "/webservices/conference_list", headers=tenant.basic("cloud1/me@example.com")
    )
    assert resp.status == 200 and (await resp.json()) == {"conferences": []}
