"""The mixer twins: N-1 rule against a naive reference, and Cython vs pure Python bit for bit."""

from __future__ import annotations

import importlib
import os
import random
from array import array
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.media import FRAME_BYTES, FRAME_SAMPLES, mix_py

MixFn = Callable[[bytes | memoryview, bytes, bytes, bytearray | memoryview], None]
Rows = list[list[int]]
EDGES = (32767, -32768, -32767, 32766, 0, 1, -1)


def _cython_mix() -> MixFn:
    try:
        module = importlib.import_module("bridge.media._mix")
    except ImportError as exc:
        if os.environ.get("BRIDGE_REQUIRE_EXTENSIONS") == "1":
            pytest.fail(f"BRIDGE_REQUIRE_EXTENSIONS=1 but the extension is not built: {exc}")
        pytest.skip(f"Cython extension not built: {exc}")
    mix: MixFn = module.mix
    return mix


@pytest.fixture(scope="module")
def cython_mix() -> MixFn:
    return _cython_mix()


@pytest.fixture(scope="module", params=["python", "cython"])
def any_mix(request: pytest.FixtureRequest) -> MixFn:
    if request.param == "python":
        return mix_py.mix
    return _cython_mix()


def reference(rows: Rows, speaking: list[bool], hearing: list[bool]) -> Rows:
    """Participant by participant, the obvious way: sum everyone else who speaks, clip."""
    result = []
    for i in range(len(rows)):
        if not hearing[i]:
            result.append([0] * FRAME_SAMPLES)
            continue
        mixed = []
        for k in range(FRAME_SAMPLES):
            total = sum(rows[j][k] for j in range(len(rows)) if j != i and speaking[j])
            mixed.append(max(-32768, min(32767, total)))
        result.append(mixed)
    return result


def pack(rows: Rows) -> bytes:
    return array("h", [s for row in rows for s in row]).tobytes()


def unpack(out: bytearray) -> Rows:
    flat = array("h", bytes(out)).tolist()
    return [flat[i : i + FRAME_SAMPLES] for i in range(0, len(flat), FRAME_SAMPLES)]


def run(mix: MixFn, rows: Rows, speaking: list[bool], hearing: list[bool]) -> Rows:
    out = bytearray(len(rows) * FRAME_BYTES)
    mix(pack(rows), bytes(speaking), bytes(hearing), out)
    return unpack(out)


def _row(kind: str, rng: random.Random) -> list[int]:
    if kind == "max":
        return [32767] * FRAME_SAMPLES
    if kind == "min":
        return [-32768] * FRAME_SAMPLES
    if kind == "edges":
        return [rng.choice(EDGES) for _ in range(FRAME_SAMPLES)]
    if kind == "zero":
        return [0] * FRAME_SAMPLES
    return [rng.randint(-32768, 32767) for _ in range(FRAME_SAMPLES)]


@st.composite
def mix_inputs(draw: st.DrawFn, max_n: int) -> tuple[Rows, list[bool], list[bool]]:
    n = draw(st.integers(1, max_n))
    kinds = st.sampled_from(["random", "max", "min", "edges", "zero"])
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    rows = [_row(kind, rng) for kind in draw(st.lists(kinds, min_size=n, max_size=n))]
    flags = st.lists(st.booleans(), min_size=n, max_size=n)
    return rows, draw(flags), draw(flags)


@settings(max_examples=60, deadline=None)
@given(mix_inputs(max_n=16))
def test_pure_twin_matches_the_naive_reference(
    case: tuple[Rows, list[bool], list[bool]],
) -> None:
    rows, speaking, hearing = case
    assert run(mix_py.mix, rows, speaking, hearing) == reference(rows, speaking, hearing)


@settings(max_examples=150, deadline=None)
@given(mix_inputs(max_n=50), st.booleans())
def test_cython_and_pure_twins_are_bit_identical(
    cython_mix: MixFn, case: tuple[Rows, list[bool], list[bool]], misaligned: bool
) -> None:
    rows, speaking, hearing = case
    frames: bytes | memoryview = pack(rows)
    expected = bytearray(len(frames))
    mix_py.mix(frames, bytes(speaking), bytes(hearing), expected)
    out = bytearray(len(frames) + 1)
    target = memoryview(out)[1:] if misaligned else memoryview(out)[:-1]
    if misaligned:  # odd addresses take the kernel's copy path
        frames = memoryview(b"\0" + bytes(frames))[1:]
    cython_mix(frames, bytes(speaking), bytes(hearing), target)
    assert bytes(target) == bytes(expected)


def test_each_participant_hears_everyone_else_but_not_the_muted(any_mix: MixFn) -> None:
    rows = [[100] * FRAME_SAMPLES, [20] * FRAME_SAMPLES, [3] * FRAME_SAMPLES]
    speaking = [True, True, False]  # participant 2 is muted
    mixed = run(any_mix, rows, speaking, [True, True, True])
    assert mixed[0] == [20] * FRAME_SAMPLES  # own voice absent
    assert mixed[1] == [100] * FRAME_SAMPLES
    assert mixed[2] == [120] * FRAME_SAMPLES  # the muted one still hears


def test_the_deaf_get_silence(any_mix: MixFn) -> None:
    rows = [[500] * FRAME_SAMPLES, [-700] * FRAME_SAMPLES]
    mixed = run(any_mix, rows, [True, True], [False, True])
    assert mixed == [[0] * FRAME_SAMPLES, [500] * FRAME_SAMPLES]


@pytest.mark.parametrize("level", [32767, -32768])
def test_many_loud_talkers_saturate(any_mix: MixFn, level: int) -> None:
    rows = [[level] * FRAME_SAMPLES for _ in range(50)]
    mixed = run(any_mix, rows, [True] * 49 + [False], [True] * 50)
    assert all(row == [level] * FRAME_SAMPLES for row in mixed)


def test_large_sums_stay_exact(any_mix: MixFn) -> None:
    # 1001 talkers at full scale: the running total swings by tens of millions, the result
    # for a silent listener is small and must come out exact.
    rows = [[32767 if j % 2 == 0 else -32768] * FRAME_SAMPLES for j in range(1001)]
    rows.append([0] * FRAME_SAMPLES)
    mixed = run(any_mix, rows, [True] * 1001 + [False], [True] * 1002)
    assert mixed[-1] == [32767 * 501 - 32768 * 500] * FRAME_SAMPLES


def test_no_participants_is_a_no_op(any_mix: MixFn) -> None:
    out = bytearray()
    any_mix(b"", b"", b"", out)
    assert out == bytearray()


@pytest.mark.parametrize(
    ("frames", "speaking", "hearing", "out"),
    [
        (bytes(FRAME_BYTES), b"\1\1", b"\1\1", bytearray(2 * FRAME_BYTES)),
        (bytes(2 * FRAME_BYTES), b"\1\1", b"\1", bytearray(2 * FRAME_BYTES)),
        (bytes(2 * FRAME_BYTES), b"\1\1", b"\1\1", bytearray(FRAME_BYTES)),
    ],
    ids=["short-frames", "short-hearing", "short-out"],
)
def test_mismatched_sizes_are_rejected(
    any_mix: MixFn, frames: bytes, speaking: bytes, hearing: bytes, out: bytearray
) -> None:
    with pytest.raises(ValueError):
        any_mix(frames, speaking, hearing, out)


def test_more_participants_than_int32_allows_are_rejected(any_mix: MixFn) -> None:
    n = mix_py.MAX_PARTICIPANTS + 1
    with pytest.raises(ValueError, match="at most"):
        any_mix(b"", bytes(n), bytes(n), bytearray())


def test_read_only_output_is_rejected(any_mix: MixFn) -> None:
    with pytest.raises(TypeError):
        any_mix(bytes(FRAME_BYTES), b"\1", b"\1", memoryview(bytes(FRAME_BYTES)))
