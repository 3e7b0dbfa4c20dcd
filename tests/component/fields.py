"""Every field of every request body, as the OpenAPI document publishes it, and a fresh
resource to send each one to (for test_hostile_limits.py and test_fuzz_fields.py).

`leaves(op)` walks an operation's body schema and yields each field with its published
constraints and a function that builds a whole valid body holding a given value there
(required siblings filled with valid samples). A component used twice in one body
(ParticipantOptions as participant_options and moderator_options) is walked once.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import Bridge

from bridge.api import openapi, routes
from bridge.api.ops import Op

DOC = openapi.build(routes.OPS)
SCHEMAS: dict[str, Any] = DOC["components"]["schemas"]
S = dict[str, Any]

# Valid values the published patterns are tried against (the document alone decides
# which fits where: this test trusts no constant of the server's).
CANDIDATES = ("4321", "en", "participant.left", "s" * 20)
URL_SAMPLE = "https://hooks.example.com/a"
# A field that is valid only beside another one.
TOGETHER: dict[str, S] = {
    "call_control_sequence": {"call_control_url": URL_SAMPLE},
    "unmute_digit": {"mute_digit": "A"},
}
_unique = itertools.count(1)


def start_time(hours: int = 2) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%d_%H:%M:%S")


def resolve(schema: S) -> S:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def non_null(schema: S) -> list[S]:
    """The alternatives a value may take (a nullable field's non-null one)."""
    schema = resolve(schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [x for alt in schema[key] for x in non_null(alt) if x.get("type") != "null"]
    return [schema]


def unanchored(pattern: str) -> str:
    """The validator's own pattern behind a published `^(?:...)$`."""
    m = re.fullmatch(r"\^\(\?:(.*)\)\$", pattern, re.S)
    return m.group(1) if m else pattern


def sample(schema: S) -> Any:
    """A small valid value for `schema`."""
    schema = non_null(schema)[0]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "boolean":
        return True
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "array":
        return [sample(schema["items"])] * max(1, schema.get("minItems", 0))
    if kind == "object":
        required = schema.get("required", ())
        return {k: sample(p) for k, p in schema.get("properties", {}).items() if k in required}
    if kind == "string" and schema.get("format") == "uri":
        return URL_SAMPLE
    if kind == "string":
        for candidate in CANDIDATES:
            if fits(schema, candidate):
                return candidate
        return string_of(schema, max(1, schema.get("minLength", 0)))
    return {}


def fits(schema: S, text: str) -> bool:
    if not schema.get("minLength", 0) <= len(text) <= schema.get("maxLength", 10**6):
        return False
    return "pattern" not in schema or re.fullmatch(schema["pattern"], text) is not None


def string_of(schema: S, n: int) -> str:
    """A valid string of exactly `n` characters for `schema` (lengths, pattern), or ""
    when the test has no way to make one."""
    if schema.get("format") == "uri":
        return (URL_SAMPLE + "a" * n)[:n] if n >= len(URL_SAMPLE) else ""
    for base in ("", *CANDIDATES):
        for filler in "a1#":
            text = (base + filler * n)[:n]
            if len(text) == n and re.fullmatch(schema.get("pattern", ".*"), text, re.S):
                return text
    return ""


Wrap = Callable[[Any], Any]


@dataclass(frozen=True)
class Leaf:
    path: str  # as the server names it in errors: dial_in.pin, media[0].say.text
    spec: S
    body: Wrap  # the whole request body with this value at `path`


def _walk(
    schema: S, path: str, wrap: Wrap, seen: set[str], given: frozenset[str] = frozenset()
) -> Iterator[Leaf]:
    """`given`: the keys the base body already fills (no sample replaces them)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen.add(name)
    alternatives = non_null(schema)
    for alt in alternatives:
        kind = alt.get("type")
        if kind == "object" and "properties" in alt:
            required = {
                k: sample(p)
                for k, p in alt["properties"].items()
                if k in alt.get("required", ()) and k not in given
            }
            for key, prop in alt["properties"].items():

                def child(
                    value: Any, key: str = key, wrap: Wrap = wrap, required: S = required
                ) -> Any:
                    return wrap({**required, **TOGETHER.get(key, {}), key: value})

                yield from _walk(prop, f"{path}.{key}" if path else key, child, seen)
        elif kind == "array":
            yield Leaf(path, alt, wrap)

            def item(value: Any, wrap: Wrap = wrap) -> Any:
                return wrap([value])

            yield from _walk(alt["items"], f"{path}[0]", item, seen)
        else:
            yield Leaf(path, alt, wrap)


@dataclass
class Target:
    """Where a body goes: `prepare` makes a fresh resource and returns the path."""

    op: Op
    base: Callable[[], S]
    prepare: Callable[[Bridge], Awaitable[str]]
    read_back: str | None = None  # GET path (format with the path's last id) or list


def leaves(target: Target) -> Iterator[Leaf]:
    assert target.op.body is not None
    base = target.base

    def top(value: Any) -> Any:
        return {**base(), **value}

    schema = {"$ref": f"#/components/schemas/{target.op.body}"}
    yield from _walk(schema, "", top, set(), frozenset(base()))


async def conference(bridge: Bridge, **body: Any) -> str:
    made = await bridge.ok("POST", "/v1/conferences", 201, json={"name": "fields", **body})
    return str(made["id"])


async def participant(bridge: Bridge) -> tuple[str, str]:
    cid = await conference(bridge)
    p = await bridge.ok(
        "POST", f"/v1/conferences/{cid}/participants", 201,
        json={"to": "1001", "participant": {"start_on_entry": True}},
    )  # fmt: skip
    await bridge.settle()
    return cid, str(p["id"])


def _op(method: str, path: str) -> Op:
    (op,) = [o for o in routes.OPS if o.method == method and o.path == path]
    return op


async def _at(path: str, bridge: Bridge) -> str:
    return path


async def _conf_path(bridge: Bridge) -> str:
    return f"/v1/conferences/{await conference(bridge)}"


async def _participants(bridge: Bridge) -> str:
    return f"/v1/conferences/{await conference(bridge)}/participants"


async def _participant(bridge: Bridge) -> str:
    cid, pid = await participant(bridge)
    return f"/v1/conferences/{cid}/participants/{pid}"


async def _announcements(bridge: Bridge) -> str:
    cid, _ = await participant(bridge)
    return f"/v1/conferences/{cid}/announcements"


async def _recording(bridge: Bridge) -> str:
    cid, _ = await participant(bridge)
    rec = await bridge.ok("POST", f"/v1/conferences/{cid}/recordings", 201)
    return f"/v1/conferences/{cid}/recordings/{rec['id']}"


async def _reservation(bridge: Bridge) -> str:
    r = await bridge.ok("POST", "/v1/reservations", 201, json=reservation_body())
    return f"/v1/reservations/{r['reservation_token']}"


async def _keys(bridge: Bridge) -> str:
    a = await bridge.ok("POST", "/v1/accounts", 201, json={"name": "fields"})
    return f"/v1/accounts/{a['id']}/keys"


def reservation_body() -> S:
    return {
        "conference_name": f"res{next(_unique)}",
        "max_participants": 40,
        "start_time": start_time(),
        "duration": 30,
    }


C = "/v1/conferences/{conference_id}"
TARGETS: dict[str, Target] = {
    "ConferenceCreate": Target(
        _op("POST", "/v1/conferences"), dict, lambda b: _at("/v1/conferences", b)
    ),
    "ConferenceUpdate": Target(_op("PATCH", C), dict, _conf_path),
    "ParticipantCreate": Target(
        _op("POST", C + "/participants"), lambda: {"to": "1001"}, _participants
    ),
    "ParticipantUpdate": Target(
        _op("PATCH", C + "/participants/{participant_id}"), dict, _participant
    ),
    "AnnouncementCreate": Target(
        _op("POST", C + "/announcements"),
        lambda: {"media": {"say": {"text": "hi"}}},
        _announcements,
    ),
    "RecordingUpdate": Target(_op("PATCH", C + "/recordings/{recording_id}"), dict, _recording),
    "ReservationCreate": Target(
        _op("POST", "/v1/reservations"), reservation_body, lambda b: _at("/v1/reservations", b)
    ),
    "ReservationExtend": Target(
        _op("PATCH", "/v1/reservations/{reservation_token}"),
        lambda: {"extend_minutes": 15},
        _reservation,
    ),
    "SubscriptionCreate": Target(
        _op("POST", "/v1/webhooks"), lambda: {"url": URL_SAMPLE}, lambda b: _at("/v1/webhooks", b)
    ),
    "AccountCreate": Target(
        _op("POST", "/v1/accounts"), lambda: {"name": "acct"}, lambda b: _at("/v1/accounts", b)
    ),
    "KeyCreate": Target(_op("POST", "/v1/accounts/{account_id}/keys"), dict, _keys),
}


def every_body_schema() -> set[str]:
    return {op.body for op in routes.OPS if op.body}


async def send(bridge: Bridge, target: Target, path: str, body: Any) -> tuple[int, Any]:
    """`body` as JSON (ensure_ascii: a lone surrogate travels as its escape)."""
    status, got = await bridge.call(
        target.op.method, path, data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    return int(status), got


def error_field(body: Any) -> str | None:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    field = body["error"]["details"].get("field")
    return None if field is None else str(field)
