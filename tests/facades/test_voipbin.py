"""VoIPbin's facade: the documented examples replayed field by field, its access key, paging."""

from __future__ import annotations

import logging

from conftest import Tenant
from harness import Bridge
from replay import Replay, load

from bridge.redact import SecretRedactor


async def test_documented_examples(bridge: Bridge, tenant: Tenant) -> None:
    replay = Replay(bridge.client, tenant.voipbin, {"customer_id": tenant.account_id})
    await replay.run(load("voipbin.json"))
    assert replay.values["second"] == replay.values["connect_id"], "page_token pages on"


async def test_access_key_in_the_query(bridge: Bridge, tenant: Tenant) -> None:
    # a key in the URL reaches the access log: the redactor the CLI installs removes it
    access = logging.getLogger("aiohttp.access")
    redactor = SecretRedactor()
    access.addFilter(redactor)
    try:
        resp = await bridge.client.get("/v1.0/conferences", params={"accesskey": tenant.key})
    finally:
        access.removeFilter(redactor)
    assert resp.status == 200 and (await resp.json())["result"] == []
    resp = await bridge.client.get("/v1.0/conferences")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "missing_credentials"
    resp = await bridge.client.get("/v1.0/conferences", params={"accesskey": "nope"})
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "invalid_api_key"
    resp = await bridge.client.get(
        "/v1.0/conferences", params={"page_size": "0"}, headers=tenant.voipbin
    )
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_field"
