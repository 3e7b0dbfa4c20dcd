"""Bad input never reaches AMI or AGI: names, digits, URLs and caller ids with CR/LF,
spaces, unicode or over-long values are refused (API), dropped (caller id) or rejected
(dialled code) before any byte is written. Every byte the bridge sends to AMI goes
through a proxy here and is checked; every AGI command line is recorded and checked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bridge_testing.sipp import sipp_available
from bridge_testing.tcp_proxy import CuttableProxy
from live_bridge import Live

from bridge.core import engine as e
from bridge.core.models import Conference, MediaItem, Participant
from bridge.pbx.asterisk.fastagi import AgiSession
from bridge.pbx.backend import EngineError
from bridge.protocols.safe import is_safe

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(not sipp_available(), reason="sipp (package sip-tester) is not installed"),
]

EVIL = [
    "x\r\nAction: Originate",
    "x\nAction: Hangup",
    "bad value with spaces",
    "ünïcödé",
    "9" * 300,
    "x\x00y",
]


def _wire_is_clean(data: bytes) -> None:
    """Every AMI block the bridge wrote: one Action line first, then Key: Value lines."""
    text = data.decode("ascii")  # raises on anything non-ASCII
    assert "\x00" not in text
    for block in filter(None, text.split("\r\n\r\n")):
        lines = block.split("\r\n")
        assert lines[0].startswith("Action: "), block
        for line in lines:
            key, sep, value = line.partition(": ")
            assert sep and key.replace("-", "").isalnum() and "\n" not in value, line
        assert sum(line.startswith("Action:") for line in lines) == 1, block
        assert not any(line.startswith(("Channel: x", "Data: x")) for line in lines), block


@pytest.fixture
def agi_lines(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    lines: list[bytes] = []
    original = AgiSession.command

    async def record(self: AgiSession, line: bytes, *, seconds: float | None = None) -> Any:
        lines.append(line)
        return await original(self, line, seconds=seconds)

    monkeypatch.setattr(AgiSession, "command", record)
    return lines


async def test_bad_values_never_reach_ami_or_agi(
    proxied: tuple[Live, CuttableProxy], agi_lines: list[bytes]
) -> None:
    live, proxy = proxied
    conf = await live.conference("5101")
    path = f"/v1/conferences/{conf['id']}"
    # API: refused with 400, before anything is sent
    for value in EVIL:
        for body in (
            {"to": value},
            {"to": "1001", "from": value},
            {"to": "1001", "hold_media": {"play": {"file": value}}},
        ):
            status, _ = await live.call("POST", f"{path}/participants", json=body)
            assert status == 400, (body, status)
        status, _ = await live.call("POST", "/v1/conferences", json={"name": value})
        assert status in (201, 400)  # free text is stored, but never sent to the PBX
        status, _ = await live.call(
            "POST", f"{path}/announcements", json={"media": {"play": {"file": value}}}
        )
        assert status == 400
        status, _ = await live.call(
            "PATCH", path, json={"dial_in": {"access_code": value}, "status_callback_url": value}
        )
        assert status == 400

    # Phones: a dialled code that is not digits is rejected (404) without routing; a
    # caller id outside the allow-list is dropped, the call still admitted.
    refused = live.phone("5101abc", expect=404)
    assert await refused.finished() == 0, refused.output()
    long_code = live.phone("5" * 40, expect=404)
    assert await long_code.finished() == 0, long_code.output()
    # Asterisk percent-decodes the From user into the AGI environment, CR/LF included;
    # the shipped dialplan FILTERs it first, so this cannot add or override a line.
    odd = live.phone("5101", user="a%0D%0Aagi_uniqueid:%20hijack", wait_for_bye_ms=30_000)
    fine = live.phone("5101", user="alice.1", wait_for_bye_ms=30_000)
    people = await live.wait_participants(conf["id"], 2)
    froms = sorted(str(p["from"]) for p in people)
    assert froms[1] == "alice.1" and is_safe(froms[0], "caller_id"), froms
    assert froms[0].startswith("aagi_uniqueid")  # the CR/LF were filtered out
    assert all(c.uniqueid != "hijack" for c in live.backend.registry.calls.values())

    # Straight at the backend (bypassing the API): refused before sending.
    now = datetime.now(UTC)
    conf_model = Conference(conf["id"], "ac_x", "n", now, now)
    for value in EVIL:
        bad = Participant("pa_" + "x" * 26, conf["id"], "ac_x", now, now, to=value)
        with pytest.raises(EngineError):
            await live.backend.execute(e.Originate(conf_model, bad))
        with pytest.raises(EngineError):
            await live.backend.execute(
                e.Play(conf_model, (MediaItem("play", file=value),), None, "an_x")
            )
    await live.ok("DELETE", path)
    for phone in (odd, fine):
        assert await phone.ended_by_pbx(), phone.output()

    assert proxy.sent, "the bridge sent nothing to AMI?"
    _wire_is_clean(bytes(proxy.sent))
    assert agi_lines
    for line in agi_lines:
        text = line.decode("ascii")
        assert text.endswith("\n") and "\n" not in text[:-1] and "\r" not in text, text
