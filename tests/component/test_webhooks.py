"""Webhooks to a real receiver: signed, ordered per conference, retried, dead-lettered."""

from __future__ import annotations

import time
from typing import Any

from bridge_testing.wait import until
from harness import Bridge
from receiver import WebhookReceiver

from bridge.webhooks.signing import verify


async def test_signed_ordered_and_complete(bridge: Bridge, receiver: WebhookReceiver) -> None:
    assert "webhook_secret" not in await bridge.ok("GET", "/v1/account")
    account = await bridge.ok("POST", "/v1/account/webhook-secret")
    cid = (
        await bridge.ok(
            "POST", "/v1/conferences", 201, json={"name": "w", "status_callback_url": receiver.url}
        )
    )["id"]
    p = await bridge.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": "1"})
    await bridge.settle()
    await bridge.ok("DELETE", f"/v1/conferences/{cid}/participants/{p['id']}")
    await bridge.settle()
    got = await receiver.wait_for(
        lambda rs: any(r.json["event"]["type"] == "participant.left" for r in rs)
    )
    for r in got:
        assert verify(
            account["webhook_secret"], r.headers["X-Bridge-Signature"], r.body, now=int(time.time())
        )
        assert r.headers["Idempotency-Key"] == r.json["delivery_id"]
    events = receiver.events(cid)
    assert [x["sequence"] for x in events] == sorted(x["sequence"] for x in events)
    assert events[0]["type"] == "conference.created" and events[0]["data"]["status"] == "empty"
    left = next(x for x in events if x["type"] == "participant.left")
    assert left["data"]["reason"] == "kicked" and "seconds_connected_duration" in left["data"]
    assert not verify(
        "wrong-secret", got[0].headers["X-Bridge-Signature"], got[0].body, now=int(time.time())
    )


async def test_retry_after_the_receiver_was_down_keeps_order(
    bridge: Bridge, receiver: WebhookReceiver
) -> None:
    receiver.status = 503
    cid = (
        await bridge.ok(
            "POST", "/v1/conferences", 201, json={"name": "r", "status_callback_url": receiver.url}
        )
    )["id"]
    for alias in ("a", "b", "c"):
        await bridge.ok("PATCH", f"/v1/conferences/{cid}", json={"alias": alias})

    # failed attempts are visible, later events wait behind the first
    async def retried() -> bool:
        page = await bridge.ok("GET", f"/v1/deliveries?conference_id={cid}")
        if any(d["attempts"] >= 1 and d["last_status"] == 503 for d in page["items"]):
            return True
        await bridge.parts.dispatcher.run_once()
        return False

    await until(retried, 10, "a failed attempt recorded")
    receiver.status = 200
    got = await receiver.wait_for(lambda rs: len(rs) >= 4)
    seqs = [r.json["event"]["sequence"] for r in got]
    assert seqs == [1, 2, 3, 4]
    ids = [r.json["delivery_id"] for r in got]
    assert len(set(ids)) == len(ids)


async def test_a_subscription_to_an_unknown_event_type_is_refused(
    bridge: Bridge, receiver: WebhookReceiver
) -> None:
    for types in (["participant.joind"], ["participant.joined", "conferences.*"]):
        status, body = await bridge.call(
            "POST", "/v1/webhooks", json={"url": receiver.url, "event_types": types}
        )
        assert (status, body["error"]["code"]) == (400, "unknown_event_type"), body
        assert body["error"]["details"]["unknown"] == types[-1:]
    assert (await bridge.ok("GET", "/v1/webhooks"))["items"] == []  # nothing was stored


async def test_subscriptions_and_dead_letters(bridge: Bridge, receiver: WebhookReceiver) -> None:
    sub = await bridge.ok(
        "POST", "/v1/webhooks", 201, json={"url": receiver.url, "event_types": ["conference.*"]}
    )
    assert sub["secret"].startswith("whsec_")
    listed = await bridge.ok("GET", "/v1/webhooks")
    assert "secret" not in listed["items"][0]
    cid = (await bridge.ok("POST", "/v1/conferences", 201, json={"name": "s"}))["id"]
    got = await receiver.wait_for(lambda rs: len(rs) >= 1)
    assert verify(
        sub["secret"], got[0].headers["X-Bridge-Signature"], got[0].body, now=int(time.time())
    )
    await bridge.ok("DELETE", f"/v1/webhooks/{sub['id']}")
    # a dead receiver: dead-lettered after the bounded age, visible, retryable
    bridge.parts.dispatcher.policy = type(bridge.parts.dispatcher.policy)(
        base_seconds=0.01, cap_seconds=0.01, max_age_seconds=0.0
    )
    await bridge.ok(
        "PATCH", f"/v1/conferences/{cid}", json={"status_callback_url": "http://127.0.0.1:9/none"}
    )

    async def dead_lettered() -> dict[str, Any] | None:
        dead: dict[str, Any] = await bridge.ok("GET", "/v1/deliveries?status=dead")
        if dead["items"]:
            return dead
        await bridge.parts.dispatcher.run_once()
        return None

    dead = await until(dead_lettered, 10, "a delivery dead-lettered")
    assert dead["items"][0]["last_error"]
    await bridge.ok("POST", f"/v1/deliveries/{dead['items'][0]['id']}/retry", 202)
