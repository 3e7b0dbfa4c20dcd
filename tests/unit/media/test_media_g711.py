"""G.711 against the standard's known values and, where it still exists, audioop as oracle."""

from __future__ import annotations

import warnings
from array import array
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.media import g711

ALL_SAMPLES = array("h", range(-32768, 32768)).tobytes()
ALL_CODES = bytes(range(256))


def _audioop() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module: ModuleType = pytest.importorskip("audioop")  # removed in Python 3.13
    return module


def pcm(*samples: int) -> bytes:
    return array("h", samples).tobytes()


@pytest.mark.parametrize(
    ("code", "sample"),
    [(0xFF, 0), (0x7F, 0), (0x00, -32124), (0x80, 32124), (0xF0, 120), (0x70, -120)],
)
def test_ulaw_known_decodes(code: int, sample: int) -> None:
    assert g711.ULAW_DECODE[code] == sample
    assert g711.ulaw_decode(bytes([code])) == pcm(sample)


@pytest.mark.parametrize(
    ("code", "sample"),
    [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256), (0xD4, 24), (0x80, 5504)],
)
def test_alaw_known_decodes(code: int, sample: int) -> None:
    assert g711.ALAW_DECODE[code] == sample
    assert g711.alaw_decode(bytes([code])) == pcm(sample)


@pytest.mark.parametrize(
    ("sample", "ulaw", "alaw"),
    [(0, 0xFF, 0xD5), (32767, 0x80, 0xAA), (-32768, 0x00, 0x2A), (-1, 0x7E, 0x55)],
)
def test_known_encodes(sample: int, ulaw: int, alaw: int) -> None:
    assert g711.ulaw_encode(pcm(sample)) == bytes([ulaw])
    assert g711.alaw_encode(pcm(sample)) == bytes([alaw])


def test_every_sample_encodes_like_audioop() -> None:
    audioop = _audioop()
    assert g711.ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)
    assert g711.alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)


def test_every_code_decodes_like_audioop() -> None:
    audioop = _audioop()
    assert g711.ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert g711.alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def test_table_paths_match_the_scalar_functions() -> None:
    samples = array("h", ALL_SAMPLES)
    assert g711.ulaw_encode(ALL_SAMPLES) == bytes(map(g711.linear_to_ulaw, samples))
    assert g711.alaw_encode(ALL_SAMPLES) == bytes(map(g711.linear_to_alaw, samples))


def test_codes_round_trip() -> None:
    # Every code survives decode -> encode, except μ-law's negative zero (0x7F), which
    # decodes to 0 and comes back as positive zero.
    ulaw_back = g711.ulaw_encode(g711.ulaw_decode(ALL_CODES))
    assert [c for c in range(256) if ulaw_back[c] != c] == [0x7F]
    assert g711.alaw_encode(g711.alaw_decode(ALL_CODES)) == ALL_CODES


@given(st.lists(st.integers(-32768, 32767), max_size=320))
def test_quantisation_error_is_bounded(samples: list[int]) -> None:
    data = pcm(*samples)
    for encode, decode in [
        (g711.ulaw_encode, g711.ulaw_decode),
        (g711.alaw_encode, g711.alaw_decode),
    ]:
        decoded = array("h", decode(encode(data)))
        for original, restored in zip(samples, decoded, strict=True):
            # Logarithmic quantiser: error grows with the magnitude, ~1/32 of it plus a step.
            assert abs(original - restored) <= abs(original) // 16 + 132


def test_payload_type_dispatch() -> None:
    frame = pcm(*range(-800, 800, 10))
    assert g711.decode(0, g711.encode(0, frame)) == g711.ulaw_decode(g711.ulaw_encode(frame))
    assert g711.decode(8, g711.encode(8, frame)) == g711.alaw_decode(g711.alaw_encode(frame))
    with pytest.raises(ValueError, match="payload type"):
        g711.encode(9, frame)


def test_odd_length_pcm_is_rejected() -> None:
    with pytest.raises(ValueError, match="odd"):
        g711.ulaw_encode(b"\0\0\0")
