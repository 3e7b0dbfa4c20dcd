"""Dial targets: the grammar is an allow-list; whatever parses cannot name a trunk."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.dialing import DialTarget, parse_dial_target

# what would let a target pick an endpoint, set a variable, split or expand anything
_NEVER = set("/{}$,|&;?=()[]'\"\\ \r\n\x00%^")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("+4420123", DialTarget("number", "+4420123")),
        ("1001", DialTarget("number", "1001")),
        ("alice.smith", DialTarget("user", "alice.smith")),
        ("sip:bob@Example.ORG", DialTarget("sip", "bob", "example.org")),
        ("sip:bob@example.org:5070", DialTarget("sip", "bob", "example.org", 5070)),
        ("sip:example.org", DialTarget("sip", None, "example.org")),
        ("sip:+44@[2001:DB8::1]:5060", DialTarget("sip", "+44", "[2001:db8::1]", 5060)),
    ],
)
def test_accepted_forms(text: str, parsed: DialTarget) -> None:
    assert parse_dial_target(text) == parsed
    assert parse_dial_target(str(parsed)) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "accnoendpoint/sip:bob@x.org",
        "PJSIP/1001",
        "sofia/gateway/gw/1",
        "user/1000",
        "sip:bob@x.org;transport=tcp",
        "sip:bob@x.org?Route=x",
        "sips:bob@x.org",
        "tel:+4420",
        "sip:a@b@c",
        "sip:bob@x.org:0",
        "sip:bob@x.org:65536",
        "sip:bob@-bad.org",
        "sip:bob@[::1",
        "sip:bob@[zz::1]",
        "${system(id)}",
        "1001,1002",
        "",
        "x" * 129,
    ],
)
def test_refused_forms(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dial_target(text)


@given(st.text(max_size=60))
def test_nothing_that_parses_holds_a_dangerous_character(text: str) -> None:
    try:
        target = parse_dial_target(text)
    except ValueError:
        return
    rendered = str(target)
    assert not (_NEVER & set(rendered.replace("[", "").replace("]", "")))
    assert parse_dial_target(rendered) == target
