"""A phone that stops sending RTP without a BYE (power or network gone) is hung up and
leaves; a phone that keeps sending, or that holds the call and goes quiet, stays."""

from __future__ import annotations

from typing import Any

import pytest
from bridge_testing.embedded import Engine, joined, new_phone
from bridge_testing.phone import SipPhone
from bridge_testing.wait import until

pytestmark = pytest.mark.embedded
TIMEOUT = 1.0


@pytest.fixture
def engine_options() -> dict[str, Any]:
    return {"rtp_timeout": TIMEOUT}


async def test_silent_phone_is_hung_up_and_leaves(engine: Engine, phones: list[SipPhone]) -> None:
    cid = await engine.conference("8301", play_beep="never")
    gone = await new_phone(phones, "gone", 500.0)
    stays = await new_phone(phones, "stays", 700.0)
    held = await new_phone(phones, "held", 900.0)
    for phone in (gone, stays, held):
        assert await phone.call(engine.sip, "8301") == 200
    await joined(engine, cid, 3)
    assert await held.hold(True) == 200
    held.remote_media = None  # on hold, and quiet
    gone.remote_media = None  # its RTP stops; no BYE is ever sent

    await until(lambda: gone.bye_received, 6 * TIMEOUT + 5, "the bridge's BYE")
    await engine.settle()
    everyone = await engine.participants(cid)
    assert sorted(p["status"] for p in everyone) == ["joined", "joined", "left"], everyone
    assert [p["leave_reason"] for p in everyone if p["status"] == "left"] == ["hangup"]
    assert not stays.bye_received and not held.bye_received
