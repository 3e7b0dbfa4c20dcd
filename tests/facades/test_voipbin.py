"""VoIPbin's facade: the documented examples replayed field by field, its access key, paging."""

from __future__ import annotations

import io
import logging

from bridge_testing.facades import Tenant
from harness import Bridge
from replay import Replay, load

from bridge import redact
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


async def test_a_key_in_the_url_is_never_logged(bridge: Bridge, tenant: Tenant) -> None:
    """The access log and the error log, as `bridge serve` installs the redactor, hold no
    key sent as ?accesskey= or ?token= (valid or not, on success or failure)."""
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root, access = logging.getLogger(), logging.getLogger("aiohttp.access")
    root.addHandler(handler)
    old_level = access.level
    access.setLevel(logging.INFO)
    mistyped = "cbk-mistyped-" + "x" * 24
    redactor = redact.install([])  # what the CLI does, on every root handler (ours included)
    try:
        for name in ("accesskey", "token"):
            for key in (tenant.key, mistyped):
                for path in ("/v1.0/conferences", "/v1.0/conferences/cnf_missing"):
                    await bridge.client.get(path, params={name: key, "page_size": "1"})
    finally:
        for h in root.handlers:
            h.removeFilter(redactor)
        root.removeHandler(handler)
        access.setLevel(old_level)
    logged = sink.getvalue()
    assert "/v1.0/conferences" in logged, "the access log was captured"
    assert tenant.key not in logged and mistyped not in logged, logged
    assert "accesskey=[redacted]" in logged and "token=[redacted]" in logged
