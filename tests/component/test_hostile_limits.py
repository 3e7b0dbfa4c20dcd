"""What /openapi.json publishes for each field is what the server enforces.

Every limit lives once, in bridge/core/validate.py (and core/reservation.py for booking
sizes); the validators and the document both read it. This test does not trust that: for
every field of every request body it reads the document's constraints and sends each
boundary to the server. At a limit the value passes validation; one step beyond it is
refused with 400 naming the field. Enums: every member passes, anything else is refused.
Patterns: strings drawn from the published pattern all pass, and a value with a
character outside it is refused.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fields import (
    TARGETS,
    Leaf,
    Target,
    error_field,
    every_body_schema,
    leaves,
    send,
    string_of,
    unanchored,
)
from harness import Bridge
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bridge.core import reservation as rsm

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # limits, not storage

# Bounded by configuration, not by a constant: an unreserved conference may hold at most
# unreserved_max_participants (40 by default), a reserved one its booking (40 in the
# bodies used here). The document publishes the absolute bound and says so.
DEPENDS = 40


def test_every_body_schema_has_a_target() -> None:
    assert every_body_schema() == set(TARGETS)


def named(body: Any, leaf: Leaf) -> bool:
    """Does the error name this field? (`participant.mute_digit`, `media[0].say.text`...)"""
    field = error_field(body)
    if field is None:
        return False
    last = re.split(r"[.\[]", leaf.path)[-1]
    return (
        field == leaf.path
        or field.endswith(last)
        or leaf.path.endswith(field)
        or leaf.path.startswith(field + "[")  # an item of a list the error names
    )


async def verdict(bridge: Bridge, target: Target, leaf: Leaf, value: Any) -> tuple[bool, Any]:
    """(passed validation for this field, response body)."""
    path = await target.prepare(bridge)
    status, body = await send(bridge, target, path, leaf.body(value))
    assert status < 500, (leaf.path, value, status, body)
    if status == 400:
        # refused, and for this field: anything else is a mistake in the test's bodies
        assert named(body, leaf), (leaf.path, repr(value)[:80], body)
        return False, body
    return True, body  # validated (a 409 or 404 comes after validation)


def probes(leaf: Leaf) -> list[tuple[Any, bool, str]]:
    """(value, should pass, why) at each published boundary of `leaf`."""
    spec = leaf.spec
    out: list[tuple[Any, bool, str]] = []
    if "enum" in spec:
        out += [(member, True, "enum member") for member in spec["enum"]]
        out.append(("zz-not-a-member", False, "not in the enum"))
        return out
    kind = spec.get("type")
    if kind == "boolean":
        return [(True, True, "true"), (False, True, "false"), ("true", False, "a string")]
    if kind == "integer":
        lo, hi = spec["minimum"], spec["maximum"]
        if "x-maximum-depends" in spec:
            assert hi == rsm.MAX_SIZE, spec
            hi = DEPENDS
        return [(lo, True, "minimum"), (hi, True, "maximum"), (lo - 1, False, "below"),
                (hi + 1, False, "above"), (str(lo), False, "a string")]  # fmt: skip
    if kind == "array":
        one = leaves_item_sample(leaf)
        if "maxItems" in spec:
            out += [([one] * spec["maxItems"], True, "maxItems"),
                    ([one] * (spec["maxItems"] + 1), False, "over maxItems")]  # fmt: skip
        if spec.get("minItems", 0) >= 1:
            out.append(([], False, "under minItems"))
        return out
    if kind == "object" and "x-max-bytes" in spec:
        limit = spec["x-max-bytes"]
        fits = {"k": "x" * (limit - len('{"k":""}'))}
        return [(fits, True, "x-max-bytes"), ({"k": fits["k"] + "x"}, False, "over x-max-bytes")]
    if kind == "string":
        if "maxLength" in spec:
            at = string_of(spec, spec["maxLength"])
            if at:
                out += [(at, True, "maxLength"), (at + at[-1], False, "over maxLength")]
        low = spec.get("minLength", 0)
        if low >= 1:
            at = string_of(spec, low)
            if at:
                out.append((at, True, "minLength"))
            out.append((at[:-1] if at else "", False, "under minLength"))
        if "pattern" in spec:
            out.append(("$" + (string_of(spec, 3) or "a") + "\n", False, "outside the pattern"))
    return out


def leaves_item_sample(leaf: Leaf) -> Any:
    from fields import sample

    return sample(leaf.spec["items"])


def drawn(pattern: str, spec: dict[str, Any], n: int = 12) -> list[str]:
    """Deterministic strings matching a published pattern and its lengths."""
    lo, hi = spec.get("minLength", 0), spec.get("maxLength", 10_000)
    out: list[str] = []
    strategy = st.from_regex(pattern, fullmatch=True).filter(lambda s: lo <= len(s) <= hi)

    @settings(max_examples=n, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)  # fmt: skip
    @given(strategy)
    def collect(value: str) -> None:
        out.append(value)

    collect()
    return out


@SQLITE
@pytest.mark.parametrize("schema_name", sorted(TARGETS))
async def test_published_limits_are_enforced(bridge: Bridge, schema_name: str) -> None:
    await bridge.parts.dispatcher.stop()  # subscriptions name hosts that are never contacted
    target = TARGETS[schema_name]
    wrong: list[str] = []
    checked = 0
    for leaf in leaves(target):
        for value, should_pass, why in probes(leaf):
            passed, body = await verdict(bridge, target, leaf, value)
            checked += 1
            if passed != should_pass:
                shown = repr(value)[:60]
                wrong.append(f"{leaf.path} ({why}, {shown}): {'passed' if passed else body}")
    assert checked, schema_name
    assert not wrong, "\n".join(wrong)


# The dial-target grammar also checks a bracketed IPv6 literal (the pattern only its
# characters); URLs also pass the outbound policy (public hosts only), as published.
BEYOND_PATTERN = {"uri"}


@SQLITE
@pytest.mark.parametrize("schema_name", sorted(TARGETS))
async def test_published_patterns_are_accepted(bridge: Bridge, schema_name: str) -> None:
    await bridge.parts.dispatcher.stop()
    target = TARGETS[schema_name]
    wrong: list[str] = []
    for leaf in leaves(target):
        spec = leaf.spec
        if (
            spec.get("type") != "string"
            or "pattern" not in spec
            or spec.get("format") in BEYOND_PATTERN
        ):
            continue
        for value in drawn(spec["pattern"], spec):
            if "[" in value and unanchored(spec["pattern"]).startswith(r"\+?[0-9]{1,20}|"):
                continue  # an IPv6 literal: the parser checks more than its characters
            passed, body = await verdict(bridge, target, leaf, value)
            if not passed:
                wrong.append(f"{leaf.path} {value!r}: {body}")
    assert not wrong, "\n".join(wrong[:20])
