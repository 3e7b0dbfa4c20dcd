"""8 kHz mono 16-bit PCM WAV: read a file, write a file, and record a stream of frames.

`WavRecorder` rewrites the two RIFF size fields after every write, so the file on disk is a
valid WAV of everything written so far, whether it is closed at the end, closed early, or
never closed at all (process killed mid-conference).
"""

from __future__ import annotations

import os
import struct
import sys
import wave
from array import array
from types import TracebackType
from typing import BinaryIO

from bridge.media import SAMPLE_RATE

StrPath = str | os.PathLike[str]
BytesLike = bytes | bytearray | memoryview

_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_HEADER_SIZE = _HEADER.size  # 44
_RIFF_SIZE_OFFSET = 4
_DATA_SIZE_OFFSET = 40
_MAX_DATA_BYTES = 0xFFFFFFFF - (_HEADER_SIZE - 8)  # RIFF sizes are 32-bit


class WavFormatError(ValueError):
    """The file is not 8 kHz mono 16-bit PCM WAV."""


def _swap_if_big_endian(pcm: BytesLike) -> bytes:
    # WAV samples are little-endian; frames are native-endian.
    if sys.byteorder == "little":
        return bytes(pcm)
    samples = array("h", bytes(pcm))
    samples.byteswap()
    return samples.tobytes()


def read_wav(path: StrPath) -> bytes:
    """Return the samples of an 8 kHz mono 16-bit PCM WAV as native-endian PCM."""
    try:
        with wave.open(os.fspath(path), "rb") as reader:
            found = (reader.getnchannels(), reader.getsampwidth(), reader.getframerate())
            if found != (1, 2, SAMPLE_RATE):
                channels, width, rate = found
                raise WavFormatError(
                    f"{path}: need 8000 Hz mono 16-bit PCM, got {rate} Hz, "
                    f"{channels} channel(s), {width * 8}-bit"
                )
            data = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        reason = str(exc) or "truncated"
        raise WavFormatError(f"{path}: not a PCM WAV file ({reason})") from exc
    return _swap_if_big_endian(data)


def write_wav(path: StrPath, pcm: BytesLike) -> None:
    """Write native-endian 16-bit PCM as an 8 kHz mono WAV file."""
    with WavRecorder(path) as recorder:
        recorder.write(pcm)


class WavRecorder:
    """Streaming WAV writer for a conference recording: open, write frames, close."""

    def __init__(self, path: StrPath) -> None:
        self.path = os.fspath(path)
        self._data_bytes = 0
        self._file: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(self._header())
        self._file.flush()

    def _header(self) -> bytes:
        return _HEADER.pack(
            b"RIFF",
            _HEADER_SIZE - 8 + self._data_bytes,
            b"WAVE",
            b"fmt ",
            16,  # fmt chunk size
            1,  # PCM
            1,  # mono
            SAMPLE_RATE,
            SAMPLE_RATE * 2,  # byte rate
            2,  # block align
            16,  # bits per sample
            b"data",
            self._data_bytes,
        )

    @property
    def closed(self) -> bool:
        return self._file is None

    @property
    def samples_written(self) -> int:
        return self._data_bytes // 2

    def write(self, pcm: BytesLike) -> None:
        """Append native-endian 16-bit PCM (any whole number of samples)."""
        if self._file is None:
            raise ValueError(f"recording {self.path} is closed")
        size = memoryview(pcm).nbytes
        if size % 2:
            raise ValueError(f"PCM has an odd number of bytes ({size})")
        if self._data_bytes + size > _MAX_DATA_BYTES:
            raise ValueError(f"recording {self.path} would exceed the 4 GiB WAV limit")
        self._file.write(_swap_if_big_endian(pcm))
        self._data_bytes += size
        self._patch_sizes(self._file)

    def _patch_sizes(self, file: BinaryIO) -> None:
        file.seek(_RIFF_SIZE_OFFSET)
        file.write(struct.pack("<I", _HEADER_SIZE - 8 + self._data_bytes))
        file.seek(_DATA_SIZE_OFFSET)
        file.write(struct.pack("<I", self._data_bytes))
        file.seek(0, os.SEEK_END)
        file.flush()  # what is on disk is always a complete WAV

    def close(self) -> None:
        """Close the file; safe to call twice."""
        if self._file is not None:
            file, self._file = self._file, None
            file.close()

    def __enter__(self) -> WavRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
