"""RFC 4733 digits go from a call's media straight to the engine, and are read while the
caller is not mixed yet: hearing the pre_actions in the lobby (here) or giving a PIN
(test_embedded_pin.py); in the mixing, test_embedded_calls.py's mute digit."""

from __future__ import annotations

import pytest
from bridge_testing.embedded import Engine, new_phone
from bridge_testing.phone import SipPhone
from bridge_testing.wait import until
from receiver import WebhookReceiver

from bridge.media import tones
from bridge.media.wav import write_wav

pytestmark = pytest.mark.embedded


def _types(receiver: WebhookReceiver, cid: str) -> list[tuple[str, str | None]]:
    """(event type, digit) of the conference's webhooks, in the order they came."""
    return [(e["type"], e["data"].get("digit")) for e in receiver.events(cid)]


async def test_digits_are_read_in_the_lobby(
    engine: Engine, phones: list[SipPhone], receiver: WebhookReceiver
) -> None:
    write_wav(engine.media_dir / "pre.wav", tones.tone_pcm([650.0], 4000, 6000))
    cid = await engine.conference(
        "7301",
        play_beep="never",
        status_callback_url=receiver.url,
        pre_actions=[{"play": {"file": "pre.wav"}}],
    )
    phone = await new_phone(phones, "caller")
    assert await phone.call(engine.sip, "7301") == 200
    await until(lambda: bool(engine.backend.by_participant), what="the call in the lobby")
    phone.send_digits("4")
    phone.send_digits("7")
    await receiver.wait_for(lambda _: ("participant.digit", "7") in _types(receiver, cid))
    assert ("participant.joined", None) not in _types(receiver, cid), "read in the lobby"
    people = await engine.participants(cid)
    assert [p["status"] for p in people] == ["joining"]
    digits = [d for t, d in _types(receiver, cid) if t == "participant.digit"]
    assert digits == ["4", "7"]  # each once, though each came in several packets
