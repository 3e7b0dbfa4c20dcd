"""X-Bridge-Account: an admin key acts on another account (reads and actions); a tenant key
that sends it is refused, and an unknown account is not found, with a stable code."""

from __future__ import annotations

from typing import Any

from bridge_testing.embedded import Engine


async def test_admin_acts_on_another_account_tenant_cannot(engine: Engine) -> None:
    other = await engine.ok("POST", "/v1/accounts", 201, json={"name": "two"})
    key = (await engine.ok("POST", f"/v1/accounts/{other['id']}/keys", 201, json={}))["key"]
    tenant = {"Authorization": f"Bearer {key}"}
    resp = await engine.client.post(
        "/v1/conferences",
        headers=tenant,
        json={"name": "theirs", "dial_in": {"access_code": "4421"}},
    )
    cid = (await resp.json())["id"]
    admin = {"Authorization": f"Bearer {engine.admin_key}"}
    as_other = {**admin, "X-Bridge-Account": other["id"]}

    async def call(method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        r = await engine.client.request(method, path, headers=headers, **kw)
        return r.status, await r.json()

    assert (await engine.call("GET", f"/v1/conferences/{cid}"))[0] == 404  # isolation as before
    status, body = await call("GET", "/v1/conferences", as_other)
    assert status == 200 and [c["id"] for c in body["items"]] == [cid]
    status, body = await call("GET", "/v1/account", as_other)
    assert body["id"] == other["id"]
    status, body = await call(
        "PATCH", f"/v1/conferences/{cid}", as_other, json={"alias": "set by admin"}
    )
    assert status == 200 and body["alias"] == "set by admin"

    admin_account = (await engine.ok("GET", "/v1/account"))["id"]
    resp = await engine.client.get(
        "/v1/conferences", headers={**tenant, "X-Bridge-Account": admin_account}
    )
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "admin_only"
    status, body = await call(
        "GET", "/v1/conferences", {**admin, "X-Bridge-Account": "account_nope"}
    )
    assert (status, body["error"]["code"]) == (404, "account_not_found")


async def test_the_header_is_in_the_openapi_document(engine: Engine) -> None:
    spec = await engine.ok("GET", "/openapi.json")
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            headers = {p["name"] for p in op["parameters"] if p["in"] == "header"}
            # the bridge's own API keys (a facade authenticates in its own way)
            keyed = op.get("security") == [{"bearer": []}, {"basic": []}]
            assert ("X-Bridge-Account" in headers) == keyed, (method, path)
