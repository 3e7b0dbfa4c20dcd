"""Phones dial into the embedded engine and hear, by spectrum, exactly what they should."""

from __future__ import annotations

import time
from typing import Any

import pytest
from embedded_rig import Engine, new_phone
from phone import SipPhone, amplitude

pytestmark = pytest.mark.embedded

HEARD = 1500.0  # a 6000-peak tone arrives at about 6000; silence well under 100
SILENT = 300.0


async def joined(engine: Engine, cid: str, count: int) -> list[dict[str, Any]]:
    async def check() -> bool:
        await engine.settle()
        got = [p for p in await engine.participants(cid) if p["status"] == "joined"]
        return len(got) >= count

    deadline = time.monotonic() + 10  # a deadline, not a count: a read can be microseconds
    while not await check():
        assert time.monotonic() < deadline, f"{count} participants did not join in 10 s"
    return await engine.participants(cid)


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
