"""Phones dial into the embedded engine and hear, by spectrum, exactly what they should."""

from __future__ import annotations

import pytest
from bridge_testing.embedded import HEARD, SILENT, Engine, joined, new_phone
from bridge_testing.phone import SipPhone, amplitude

pytestmark = pytest.mark.embedded


async def test_each_hears_the_others_not_itself_and_not_the_muted(
    engine: Engine, phones: list[SipPhone]
) -> None:
    cid = await engine.conference("5001", play_beep="never")
    a = await new_phone(phones, "alice", 500.0)
    b = await new_phone(phones, "bob", 700.0)
    c = await new_phone(phones, "carol", 1100.0)
    for phone in (a, b, c):
        assert await phone.call(engine.sip, "5001") == 200
    people = await joined(engine, cid, 3)
    heard = {phone.name: await phone.listen(1.0) for phone in (a, b, c)}
    tones = {"alice": 500.0, "bob": 700.0, "carol": 1100.0}
    for name, pcm in heard.items():
        for other, hz in tones.items():
            level = amplitude(pcm, hz)
            if other == name:
                assert level < SILENT, f"{name} hears itself ({level:.0f})"
            else:
                assert level > HEARD, f"{name} does not hear {other} ({level:.0f})"

    carol = next(p for p in people if p["from"] == "carol")
    await engine.ok("PATCH", f"/v1/conferences/{cid}/participants/{carol['id']}",
                    json={"muted": True})  # fmt: skip
    await a.listen(0.2)  # let the change reach the mixer
    pcm = await a.listen(1.0)
    assert amplitude(pcm, 1100.0) < SILENT and amplitude(pcm, 700.0) > HEARD
    pcm = await c.listen(1.0)  # the muted still hears
    assert amplitude(pcm, 500.0) > HEARD and amplitude(pcm, 700.0) > HEARD
    await a.hangup()
    await engine.settle()
    health = await engine.ok("GET", "/healthz")
    assert "embedded" in str(health)
