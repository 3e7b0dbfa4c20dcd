"""Tones: right frequencies, right length, deterministic, never clipping."""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable

import pytest

from bridge.media import FRAME_BYTES, SAMPLE_RATE, SILENCE_FRAME, tones


def power_at(pcm: bytes, frequency: float) -> float:
    """Goertzel: the signal's power at one frequency."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / SAMPLE_RATE)
    previous = before = 0.0
    for sample in array("h", pcm):
        previous, before = sample + coefficient * previous - before, previous
    return previous**2 + before**2 - coefficient * previous * before


def test_beep_has_its_frequency_and_length() -> None:
    frames = tones.beep(1000.0, duration_ms=200)
    assert len(frames) == 10
    assert all(len(frame) == FRAME_BYTES for frame in frames)
    pcm = b"".join(frames)
    assert power_at(pcm, 1000.0) > 100 * power_at(pcm, 440.0)


def test_tones_are_deterministic_and_within_amplitude() -> None:
    assert tones.entry_beep() == tones.entry_beep()
    samples = array("h", b"".join(tones.beep(440.0, 100, amplitude=5000)))
    assert max(map(abs, samples)) <= 5000
    assert samples[0] == 0  # ramped in, no click


def test_entry_and_exit_beeps_differ() -> None:
    assert tones.entry_beep() != tones.exit_beep()
    assert len(tones.entry_beep()) == len(tones.exit_beep())


@pytest.mark.parametrize("digit", list("0123456789*#ABCD"))
def test_dtmf_digit_holds_its_two_frequencies(digit: str) -> None:
    low, high = tones.DTMF_FREQUENCIES[digit]
    tone = b"".join(tones.dtmf(digit, tone_ms=100, gap_ms=0))
    others = {f for pair in tones.DTMF_FREQUENCIES.values() for f in pair} - {low, high}
    strongest_other = max(power_at(tone, f) for f in others)
    assert power_at(tone, low) > 10 * strongest_other
    assert power_at(tone, high) > 10 * strongest_other


def test_dtmf_sequence_length_and_gap() -> None:
    frames = tones.dtmf("12", tone_ms=100, gap_ms=60)
    assert len(frames) == 16  # 2 * 160 ms
    assert frames[6] == SILENCE_FRAME  # 120-140 ms lies in the first gap


def test_silence_and_padding() -> None:
    assert tones.silence(3) == [SILENCE_FRAME] * 3
    assert tones.frames_of(b"\1\0" * 170) == [
        b"\1\0" * 160,
        (b"\1\0" * 10).ljust(FRAME_BYTES, b"\0"),
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: tones.dtmf("5x"), "DTMF"),
        (lambda: tones.tone_pcm([5000.0], 20), "frequencies"),
        (lambda: tones.tone_pcm([400.0, 500.0], 20, amplitude=20000), "clip"),
        (lambda: tones.tone_pcm([], 20), "frequency"),
    ],
)
def test_bad_tone_requests_are_rejected(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
