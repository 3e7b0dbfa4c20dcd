"""Spoken media on the embedded engine, heard by real phones: a participant's name and
joined/left messages (played to the whole room), a conference's pre_actions (heard alone
before the mixing) and post_actions (after a kick, before BYE), `say` through espeak-ng,
and the clear error when espeak-ng is missing."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from bridge_testing.embedded import HEARD, SILENT, Engine, joined, new_phone
from bridge_testing.phone import SipPhone, amplitude
from bridge_testing.wait import until

from bridge.core.models import MediaItem
from bridge.media import tones
from bridge.media.wav import write_wav
from bridge.pbx.backend import EngineError

pytestmark = pytest.mark.embedded

NAME_HZ, JOINED_HZ, LEFT_HZ = 1000.0, 1500.0, 2500.0
PRE_HZ, POST_HZ = 650.0, 1800.0
SPOKEN = "Alice has joined the conference"


def media(engine: Engine, name: str, hz: float, ms: int) -> dict[str, dict[str, str]]:
    write_wav(engine.media_dir / name, tones.tone_pcm([hz], ms, 6000))
    return {"play": {"file": name}}


def onset(pcm: bytes, hz: float, window: float = 0.1) -> float | None:
    """Seconds into `pcm` of the first `window` where the tone at `hz` is loud."""
    size = int(window * 8000) * 2
    for start in range(0, len(pcm) - size + 1, size // 2):
        if amplitude(pcm[start : start + size], hz) > HEARD:
            return start / 16000
    return None


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float64)


def rms(pcm: bytes) -> float:
    values = samples(pcm)
    return float(np.sqrt(np.mean(values**2))) if values.size else 0.0


async def test_name_and_joined_then_name_and_left_are_heard_by_the_room(
    engine: Engine, phones: list[SipPhone]
) -> None:
    options = {
        "name": media(engine, "name.wav", NAME_HZ, 400),
        "has_joined_message": media(engine, "joined.wav", JOINED_HZ, 400),
        "has_left_message": media(engine, "left.wav", LEFT_HZ, 400),
    }
    cid = await engine.conference(
        "8101", play_beep="never", dial_in={"participant_options": options}
    )
    a = await new_phone(phones, "a")
    mark = time.monotonic()
    assert await a.call(engine.sip, "8101") == 200
    # the joiner hears its own announcement too (it is played to the whole room)
    await until(lambda: onset(a.heard_since(mark), JOINED_HZ) is not None, 5.0, "a's own")
    await a.listen(0.3)

    b = await new_phone(phones, "b")
    mark = time.monotonic()
    assert await b.call(engine.sip, "8101") == 200
    await joined(engine, cid, 2)
    await a.listen(1.5)
    pcm = a.heard_since(mark)
    name, message = onset(pcm, NAME_HZ), onset(pcm, JOINED_HZ)
    assert name is not None and message is not None, "a hears b's name and joined message"
    assert name < message < 1.5, (name, message)
    assert onset(pcm, LEFT_HZ) is None, "no left message on a join"
    assert onset(b.heard_since(mark), JOINED_HZ) is not None, "b hears its own announcement"

    mark = time.monotonic()
    await b.hangup()
    await a.listen(1.5)
    pcm = a.heard_since(mark)
    name, message = onset(pcm, NAME_HZ), onset(pcm, LEFT_HZ)
    assert name is not None and message is not None, "a hears b's name and left message"
    assert name < message < 1.5, (name, message)
    assert onset(pcm, JOINED_HZ) is None, "no joined message on a leave"


async def test_a_missing_name_file_is_logged_and_the_join_goes_on(
    engine: Engine, phones: list[SipPhone], caplog: pytest.LogCaptureFixture
) -> None:
    options = {
        "name": {"play": {"file": "nobody-recorded-this.wav"}},
        "has_joined_message": media(engine, "joined.wav", JOINED_HZ, 400),
    }
    cid = await engine.conference(
        "8102", play_beep="never", dial_in={"participant_options": options}
    )
    a = await new_phone(phones, "a", 500.0)
    b = await new_phone(phones, "b", 700.0)
    mark = time.monotonic()
    for phone in (a, b):
        assert await phone.call(engine.sip, "8102") == 200
    await joined(engine, cid, 2)
    pcm = await a.listen(1.0)
    assert amplitude(pcm, 700.0) > HEARD, "a hears b: the join went on"
    assert onset(a.heard_since(mark), JOINED_HZ) is not None, "the joined message still plays"
    assert any("nobody-recorded-this.wav" in r.getMessage() for r in caplog.records)


async def test_pre_actions_greet_alone_and_post_actions_follow_a_kick(
    engine: Engine, phones: list[SipPhone]
) -> None:
    cid = await engine.conference(
        "8103",
        play_beep="never",
        pre_actions=[media(engine, "pre.wav", PRE_HZ, 2000)],
        post_actions=[media(engine, "post.wav", POST_HZ, 600)],
    )
    a = await new_phone(phones, "a", 500.0)
    assert await a.call(engine.sip, "8103") == 200
    await joined(engine, cid, 1)

    b = await new_phone(phones, "b", 700.0)
    assert await b.call(engine.sip, "8103") == 200
    await engine.settle()
    [pb] = [p for p in await engine.participants(cid) if p["from"] == "b"]
    assert pb["status"] == "joining", "status joining while the pre_actions play"
    mark = time.monotonic()
    heard_by_b = await b.listen(0.5)
    assert amplitude(heard_by_b, PRE_HZ) > HEARD, "b hears the pre_actions"
    assert amplitude(heard_by_b, 500.0) < SILENT, "b does not hear the room yet"
    assert amplitude(a.heard_since(mark), 700.0) < SILENT, "nor is b mixed yet"

    await joined(engine, cid, 2)
    await b.listen(0.2)
    assert amplitude(await b.listen(1.0), 500.0) > HEARD, "after the greeting: mixed"
    assert amplitude(await a.listen(1.0), 700.0) > HEARD

    mark = time.monotonic()
    await engine.ok("DELETE", f"/v1/conferences/{cid}/participants/{pb['id']}")
    await until(lambda: b.bye_received, 5.0, "BYE after the post_actions")
    farewell = b.heard_since(mark)
    post = onset(farewell, POST_HZ)
    assert post is not None, "the kicked call hears the post_actions"
    played = farewell[int((post + 0.1) * 8000) * 2 :]  # from the post_actions on
    assert len(played) >= 0.4 * 16000, "and BYE comes after them (0.6 s)"
    assert amplitude(played, 500.0) < SILENT, "out of the mixing while they play"


def need_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is not installed in CI (Debian package espeak-ng)")
        pytest.skip("espeak-ng is not installed")


def best_match(received: bytes, expected: bytes) -> tuple[float, float]:
    """(correlation, offset in seconds) of `expected` where it best lines up in `received`."""
    got, want = samples(received), samples(expected)
    size = 1 << int(np.ceil(np.log2(got.size + want.size)))
    cross = np.fft.irfft(np.fft.rfft(got, size) * np.conj(np.fft.rfft(want, size)), size)
    lag = int(np.argmax(cross[: got.size - want.size + 1]))
    segment = got[lag : lag + want.size]
    correlation = float(np.corrcoef(segment, want)[0, 1])
    return correlation, lag / 8000


async def test_say_joined_message_is_spoken_to_the_room(
    engine: Engine, phones: list[SipPhone]
) -> None:
    need_espeak()
    said = {"say": {"text": SPOKEN, "language": "en"}}
    cid = await engine.conference(
        "8104",
        play_beep="never",
        dial_in={
            "pin": "1111",
            "moderator_pin": "2222",
            "moderator_options": {"has_joined_message": said},
        },
    )
    a = await new_phone(phones, "a")
    assert await a.call(engine.sip, "8104") == 200
    a.send_digits("1111#")
    await joined(engine, cid, 1)
    b = await new_phone(phones, "b")
    assert await b.call(engine.sip, "8104") == 200
    quiet = await a.listen(0.3)
    mark = time.monotonic()
    b.send_digits("2222#")
    await joined(engine, cid, 2)
    speech = await engine.backend.library.item_frames(MediaItem("say", text=SPOKEN))
    expected = b"".join(speech)
    seconds = len(speech) * 0.02
    assert seconds > 0.5, "espeak-ng produced speech"
    await a.listen(seconds + 1.0)
    pcm = a.heard_since(mark)

    assert rms(quiet) < 50 and rms(pcm) > 300, (rms(quiet), rms(pcm))
    power = np.abs(np.fft.rfft(samples(pcm))) ** 2
    freqs = np.fft.rfftfreq(len(pcm) // 2, 1 / 8000)
    voice_band = power[(freqs > 150) & (freqs < 3600)].sum() / power.sum()
    peak_share = max(power[(freqs >= f) & (freqs < f + 20)].sum() for f in range(100, 3600, 20))
    assert voice_band > 0.8, f"energy in the voice band: {voice_band:.2f}"
    assert peak_share / power.sum() < 0.3, "spread over many frequencies: not a tone"

    correlation, offset = best_match(pcm, expected)
    assert correlation > 0.8, f"what a hears is the spoken message ({correlation:.2f})"
    assert offset < 1.5, f"it starts when b joins ({offset:.2f} s after the PIN)"
    after = pcm[int((offset + seconds) * 8000) * 2 :]
    assert len(after) > 1600 and rms(after) < 50, "and nothing is spoken after it"
    own, _ = best_match(b.heard_since(mark), expected)
    assert own > 0.8, f"the joiner hears its own message too ({own:.2f})"


async def test_say_without_espeak_is_a_clear_error(
    engine: Engine,
    phones: list[SipPhone],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "empty-bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    caplog.set_level(logging.WARNING)
    clear = "say needs text-to-speech: install espeak-ng"
    with pytest.raises(EngineError, match=clear):
        await engine.backend.library.item_frames(MediaItem("say", text="hello"))

    said = {"say": {"text": "hello", "language": "en"}}
    cid = await engine.conference(
        "8105", play_beep="never", dial_in={"participant_options": {"has_joined_message": said}}
    )
    a = await new_phone(phones, "a", 500.0)
    b = await new_phone(phones, "b", 700.0)
    for phone in (a, b):
        assert await phone.call(engine.sip, "8105") == 200
    await joined(engine, cid, 2)
    assert amplitude(await a.listen(1.0), 700.0) > HEARD, "the join is not broken"
    assert any(clear in r.getMessage() for r in caplog.records), "the join logs why"

    # An announcement: the API refuses it up front (nothing starts), saying why.
    status, body = await engine.call(
        "POST", f"/v1/conferences/{cid}/announcements", json={"media": [said]}
    )
    assert status == 400 and body["error"]["code"] == "media_unavailable", body
    assert clear in body["error"]["message"]
    events = await engine.ok("GET", f"/v1/conferences/{cid}/events")
    assert not [e for e in events["items"] if e["type"] == "announcement.started"]
