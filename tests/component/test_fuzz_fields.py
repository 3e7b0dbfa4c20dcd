"""Every string field of every create and update operation gets the values an attacker
tries: CR, LF, NUL, a lone surrogate, 10,000 characters, a right-to-left override,
`${...}`, `%{...}`, `|`, `;`, `,` and path traversal. No answer is a 5xx; a refusal has the
JSON error shape and leaves what is read back exactly as it was; a value that is taken
holds no CR, LF or NUL; and the server still answers afterwards.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fields import TARGETS, Leaf, Target, error_field, leaves, send
from harness import Bridge

HOSTILE = [
    "a\rb",
    "a\nb",
    "x\r\nSet-Cookie: y",
    "a\x00b",
    "a\ud800b",
    "a" * 10_000,
    "\u202eevil",
    "${ENV(HOME)}",
    "$${shell(id)}",
    "%{pbx}",
    "a|b",
    "a;b",
    "a,b",
    "../../etc/passwd",
]


async def snapshot(bridge: Bridge, target: Target, path: str) -> Any:
    """What a reader sees of the resource (or collection) the request would change."""
    read = path.removesuffix("/announcements")
    if target.op.method == "POST" and read == path:
        read += "?limit=200" if target.op.path.endswith(("conferences", "reservations")) else ""
    status, body = await bridge.call("GET", read)
    assert status == 200, (read, status, body)
    return body


def string_leaves(target: Target) -> list[Leaf]:
    seen: set[str] = set()
    out = []
    for leaf in leaves(target):
        key = json.dumps(leaf.spec, sort_keys=True) + leaf.path.rsplit(".", 1)[-1]
        if leaf.spec.get("type") == "string" and key not in seen:
            seen.add(key)
            out.append(leaf)
    return out


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("schema_name", sorted(TARGETS))
async def test_hostile_strings_in_every_field(bridge: Bridge, schema_name: str) -> None:
    await bridge.parts.dispatcher.stop()  # subscriptions name hosts that are never contacted
    target = TARGETS[schema_name]
    for leaf in string_leaves(target):
        path = await target.prepare(bridge)
        for value in HOSTILE:
            before = await snapshot(bridge, target, path)
            status, body = await send(bridge, target, path, leaf.body(value))
            assert status < 500, (leaf.path, value[:40], status, body)
            if status >= 400:
                error_field(body)  # the JSON error shape
                after = await snapshot(bridge, target, path)
                assert after == before, (leaf.path, value[:40], "changed by a refusal")
            else:
                text = json.dumps(body)
                for bad in ("\\r", "\\n", "\\u0000", "\\ud800"):
                    assert bad not in text, (leaf.path, value[:40], bad, "was stored")
                path = await target.prepare(bridge)  # a fresh resource for the next value
    status, _ = await bridge.call("GET", "/healthz")
    assert status == 200
