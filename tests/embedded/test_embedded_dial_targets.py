"""The embedded engine builds a dial-out's Request-URI only from a DialTarget, so even a
value that bypassed the API's check cannot add URI parameters, headers or another host."""

from __future__ import annotations

import pytest

from bridge.pbx.embedded.backend import EmbeddedBackend


async def test_numbers_and_users_go_to_the_dial_host() -> None:
    engine = EmbeddedBackend(default_dial_host="pbx.example.org")
    assert str(engine._dial_uri("+4420123")) == "sip:+4420123@pbx.example.org"
    assert str(engine._dial_uri("alice")) == "sip:alice@pbx.example.org"
    assert str(engine._dial_uri("sip:bob@example.com:5070")) == "sip:bob@example.com:5070"


@pytest.mark.parametrize(
    "to",
    [
        "sip:bob@example.com;transport=tcp",
        "sip:bob@example.com?Route=%3Csip:x%3E",
        "bob@10.0.0.1",
        "sip:bob@example.com>\r\nX: y",
        "sofia/gateway/x/1",
        "${system(id)}",
    ],
)
async def test_anything_else_is_refused(to: str) -> None:
    with pytest.raises(ValueError):
        EmbeddedBackend()._dial_uri(to)
