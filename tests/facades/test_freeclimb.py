"""FreeClimb's facade: the documented examples replayed field by field, its auth and error
shape, and the same data through /v1 and the other facades."""

from __future__ import annotations

from bridge_testing.facades import Tenant, make_tenant
from harness import Bridge
from receiver import WebhookReceiver
from replay import Replay, load


def replay_for(bridge: Bridge, tenant: Tenant, receiver: WebhookReceiver) -> Replay:
    media = f"http://127.0.0.1:{receiver.port}/media"
    values = {"accountId": tenant.account_id, "hook": receiver.url, "media": media}
    return Replay(bridge.client, tenant.freeclimb, values)


async def test_documented_examples(
    bridge: Bridge, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    replay = replay_for(bridge, tenant, receiver)
    await replay.run(load("freeclimb.json"))
    hooks = await receiver.wait_for(lambda rs: any(r.path == "/hook/action" for r in rs))
    actions = [r for r in hooks if r.path == "/hook/action"]
    assert len(actions) == 1, "actionUrl is invoked once, when the conference is created"
    assert actions[0].json["event"]["type"] == "conference.created"


async def test_credentials_and_account(bridge: Bridge, tenant: Tenant) -> None:
    path = f"/apiserver/Accounts/{tenant.account_id}/Conferences"
    resp = await bridge.client.get(path)
    assert resp.status == 401
    body = await resp.json()
    assert body["code"] == 401 and body["details"]["code"] == "missing_credentials"
    resp = await bridge.client.get(path, headers=tenant.basic("ac_someoneelse"))
    assert resp.status == 401 and (await resp.json())["details"]["code"] == "invalid_api_key"
    other = "/apiserver/Accounts/ac_00000000000000000000000000/Conferences"
    resp = await bridge.client.get(other, headers=tenant.freeclimb)
    assert resp.status == 401 and (await resp.json())["details"]["code"] == "account_mismatch"
    bad = {"alias": "x", "color": "red"}
    resp = await bridge.client.post(path, json=bad, headers=tenant.freeclimb)
    assert resp.status == 400 and (await resp.json())["details"]["code"] == "unknown_field"
    resp = await bridge.client.post(
        path, data=b"{not json", headers={**tenant.freeclimb, "Content-Type": "application/json"}
    )
    assert resp.status == 400 and (await resp.json())["details"]["code"] == "invalid_json"
    listed = await bridge.client.get(path, headers=tenant.freeclimb)
    assert (await listed.json())["total"] == 0, "refused requests changed nothing"


async def test_one_account_seen_through_every_facade(bridge: Bridge, tenant: Tenant) -> None:
    path = f"/apiserver/Accounts/{tenant.account_id}/Conferences"
    resp = await bridge.client.post(path, json={"alias": "shared"}, headers=tenant.freeclimb)
    conf = await resp.json()
    cid = conf["conferenceId"]
    v1 = await (await bridge.client.get(f"/v1/conferences/{cid}", headers=tenant.v1)).json()
    assert v1["alias"] == "shared" and v1["vendor_status"]["freeclimb"] == "empty"
    voipbin = await (await bridge.client.get("/v1.0/conferences", headers=tenant.voipbin)).json()
    assert [c["id"] for c in voipbin["result"]] == [cid]
    assert voipbin["result"][0]["status"] == "starting"
    # another tenant sees none of it
    other = await make_other(bridge)
    theirs = path.replace(tenant.account_id, other.account_id)
    resp = await bridge.client.get(f"{theirs}/{cid}", headers=other.freeclimb)
    assert resp.status == 404


async def make_other(bridge: Bridge) -> Tenant:
    return await make_tenant(bridge.client, bridge.admin_key, "other")
