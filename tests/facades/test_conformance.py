"""The facades' part of /openapi.json: every facade response in these suites is checked
against it (conftest.py installs the check for every test); here, that the check can fail,
and that every facade operation answers as documented at least once."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from bridge_testing.facades import Tenant
from conformance import DOC, Conformance, install
from harness import Bridge

from bridge.api import facades

SCHEMAS = DOC["components"]["schemas"]
VENDOR_ERRORS = {"freeclimb": "FreeClimbError", "aculab": "AculabError", "voipbin": "Error"}


async def test_a_drifted_reply_is_caught(bridge: Bridge, tenant: Tenant) -> None:
    path = f"/apiserver/Accounts/{tenant.account_id}/Conferences"
    resp = await bridge.client.post(path, json={"alias": "drift"}, headers=tenant.freeclimb)
    good = await resp.json()
    check = Conformance()
    check.check("POST", path, 200, "application/json", json.dumps(good).encode())
    drifted: list[tuple[str, Any]] = [
        ("dateCreated", "2030-01-01T12:00:00Z"),  # ISO 8601, not RFC 1123
        ("playBeep", "entry_only"),  # our name, not FreeClimb's
        ("revision", "1"),  # a string
        ("color", "red"),  # a field the resource does not have
    ]
    for name, value in drifted:
        body = {**good, name: value}
        with pytest.raises(AssertionError, match=name):
            check.check("POST", path, 200, "application/json", json.dumps(body).encode())
    missing = {k: v for k, v in good.items() if k != "revision"}
    with pytest.raises(AssertionError, match="revision"):
        check.check("POST", path, 200, "application/json", json.dumps(missing).encode())
    nested = copy.deepcopy(good)
    del nested["subresourceUris"]["recordings"]
    with pytest.raises(AssertionError, match="recordings"):
        check.check("POST", path, 200, "application/json", json.dumps(nested).encode())
    with pytest.raises(AssertionError, match="status not documented"):
        check.check("POST", path, 201, "application/json", json.dumps(good).encode())
    with pytest.raises(AssertionError, match="text/html"):
        check.check("POST", path, 200, "text/html", b"<p>")
    ours = {"error": {"code": "invalid_field", "message": "x", "details": {}}}
    with pytest.raises(AssertionError, match="400"):  # FreeClimb answers in its own shape
        check.check("POST", path, 400, "application/json", json.dumps(ours).encode())
    assert check.checked == {"freeclimb_create_conference": 1}


def test_every_facade_operation_is_documented_in_full() -> None:
    ops = [
        (path, method, op)
        for path, item in DOC["paths"].items()
        for method, op in item.items()
        if op["tags"][0] in VENDOR_ERRORS
    ]
    assert {op["tags"][0] for _, _, op in ops} == {t["name"] for t in facades.TAGS}
    for path, method, op in ops:
        where = f"{method} {path}"
        for code, response in op["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if code[0] in "45":
                assert schema == {"$ref": f"#/components/schemas/{VENDOR_ERRORS[op['tags'][0]]}"}
            elif schema is None:  # no body (204) or not JSON (audio)
                assert code == "204" or "audio/wav" in response["content"], where
            else:
                assert SCHEMAS[schema["$ref"].rsplit("/")[-1]]["type"] == "object", where
        if method == "post" or method == "put":
            body = op["requestBody"]["content"]["application/json"]["schema"]
            assert SCHEMAS[body["$ref"].rsplit("/")[-1]]["additionalProperties"] is False, where


def _headers(tenant: Tenant, tag: str) -> dict[str, str]:
    return {"freeclimb": tenant.freeclimb, "aculab": tenant.aculab}.get(tag, tenant.voipbin)


async def test_every_facade_operation_answers_as_documented(bridge: Bridge, tenant: Tenant) -> None:
    """One request to each (an unknown id or no parameters: a vendor error, or an empty
    list); the suites' own requests cover the successes."""
    seen = Conformance()
    with pytest.MonkeyPatch.context() as patch:
        install(patch, seen)
        for d in seen.ops:
            path = d.template.replace("{accountId}", tenant.account_id)
            path = re.sub(r"{\w+}", "xx_unknown", path)
            tag = d.operation["tags"][0]
            resp = await bridge.client.request(d.method, path, headers=_headers(tenant, tag))
            assert resp.status < 500, (d.method, path, resp.status)
    assert set(seen.checked) == {d.operation["operationId"] for d in seen.ops}
