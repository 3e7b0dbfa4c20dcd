"""The API's lean request path answers as it always did: the same JSON, the same Content-Type,
the same error codes and statuses, and metrics that count the status sent."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aiohttp import web
from harness import Bridge

from bridge.api import errors, jsonbody, openapi, routes
from bridge.services import conferences

JSON = "application/json; charset=utf-8"


async def _raw(b: Bridge, method: str, path: str, **kw: Any) -> tuple[int, str, bytes]:
    resp = await b.client.request(method, path, **kw)
    return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


def _error(status: int, content_type: str, body: bytes) -> dict[str, Any]:
    assert content_type == JSON, (status, content_type)
    err = json.loads(body)["error"]
    assert set(err) == {"code", "message", "details"}
    return dict(err)


# --- the encoder ---------------------------------------------------------------------------


async def test_response_matches_aiohttps_json_response() -> None:
    for status, headers in ((200, None), (201, None), (401, {"WWW-Authenticate": "Bearer"})):
        ours = jsonbody.response({"a": "ü"}, status=status, headers=headers)
        theirs = web.json_response({"a": "ü"}, status=status, headers=headers)
        assert ours.status == theirs.status
        assert list(ours.headers.items()) == list(theirs.headers.items())
        assert isinstance(ours.body, bytes) and isinstance(theirs.body, bytes)
        assert json.loads(ours.body) == json.loads(theirs.body)


# --- through the server --------------------------------------------------------------------


async def test_success_bodies_and_content_types(bridge: Bridge) -> None:
    status, ctype, body = await _raw(
        bridge, "POST", "/v1/conferences", headers=bridge.auth, json={"name": "x"}
    )
    assert (status, ctype) == (201, JSON)
    created = json.loads(body)
    status, ctype, body = await _raw(
        bridge, "GET", f"/v1/conferences/{created['id']}", headers=bridge.auth
    )
    assert (status, ctype) == (200, JSON) and json.loads(body) == created
    status, ctype, body = await _raw(bridge, "GET", "/v1/conferences?limit=1", headers=bridge.auth)
    assert (status, ctype) == (200, JSON)
    assert json.loads(body) == {"items": [created], "next_after": created["id"]}
    status, ctype, body = await _raw(bridge, "GET", "/healthz")
    assert (status, ctype) == (200, JSON) and json.loads(body)["status"] == "ok"
    status, ctype, body = await _raw(bridge, "GET", "/openapi.json")
    assert (status, ctype) == (200, JSON)
    assert json.loads(body) == json.loads(json.dumps(openapi.build(routes.OPS)))
    status, ctype, body = await _raw(bridge, "GET", "/docs")
    assert (status, ctype) == (200, "text/html; charset=utf-8")
    assert body.startswith(b"<!doctype html>")


async def test_user_json_comes_back_as_sent(bridge: Bridge) -> None:
    data = {"team": "Zoë 会议", "big": 2**70, "nested": {"list": [1, 2.5, None, True]}}
    c = await bridge.ok("POST", "/v1/conferences", 201, json={"name": "x", "data": data})
    assert c["data"] == data
    assert (await bridge.ok("GET", f"/v1/conferences/{c['id']}"))["data"] == data


async def test_non_json_values_in_data_are_refused(bridge: Bridge) -> None:
    # NaN, the infinities and lone surrogates would make what is read back invalid JSON
    for raw in (b'{"name": "x", "data": {"n": NaN}}', b'{"name": "x", "data": {"i": -Infinity}}',
                b'{"name": "x", "data": {"s": "\\ud800"}}'):  # fmt: skip
        status, ctype, body = await _raw(
            bridge,
            "POST",
            "/v1/conferences",
            data=raw,
            headers={**bridge.auth, "Content-Type": "application/json"},
        )
        assert status == 400 and _error(status, ctype, body)["code"] in (
            "invalid_json",
            "invalid_unicode",
        ), body


async def test_auth_failures(bridge: Bridge) -> None:
    async def code(headers: dict[str, str]) -> tuple[int, str]:
        status, ctype, body = await _raw(bridge, "GET", "/v1/conferences", headers=headers)
        return status, _error(status, ctype, body)["code"]

    assert await code({}) == (401, "missing_credentials")
    assert await code({"Authorization": "Bearer nonsense"}) == (401, "invalid_api_key")
    # the admin key's id with another secret
    forged = "_".join(bridge.admin_key.split("_")[:3]) + "_notthesecret"
    assert await code({"Authorization": f"Bearer {forged}"}) == (401, "invalid_api_key")
    assert await code({"Authorization": "Bearer cbk_api_nope_secret"}) == (401, "invalid_api_key")
    assert await code({"Authorization": "Basic !!!"}) == (401, "invalid_credentials")
    basic = base64.b64encode(f"account_other:{bridge.admin_key}".encode()).decode()
    assert await code({"Authorization": f"Basic {basic}"}) == (401, "invalid_api_key")

    resp = await bridge.client.get("/v1/conferences")
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="bridge"'

    tenant = await bridge.ok("POST", "/v1/accounts", 201, json={"name": "tenant"})
    key = await bridge.ok("POST", f"/v1/accounts/{tenant['id']}/keys", 201, json={})
    await bridge.ok("GET", "/v1/conferences", key=key["key"])
    status, ctype, body = await _raw(
        bridge, "GET", "/v1/accounts", headers={"Authorization": f"Bearer {key['key']}"}
    )
    assert (status, _error(status, ctype, body)["code"]) == (403, "admin_only")
    await bridge.ok("DELETE", f"/v1/accounts/{tenant['id']}/keys/{key['id']}")
    assert await code({"Authorization": f"Bearer {key['key']}"}) == (401, "api_key_revoked")


async def test_errors_keep_their_codes_and_statuses(bridge: Bridge) -> None:
    auth = bridge.auth
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("GET", "/v1/conferences/conference_nope", {}, 404, "conference_not_found"),
        ("GET", "/nowhere", {}, 404, "not_found"),
        ("PUT", "/v1/conferences", {}, 405, "method_not_allowed"),
        ("HEAD", "/healthz", {}, 405, "method_not_allowed"),
        ("GET", "/v1/conferences?limit=0", {}, 400, "invalid_field"),
        ("POST", "/v1/conferences", {"json": {"name": "x", "nope": 1}}, 400, "unknown_field"),
        ("POST", "/v1/conferences", {"json": [1]}, 400, "invalid_json"),
        (
            "POST",
            "/v1/conferences",
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/v1/conferences",
            {"data": b"name=x", "headers": {"Content-Type": "text/plain"}},
            400,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/v1/conferences",
            {"data": b"{}" + b" " * 300_000, "headers": {"Content-Type": "application/json"}},
            413,
            "payload_too_large",
        ),
    ]
    for method, path, kw, want_status, want_code in cases:
        headers = {**auth, **kw.pop("headers", {})}
        status, ctype, body = await _raw(bridge, method, path, headers=headers, **kw)
        assert status == want_status, (method, path, status, body)
        if method == "HEAD":
            assert ctype == JSON
            continue
        assert _error(status, ctype, body)["code"] == want_code, (method, path, body)
    status, ctype, body = await _raw(bridge, "GET", "/nowhere")
    assert _error(status, ctype, body)["message"] == "no such resource or route"


async def test_unhandled_error_is_500_and_logged(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(conferences, "get", broken)
    status, ctype, body = await _raw(
        bridge, "GET", "/v1/conferences/conference_x", headers=bridge.auth
    )
    assert (status, _error(status, ctype, body)["code"]) == (500, "internal_error")
    logged = [r for r in caplog.records if r.name == errors.log.name]
    assert logged and logged[-1].exc_info is not None
    assert "GET /v1/conferences/conference_x" in logged[-1].getMessage()


async def test_metrics_count_the_status_the_client_got(bridge: Bridge) -> None:
    await bridge.call("GET", "/v1/conferences/conference_nope")
    await bridge.call("GET", "/v1/conferences/conference_nope")
    await bridge.client.get("/v1/conferences/conference_nope")  # no key: 401
    await bridge.ok("GET", "/v1/conferences")
    text = await (await bridge.client.get("/metrics")).text()
    route = 'route="/v1/conferences/{conference_id}"'
    assert f'bridge_http_requests_total{{method="GET",{route},status="404"}} 2.0' in text
    assert f'bridge_http_requests_total{{method="GET",{route},status="401"}} 1.0' in text
    assert 'status="500"' not in text
    assert f"bridge_http_request_seconds_count{{{route}}} 3.0" in text
    listed = 'bridge_http_requests_total{method="GET",route="/v1/conferences",status="200"} 1.0'
    assert listed in text
