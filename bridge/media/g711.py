"""G.711 μ-law (PCMU) and A-law (PCMA), bit-exact with the ITU reference algorithm.

The scalar functions follow the classic reference code (the one every G.711 implementation
descends from): μ-law quantises the 14 high bits of a sample, A-law the 13 high bits. Whole
frames go through lookup tables built from them once at import: 256 decoded samples per law
and 65536 encoded bytes per law, indexed by the sample's unsigned 16-bit value.

PCM is signed 16-bit in native byte order, like every frame in `bridge.media`.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable

PCMU_PAYLOAD_TYPE = 0
PCMA_PAYLOAD_TYPE = 8

BytesLike = bytes | bytearray | memoryview

_ULAW_SEGMENT_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_ALAW_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159  # largest 14-bit magnitude before the bias is added


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for index, end in enumerate(ends):
        if value <= end:
            return index
    return len(ends)


def linear_to_ulaw(sample: int) -> int:
    """Encode one signed 16-bit sample to a μ-law byte."""
    value = sample >> 2  # 14-bit
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = _segment(value, _ULAW_SEGMENT_ENDS)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0x0F)) ^ mask


def ulaw_to_linear(code: int) -> int:
    """Decode one μ-law byte to a signed 16-bit sample."""
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + _ULAW_BIAS) << ((code & 0x70) >> 4)
    return _ULAW_BIAS - magnitude if code & 0x80 else magnitude - _ULAW_BIAS


def linear_to_alaw(sample: int) -> int:
    """Encode one signed 16-bit sample to an A-law byte."""
    value = sample >> 3  # 13-bit
    if value >= 0:
        mask = 0xD5
    else:
        mask, value = 0x55, -value - 1
    seg = _segment(value, _ALAW_SEGMENT_ENDS)
    if seg >= 8:
        return 0x7F ^ mask
    quantum = (value >> 1) if seg < 2 else (value >> seg)
    return ((seg << 4) | (quantum & 0x0F)) ^ mask


def alaw_to_linear(code: int) -> int:
    """Decode one A-law byte to a signed 16-bit sample."""
    code ^= 0x55
    magnitude = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    if seg == 0:
        magnitude += 8
    else:
        magnitude = (magnitude + 0x108) << (seg - 1)
    return magnitude if code & 0x80 else -magnitude


def _encode_table(encode: Callable[[int], int], dropped_bits: int) -> bytes:
    # The code depends only on the top (16 - dropped_bits) bits, so encode each distinct
    # prefix once and repeat it; the unsigned index u has the same prefix as the sample.
    step = 1 << dropped_bits
    prefixes = range(0, 1 << 16, step)
    return b"".join(bytes((encode(u - (u >> 15 << 16)),)) * step for u in prefixes)


def _decode_table(decode: Callable[[int], int]) -> tuple[bytes, ...]:
    return tuple(array("h", (decode(code),)).tobytes() for code in range(256))


ULAW_DECODE: tuple[int, ...] = tuple(ulaw_to_linear(code) for code in range(256))
ALAW_DECODE: tuple[int, ...] = tuple(alaw_to_linear(code) for code in range(256))
_ULAW_DECODE_PCM = _decode_table(ulaw_to_linear)
_ALAW_DECODE_PCM = _decode_table(alaw_to_linear)
_ULAW_ENCODE = _encode_table(linear_to_ulaw, 2)
_ALAW_ENCODE = _encode_table(linear_to_alaw, 3)


def _samples_unsigned(pcm: BytesLike) -> memoryview:
    view = memoryview(pcm).cast("B")
    if view.nbytes % 2:
        raise ValueError(f"PCM has an odd number of bytes ({view.nbytes})")
    return view.cast("H")


def ulaw_encode(pcm: BytesLike) -> bytes:
    """Encode signed 16-bit PCM to μ-law, one byte per sample."""
    return bytes(map(_ULAW_ENCODE.__getitem__, _samples_unsigned(pcm)))


def alaw_encode(pcm: BytesLike) -> bytes:
    """Encode signed 16-bit PCM to A-law, one byte per sample."""
    return bytes(map(_ALAW_ENCODE.__getitem__, _samples_unsigned(pcm)))


def ulaw_decode(data: BytesLike) -> bytes:
    """Decode μ-law bytes to signed 16-bit PCM."""
    return b"".join(map(_ULAW_DECODE_PCM.__getitem__, memoryview(data).cast("B")))


def alaw_decode(data: BytesLike) -> bytes:
    """Decode A-law bytes to signed 16-bit PCM."""
    return b"".join(map(_ALAW_DECODE_PCM.__getitem__, memoryview(data).cast("B")))


_CODECS: dict[int, tuple[Callable[[BytesLike], bytes], Callable[[BytesLike], bytes]]] = {
    PCMU_PAYLOAD_TYPE: (ulaw_encode, ulaw_decode),
    PCMA_PAYLOAD_TYPE: (alaw_encode, alaw_decode),
}


def encode(payload_type: int, pcm: BytesLike) -> bytes:
    """Encode PCM for RTP payload type 0 (PCMU) or 8 (PCMA)."""
    return _codec(payload_type)[0](pcm)


def decode(payload_type: int, data: BytesLike) -> bytes:
    """Decode an RTP payload of type 0 (PCMU) or 8 (PCMA) to PCM."""
    return _codec(payload_type)[1](data)


def _codec(
    payload_type: int,
) -> tuple[Callable[[BytesLike], bytes], Callable[[BytesLike], bytes]]:
    try:
        return _CODECS[payload_type]
    except KeyError:
        raise ValueError(f"not a G.711 payload type: {payload_type}") from None
