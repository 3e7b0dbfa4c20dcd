"""WAV: round trip, a recording readable at any moment, clear errors for other formats."""

from __future__ import annotations

import wave
from array import array
from pathlib import Path

import pytest

from bridge.media import FRAME_BYTES, wav

FRAME = array("h", range(-8000, 8000, 100)).tobytes()  # 160 distinct samples


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    wav.write_wav(path, FRAME * 3)
    assert wav.read_wav(path) == FRAME * 3
    with wave.open(str(path)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 8000)


def test_recording_is_valid_before_it_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    recorder = wav.WavRecorder(path)
    try:
        assert wav.read_wav(path) == b""
        recorder.write(FRAME)
        recorder.write(FRAME)
        assert wav.read_wav(path) == FRAME * 2  # header already counts both frames
        assert recorder.samples_written == 2 * FRAME_BYTES // 2
    finally:
        recorder.close()
    assert path.stat().st_size == 44 + 2 * FRAME_BYTES


def test_closed_recording_refuses_writes_and_closes_twice(tmp_path: Path) -> None:
    with wav.WavRecorder(tmp_path / "r.wav") as recorder:
        recorder.write(FRAME)
    recorder.close()
    assert recorder.closed
    with pytest.raises(ValueError, match="closed"):
        recorder.write(FRAME)


def test_odd_byte_count_is_rejected(tmp_path: Path) -> None:
    with wav.WavRecorder(tmp_path / "r.wav") as recorder, pytest.raises(ValueError, match="odd"):
        recorder.write(b"\0\0\0")


@pytest.mark.parametrize(("channels", "width", "rate"), [(2, 2, 8000), (1, 1, 8000), (1, 2, 16000)])
def test_other_formats_are_rejected(tmp_path: Path, channels: int, width: int, rate: int) -> None:
    path = tmp_path / "other.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(bytes(channels * width * 10))
    with pytest.raises(wav.WavFormatError, match="need 8000 Hz mono 16-bit"):
        wav.read_wav(path)


@pytest.mark.parametrize("content", [b"", b"not a wav file at all, just text"])
def test_non_wav_files_are_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.wav"
    path.write_bytes(content)
    with pytest.raises(wav.WavFormatError, match="not a PCM WAV"):
        wav.read_wav(path)
