"""Hostile input from a tenant: each defect found by hand gets a case here. Every refusal is
a 4xx with the JSON error shape and a stable code, and changes nothing that is read back.

The header-size case (a request aiohttp refuses before any route) needs the server as
shipped; it is in test_no_traceback.py, which runs `bridge serve` and reads its log.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness import Bridge

JSON = {"Content-Type": "application/json"}


def error_code(body: Any) -> str:
    """The stable code of a JSON error body (and proof that the body has the shape)."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return str(error["code"])


async def refused(
    bridge: Bridge, method: str, path: str, raw: bytes | str, key: str | None = None
) -> str:
    status, body = await bridge.call(method, path, data=raw, headers=JSON, key=key)
    assert status == 400, (status, body)
    return error_code(body)


async def conference_count(bridge: Bridge) -> int:
    page = await bridge.ok("GET", "/v1/conferences?limit=200")
    return len(page["items"])


def start_time(hours: int = 2) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%d_%H:%M:%S")


# 1. NaN and the infinities are not JSON: refused, never stored, so pages stay JSON.
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_refused(bridge: Bridge, constant: str) -> None:
    before = await conference_count(bridge)
    raw = '{"name": "n", "data": {"x": ' + constant + "}}"
    assert await refused(bridge, "POST", "/v1/conferences", raw) == "invalid_json"
    cid = (await bridge.ok("POST", "/v1/conferences", 201, json={"name": "ok"}))["id"]
    raw = '{"data": {"x": [1, ' + constant + "]}}"
    assert await refused(bridge, "PATCH", f"/v1/conferences/{cid}", raw) == "invalid_json"
    resp = await bridge.client.get("/v1/conferences?limit=200", headers=bridge.auth)
    text = await resp.text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in a list page"))
    assert len(json.loads(text)["items"]) == before + 1


# 2. A lone UTF-16 surrogate in any text field: 400 at the edge, not a 500 at the insert.
SURROGATE = "\ud800"


async def test_lone_surrogates_are_refused_in_every_text_field(bridge: Bridge) -> None:
    cid = (await bridge.ok("POST", "/v1/conferences", 201, json={"name": "s"}))["id"]
    account = await bridge.ok("POST", "/v1/accounts", 201, json={"name": "tenant"})
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/conferences", {"name": f"a{SURROGATE}b"}),
        ("POST", "/v1/conferences", {"alias": SURROGATE}),
        ("POST", "/v1/conferences", {"detail": f"x{SURROGATE}"}),
        ("POST", "/v1/conferences", {"data": {SURROGATE: 1}}),  # keys too
        ("PATCH", f"/v1/conferences/{cid}", {"alias": SURROGATE}),
        ("PATCH", f"/v1/conferences/{cid}", {"detail": SURROGATE}),
        (
            "POST",
            "/v1/reservations",
            {
                "conference_name": f"r{SURROGATE}",
                "max_participants": 40,
                "start_time": start_time(),
                "duration": 30,
            },
        ),
        ("POST", "/v1/accounts", {"name": f"acct{SURROGATE}"}),
        ("POST", f"/v1/accounts/{account['id']}/keys", {"label": SURROGATE}),
        ("POST", "/v1/webhooks", {"url": "https://hooks.example.com/x", "secret": SURROGATE * 20}),
        ("POST", f"/v1/conferences/{cid}/participants", {"to": f"1001{SURROGATE}"}),
    ]
    for method, path, body in cases:
        raw = json.dumps(body)  # ensure_ascii: the surrogate travels as the escape \ud800
        assert "\\ud800" in raw
        assert await refused(bridge, method, path, raw) == "invalid_unicode", (method, body)
    conf = await bridge.ok("GET", f"/v1/conferences/{cid}")
    assert conf["alias"] is None and conf["detail"] is None and conf["revision"] == 1
    assert (await bridge.ok("GET", "/v1/reservations"))["items"] == []
    assert (await bridge.ok("GET", f"/v1/accounts/{account['id']}/keys"))["items"] == []
    assert await conference_count(bridge) == 1
    # A paired surrogate is a real character (U+1F600) and is kept.
    made = await bridge.ok(
        "POST", "/v1/conferences", 201, data=json.dumps({"name": "\U0001f600"}), headers=JSON
    )
    assert made["name"] == "\U0001f600"


# 3. Deep nesting: a bounded depth, 400, not a RecursionError.
@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 3_000 + "1" + "}" * 3_000,
        '{"name": "d", "data": ' + '{"a":' * 40 + "1" + "}" * 40 + "}",
        '{"name": "d", "data": {"a": ' + "[" * 500 + "]" * 500 + "}}",
    ],
    ids=["arrays-100000", "objects-3000", "data-40", "data-arrays-500"],
)
async def test_deep_nesting_is_refused(bridge: Bridge, raw: str) -> None:
    assert await refused(bridge, "POST", "/v1/conferences", raw) == "too_deep"
    assert await conference_count(bridge) == 0


# 4. Unicode digits that str.isdigit() accepts and int() refuses.
@pytest.mark.parametrize(
    "digit", ["\u00b2", "\u0661", "\uff15"], ids=["superscript", "arabic-indic", "fullwidth"]
)
async def test_non_ascii_digits_in_queries_are_refused(bridge: Bridge, digit: str) -> None:
    cid = (await bridge.ok("POST", "/v1/conferences", 201, json={"name": "q"}))["id"]
    account = await bridge.ok("POST", "/v1/accounts", 201, json={"name": "q"})
    paths = [
        "/v1/conferences?limit={}",
        "/v1/reservations?limit={}",
        "/v1/deliveries?limit={}",
        "/v1/accounts?limit={}",
        f"/v1/conferences/{cid}/events?limit={{}}",
        f"/v1/conferences/{cid}/events?after_sequence={{}}",
        f"/v1/conferences/{cid}/participants?limit={{}}",
        f"/v1/accounts/{account['id']}/keys?limit={{}}",
    ]
    for template in paths:
        for value in (digit, f"1{digit}", f"{digit}0"):
            status, body = await bridge.call("GET", template.format(value))
            if "/keys" in template and status == 200:
                continue  # that list takes no limit and ignores it
            assert status == 400, (template, value, status, body)
            assert error_code(body) == "invalid_field"
            assert body["error"]["details"]["field"] in ("limit", "after_sequence")


# 6. Retrying a delivery that does not exist, or is another tenant's, is 404 like any
# foreign id; one that exists and is not dead-lettered is a conflict.
async def test_retry_of_an_unknown_or_foreign_delivery_is_not_found(bridge: Bridge) -> None:
    await bridge.parts.dispatcher.stop()  # the subscriber's host is never contacted
    await bridge.ok("POST", "/v1/webhooks", 201, json={"url": "https://hooks.example.com/h"})
    await bridge.ok("POST", "/v1/conferences", 201, json={"name": "d"})
    page = await bridge.ok("GET", "/v1/deliveries")
    assert page["items"], "the conference.created event made no delivery"
    mine = page["items"][0]["id"]

    status, body = await bridge.call("POST", "/v1/deliveries/dl_00000000000000000000000000/retry")
    assert status == 404 and error_code(body) == "delivery_not_found", body

    other = await bridge.ok("POST", "/v1/accounts", 201, json={"name": "other"})
    key = (await bridge.ok("POST", f"/v1/accounts/{other['id']}/keys", 201, json={}))["key"]
    status, body = await bridge.call("POST", f"/v1/deliveries/{mine}/retry", key=key)
    assert status == 404 and error_code(body) == "delivery_not_found", body

    status, body = await bridge.call("POST", f"/v1/deliveries/{mine}/retry")
    assert status == 409 and error_code(body) == "delivery_not_dead", body  # pending, not dead


# 8. A reserved conference shows its booking as Aculab's Conference List does.
async def test_reserved_conference_shows_its_booking(bridge: Bridge) -> None:
    start = start_time(3)
    r = await bridge.ok("POST", "/v1/reservations", 201, json={
        "conference_name": "board", "max_participants": 120, "start_time": start,
        "duration": 45, "divert": "sip:overflow@example.org"})  # fmt: skip
    listed = (await bridge.ok("GET", "/v1/conferences"))["items"]
    got = await bridge.ok("GET", f"/v1/conferences/{r['conference_id']}")
    (from_list,) = [c for c in listed if c["id"] == r["conference_id"]]
    for conf in (from_list, got):
        assert conf["status"] == "reserved" and conf["vendor_status"]["aculab"] == "RESERVED"
        assert conf["max_participants"] == 120
        assert conf["reservation_token"] == r["reservation_token"]
        booking = conf["reservation"]
        assert booking["max_participants"] == 120
        assert booking["start_time"] == start[:-2] + "00"  # whole minutes
        assert booking["start_datetime"] == r["start_datetime"]
        assert booking["duration"] == 45
        assert booking["divert"] == "sip:overflow@example.org"
        assert booking["status"] == "reserved" and booking["vendor_status"]["aculab"] == "RESERVED"
    await bridge.ok(
        "PATCH", f"/v1/reservations/{r['reservation_token']}", json={"extend_minutes": 15}
    )
    got = await bridge.ok("GET", f"/v1/conferences/{r['conference_id']}")
    assert got["reservation"]["duration"] == 60
    plain = await bridge.ok("POST", "/v1/conferences", 201, json={"name": "plain"})
    assert plain["reservation"] is None and plain["max_participants"] is None
