"""Deterministic tone frames: beeps, entry/exit cues, DTMF digits and silence.

Tones are computed sample by sample from the sample index (no state, no randomness), so the
same call always returns the same bytes. A short linear ramp at both ends avoids clicks.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

from bridge.media import FRAME_BYTES, SAMPLE_RATE, SILENCE_FRAME

DEFAULT_AMPLITUDE = 8000  # about -12 dBFS: clearly audible, far from clipping
RAMP_MS = 2

# DTMF (ITU-T Q.23): digit -> (low group Hz, high group Hz).
_DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
_DTMF_COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
_DTMF_KEYPAD = ("123A", "456B", "789C", "*0#D")
DTMF_FREQUENCIES: dict[str, tuple[float, float]] = {
    key: (_DTMF_ROWS[row], _DTMF_COLUMNS[column])
    for row, keys in enumerate(_DTMF_KEYPAD)
    for column, key in enumerate(keys)
}


def samples_for(duration_ms: int) -> int:
    """Number of samples in `duration_ms` at 8 kHz."""
    if duration_ms < 0:
        raise ValueError(f"duration must be >= 0 ms, got {duration_ms}")
    return duration_ms * SAMPLE_RATE // 1000


def tone_pcm(
    frequencies: Sequence[float], duration_ms: int, amplitude: int = DEFAULT_AMPLITUDE
) -> bytes:
    """PCM of the sum of sines at `frequencies`, each with peak `amplitude`."""
    if not frequencies:
        raise ValueError("a tone needs at least one frequency")
    nyquist = SAMPLE_RATE / 2
    if any(not 0 < f < nyquist for f in frequencies):
        raise ValueError(f"frequencies must be in (0, {nyquist}) Hz: {list(frequencies)}")
    if amplitude * len(frequencies) > 32767 or amplitude < 0:
        raise ValueError(f"amplitude {amplitude} x {len(frequencies)} tones would clip")
    count = samples_for(duration_ms)
    ramp = min(samples_for(RAMP_MS), count // 2)
    steps = [2 * math.pi * f / SAMPLE_RATE for f in frequencies]
    samples = array("h", bytes(count * 2))
    for n in range(count):
        value = sum(math.sin(step * n) for step in steps) * amplitude
        edge = min(n + 1, count - n)
        if edge <= ramp:
            value *= edge / (ramp + 1)
        samples[n] = round(value)
    return samples.tobytes()


def silence_pcm(duration_ms: int) -> bytes:
    """PCM of `duration_ms` of silence."""
    return bytes(samples_for(duration_ms) * 2)


def frames_of(pcm: bytes) -> list[bytes]:
    """Cut PCM into 20 ms frames, padding the last one with silence."""
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
    if frames and len(frames[-1]) < FRAME_BYTES:
        frames[-1] = frames[-1].ljust(FRAME_BYTES, b"\0")
    return frames


def silence(frame_count: int = 1) -> list[bytes]:
    """`frame_count` silent frames."""
    return [SILENCE_FRAME] * frame_count


def beep(
    frequency: float = 440.0, duration_ms: int = 200, amplitude: int = DEFAULT_AMPLITUDE
) -> list[bytes]:
    """One sine beep as frames."""
    return frames_of(tone_pcm([frequency], duration_ms, amplitude))


def entry_beep() -> list[bytes]:
    """The cue played to the conference when someone joins: a rising two-note beep."""
    return frames_of(tone_pcm([440.0], 120) + silence_pcm(40) + tone_pcm([880.0], 120))


def exit_beep() -> list[bytes]:
    """The cue played to the conference when someone leaves: a falling two-note beep."""
    return frames_of(tone_pcm([880.0], 120) + silence_pcm(40) + tone_pcm([440.0], 120))


def dtmf(
    digits: str, tone_ms: int = 100, gap_ms: int = 60, amplitude: int = DEFAULT_AMPLITUDE // 2
) -> list[bytes]:
    """DTMF dual tones for `digits` (0-9, *, #, A-D), each followed by a gap of silence."""
    pcm = bytearray()
    for digit in digits.upper():
        if digit not in DTMF_FREQUENCIES:
            raise ValueError(f"not a DTMF digit: {digit!r}")
        pcm += tone_pcm(DTMF_FREQUENCIES[digit], tone_ms, amplitude)
        pcm += silence_pcm(gap_ms)
    return frames_of(bytes(pcm))


__all__ = [
    "DTMF_FREQUENCIES",
    "beep",
    "dtmf",
    "entry_beep",
    "exit_beep",
    "frames_of",
    "silence",
    "silence_pcm",
    "tone_pcm",
]
