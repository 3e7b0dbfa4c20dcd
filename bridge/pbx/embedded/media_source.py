"""Where the embedded engine's prompts, wait music and announcements come from.

A `MediaItem` becomes a list of 20 ms PCM frames: `play` reads an 8 kHz mono 16-bit WAV
from the media directory, `say` runs espeak-ng (when it is on PATH) and resamples its output
to 8 kHz. Results are cached per item, so a looped wait media is read once.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import sys
from array import array
from pathlib import Path

from bridge.core.models import MediaItem
from bridge.media import SAMPLE_RATE, tones
from bridge.media.wav import WavFormatError, read_wav
from bridge.pbx.backend import EngineError
from bridge.protocols.safe import UnsafeValueError, safe_value

SAY_TIMEOUT_SECONDS = 10.0
_MAX_CACHE = 64


def resample(pcm: bytes, rate: int) -> bytes:
    """Linear-interpolation resampling to 8 kHz, after a short moving average against aliasing."""
    source = array("h", pcm)
    if rate == SAMPLE_RATE or not source:
        return bytes(pcm)
    taps = max(1, math.ceil(rate / SAMPLE_RATE))
    if taps > 1:
        window = sum(source[:taps])
        smooth = [0] * len(source)
        for i in range(len(source)):
            smooth[i] = window // taps
            window += (source[i + taps] if i + taps < len(source) else 0) - source[i]
    else:
        smooth = list(source)
    count = len(smooth) * SAMPLE_RATE // rate
    step = rate / SAMPLE_RATE
    out = array("h", bytes(count * 2))
    last = len(smooth) - 1
    for n in range(count):
        position = n * step
        i = int(position)
        frac = position - i
        nxt = smooth[i + 1] if i < last else smooth[i]
        out[n] = max(-32768, min(32767, round(smooth[i] + (nxt - smooth[i]) * frac)))
    return out.tobytes()


_NO_TTS = (
    "say needs text-to-speech: install espeak-ng (Debian package espeak-ng) "
    "or use play with a WAV file"
)


class MediaLibrary:
    """Loads media items as frames; raises EngineError with a clear message when it cannot."""

    def __init__(self, media_dir: Path) -> None:
        self.media_dir = media_dir.resolve()
        self._cache: dict[MediaItem, list[bytes]] = {}

    async def frames(self, items: tuple[MediaItem, ...] | list[MediaItem]) -> list[bytes]:
        out: list[bytes] = []
        for item in items:
            out.extend(await self.item_frames(item))
        return out

    def problem(self, item: MediaItem) -> str | None:
        """Why `item` cannot be played (None: it can), without loading it."""
        if item.kind == "say":
            if shutil.which("espeak-ng") is None:
                return _NO_TTS
            return None
        try:
            self._path(item.file or "")
        except EngineError as exc:
            return str(exc)
        return None

    async def item_frames(self, item: MediaItem) -> list[bytes]:
        cached = self._cache.get(item)
        if cached is not None:
            return cached
        if item.kind == "play":
            pcm = self._read_file(item.file or "")
        elif item.kind == "say":
            pcm = await self._say(item.text or "", item.language)
        else:
            raise EngineError(f"unknown media kind {item.kind!r}")
        frames = tones.frames_of(pcm)
        if len(self._cache) >= _MAX_CACHE:
            self._cache.pop(next(iter(self._cache)))
        self._cache[item] = frames
        return frames

    def _read_file(self, name: str) -> bytes:
        try:
            return read_wav(self._path(name))
        except WavFormatError as exc:
            raise EngineError(str(exc)) from None

    def _path(self, name: str) -> Path:
        try:
            relative = safe_value(name, "path")
        except UnsafeValueError as exc:
            raise EngineError(str(exc)) from None
        path = (self.media_dir / relative).resolve()
        if self.media_dir not in path.parents:
            raise EngineError(f"media file {name!r} is outside the media directory")
        if not path.is_file() and path.suffix == "":
            path = path.with_suffix(".wav")  # a sound name: "welcome" means welcome.wav
        if not path.is_file():
            raise EngineError(f"media file {name!r} not found in {self.media_dir}")
        return path

    async def _say(self, text: str, language: str) -> bytes:
        program = shutil.which("espeak-ng")
        if program is None:
            raise EngineError(_NO_TTS)
        try:
            voice = safe_value(language, "token")
            words = safe_value(text, "text")
        except UnsafeValueError as exc:
            raise EngineError(str(exc)) from None
        # Text goes through stdin, so nothing in it can be read as an option.
        process = await asyncio.create_subprocess_exec(
            program,
            "-v",
            voice,
            "--stdout",
            "--stdin",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(
                process.communicate(words.encode()), SAY_TIMEOUT_SECONDS
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            raise EngineError("espeak-ng did not finish in time") from None
        if process.returncode != 0 or not out:
            raise EngineError(f"espeak-ng failed: {err.decode(errors='replace').strip()[:200]}")
        return _wav_stdout_to_pcm(out)


def _wav_stdout_to_pcm(data: bytes) -> bytes:
    """espeak-ng's --stdout WAV (mono 16-bit, its own rate, sizes unset) as 8 kHz PCM."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[36:40] != b"data":
        raise EngineError("espeak-ng did not write a plain PCM WAV")
    channels = int.from_bytes(data[22:24], "little")
    rate = int.from_bytes(data[24:28], "little")
    bits = int.from_bytes(data[34:36], "little")
    if channels != 1 or bits != 16 or not 4000 <= rate <= 96000:
        raise EngineError("espeak-ng wrote a WAV that is not mono 16-bit")
    pcm = data[44:]
    if len(pcm) % 2:
        pcm = pcm[:-1]
    if sys.byteorder != "little":
        samples = array("h", pcm)
        samples.byteswap()
        pcm = samples.tobytes()
    return resample(pcm, rate)
