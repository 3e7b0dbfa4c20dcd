"""PIN entry on the embedded engine: three attempts, a re-prompt after each wrong one, the
error tone and BYE after the last. Real SIP and RFC 4733 digits over loopback."""

from __future__ import annotations

import time

import pytest
from bridge_testing.embedded import Engine, joined, new_phone
from bridge_testing.phone import SipPhone, burst_amplitude
from bridge_testing.wait import until

from bridge.core import pin

pytestmark = pytest.mark.embedded

PROMPT_HZ = 600.0  # the PIN prompt beep (prompts.pin_prompt)
REORDER_HZ = 480.0  # one of the two error-tone frequencies (prompts.pin_retry / pin_rejected)
LOUD = 1500.0


def heard(phone: SipPhone, since: float, hz: float) -> bool:
    pcm = phone.heard_since(since)
    return len(pcm) >= 3200 and burst_amplitude(pcm, hz) > LOUD  # 0.2 s windows at least


async def prompted(phone: SipPhone, since: float) -> None:
    """The first prompt was heard, and is over (so it is not taken for a re-prompt)."""
    await until(lambda: heard(phone, since, PROMPT_HZ), 10.0, "the first PIN prompt")
    await phone.listen(0.3)


async def reprompted(phone: SipPhone, since: float) -> None:
    """A wrong entry with attempts left: an error burst, then the prompt again; no BYE."""
    await until(lambda: heard(phone, since, PROMPT_HZ), 10.0, "the PIN prompt again")
    assert heard(phone, since, REORDER_HZ), "an error burst before the new prompt"
    assert not phone.bye_received, "attempts were left: the call stays up"
    await phone.listen(0.3)  # the prompt is over before the next entry


async def test_two_wrong_pins_then_the_right_one_joins(
    engine: Engine, phones: list[SipPhone]
) -> None:
    cid = await engine.conference("7101", dial_in={"pin": "1234"})
    phone = await new_phone(phones, "retry")
    mark = time.monotonic()
    assert await phone.call(engine.sip, "7101") == 200
    await prompted(phone, mark)
    for wrong in ("999#", "#"):  # a wrong PIN, then an empty entry: both count
        mark = time.monotonic()
        phone.send_digits(wrong)
        await reprompted(phone, mark)
    phone.send_digits("1234#")
    [p] = await joined(engine, cid, 1)
    assert p["status"] == "joined" and not phone.bye_received


async def test_three_wrong_pins_hear_the_error_tone_then_bye(
    engine: Engine, phones: list[SipPhone]
) -> None:
    cid = await engine.conference("7102", dial_in={"pin": "4321"})
    phone = await new_phone(phones, "wrong3")
    mark = time.monotonic()
    assert await phone.call(engine.sip, "7102") == 200
    await prompted(phone, mark)
    for _ in range(2):
        mark = time.monotonic()
        phone.send_digits("999#")
        await reprompted(phone, mark)
    mark = time.monotonic()
    phone.send_digits("999#")
    await until(lambda: phone.bye_received, 10.0, "BYE after the third wrong PIN")
    pcm = phone.heard_since(mark)
    assert burst_amplitude(pcm, 480.0) > LOUD and burst_amplitude(pcm, 620.0) > LOUD
    assert not heard(phone, mark, PROMPT_HZ), "no prompt after the last attempt"
    assert await engine.participants(cid) == [], "a refused caller never became a participant"


async def test_silence_uses_up_the_attempts_too(
    engine: Engine, phones: list[SipPhone], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller who types nothing is not left in silence forever: each pause is an attempt."""
    monkeypatch.setattr(pin, "POLICY", pin.PinPolicy(digit_timeout=0.3))
    await engine.conference("7103", dial_in={"pin": "4321"})
    phone = await new_phone(phones, "silent")
    mark = time.monotonic()
    assert await phone.call(engine.sip, "7103") == 200
    await until(lambda: phone.bye_received, 10.0, "BYE after three pauses")
    assert heard(phone, mark, REORDER_HZ), "the error tone before BYE"
