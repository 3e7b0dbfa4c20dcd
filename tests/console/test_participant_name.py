"""A participant's display name: taken from what each engine reports for a caller (SIP From
display name, Asterisk CALLERID(name), FreeSWITCH caller_id_name) only when it is plain text,
and set with `name` at dial-out, refused with a clear 4xx when it is not text."""

from __future__ import annotations

from typing import Any

import pytest
from bridge_testing.embedded import Engine, new_phone
from bridge_testing.phone import SipPhone

from bridge.core import validate as v
from bridge.pbx.asterisk.dialin import caller_name
from bridge.protocols.agi import AgiEnvironment


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        (" Alice Smith ", "Alice Smith"),
        ("<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>"),  # text: escaped on show
        ("Bob\r\nX-Evil: 1", None),  # control characters: no name
        ("Zoë 李", "Zoë 李"),
        ("x" * 300, "x" * v.TEXT_LEN),  # cut to the length the API allows
    ],
)
def test_display_name_from_an_engine(raw: str | None, name: str | None) -> None:
    assert v.display_name(raw) == name


@pytest.mark.parametrize(
    ("value", "name"), [("Alice", "Alice"), ("unknown", None), ("", None), (None, None)]
)
def test_asterisk_callerid_name(value: str | None, name: str | None) -> None:
    env = AgiEnvironment({} if value is None else {"calleridname": value}, ())
    assert caller_name(env) == name


async def joining(engine: Engine, cid: str) -> dict[str, Any]:
    """The data of the conference's participant.joining event."""
    events = await engine.ok("GET", f"/v1/conferences/{cid}/events")
    [data] = [e["data"] for e in events["items"] if e["type"] == "participant.joining"]
    return dict(data)


async def test_dial_in_name_is_the_sip_display_name(engine: Engine, phones: list[SipPhone]) -> None:
    cid = await engine.conference("4411", play_beep="never")
    alice = await new_phone(phones, "alice")
    alice.display_name = "Alice Smith"
    assert await alice.call(engine.sip, "4411") == 200
    await engine.settle()
    [p] = await engine.participants(cid)
    assert (p["name"], p["from"]) == ("Alice Smith", "alice")
    assert (await joining(engine, cid))["name"] == "Alice Smith"  # the event says who, too


async def test_dial_out_name(engine: Engine, phones: list[SipPhone]) -> None:
    cid = await engine.conference("4412", play_beep="never")
    bob = await new_phone(phones, "bob")
    base = f"/v1/conferences/{cid}/participants"
    made = await engine.ok(
        "POST", base, 201, json={"to": f"sip:{bob.uri}", "name": "Bob at the desk"}
    )
    assert made["name"] == "Bob at the desk"
    got = await engine.ok("GET", f"{base}/{made['id']}")
    assert got["name"] == "Bob at the desk"
    assert (await joining(engine, cid))["name"] == "Bob at the desk"
    for bad, code in [("a\nb", "invalid_field"), ("x" * 201, "bad_length"), (5, "invalid_field")]:
        status, body = await engine.call("POST", base, json={"to": f"sip:{bob.uri}", "name": bad})
        assert (status, body["error"]["code"]) == (400, code), body
    assert len(await engine.participants(cid)) == 1  # the refused ones made nothing
