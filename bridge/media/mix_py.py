"""Pure-Python twin of the Cython mixer kernel (`_mix.pyx`); both give bit-identical output.

`mix(frames, speaking, hearing, out)` mixes one 20 ms frame for N participants at once:

- `frames`: N * 160 int16 samples, native byte order, contiguous (participant i at i * 160).
- `speaking`: N flags; non-zero means participant i's audio goes into the mix
  (talking, not muted, not on hold).
- `hearing`: N flags; zero means participant i gets silence (deaf or on hold).
- `out`: writable buffer of N * 320 bytes, overwritten in place.

Participant i hears saturate16(sum of speaking frames - own frame if speaking): everyone else,
never themselves. Sums are exact in int32 as long as N <= MAX_PARTICIPANTS
(65535 * 32768 < 2**31), which `check_sizes` enforces for both twins.
"""

from __future__ import annotations

from array import array
from operator import sub

from bridge.media import FRAME_BYTES, FRAME_SAMPLES

MAX_PARTICIPANTS = 65535
BytesLike = bytes | bytearray | memoryview
_ZERO_FRAME = bytes(FRAME_BYTES)


def check_sizes(frames_bytes: int, n_speaking: int, n_hearing: int, out_bytes: int) -> int:
    """Validate the argument sizes shared by both twins; return N."""
    n = n_speaking
    if n > MAX_PARTICIPANTS:
        raise ValueError(f"at most {MAX_PARTICIPANTS} participants per mix, got {n}")
    if n_hearing != n:
        raise ValueError(f"hearing has {n_hearing} flags, speaking has {n}")
    if frames_bytes != n * FRAME_BYTES:
        raise ValueError(f"frames has {frames_bytes} bytes, expected {n * FRAME_BYTES}")
    if out_bytes != n * FRAME_BYTES:
        raise ValueError(f"out has {out_bytes} bytes, expected {n * FRAME_BYTES}")
    return n


def _saturate(values: list[int]) -> bytes:
    return array(
        "h", [32767 if v > 32767 else -32768 if v < -32768 else v for v in values]
    ).tobytes()


def mix(
    frames: BytesLike, speaking: BytesLike, hearing: BytesLike, out: bytearray | memoryview
) -> None:
    """Write every participant's N-1 mix into `out` (see the module docstring)."""
    src = memoryview(frames).cast("B")
    talk = memoryview(speaking).cast("B")
    hear = memoryview(hearing).cast("B")
    dst = memoryview(out).cast("B")
    if dst.readonly:
        raise TypeError("out must be writable")
    n = check_sizes(src.nbytes, talk.nbytes, hear.nbytes, dst.nbytes)
    samples = src.cast("h")
    rows = [samples[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] for i in range(n)]

    talkers = [rows[j] for j in range(n) if talk[j]]
    # One accumulation pass: column sums of every talker's frame.
    if talkers:
        total = [sum(column) for column in zip(*talkers, strict=True)]
    else:
        total = [0] * FRAME_SAMPLES

    common: bytes | None = None  # what every listener who is not talking hears
    for i in range(n):
        start = i * FRAME_BYTES
        if not hear[i]:
            mixed = _ZERO_FRAME
        elif talk[i]:
            mixed = _saturate(list(map(sub, total, rows[i])))
        else:
            if common is None:
                common = _saturate(total)
            mixed = common
        dst[start : start + FRAME_BYTES] = mixed
