"""Mixer kernel throughput: participant-frames mixed per second, Cython vs pure Python vs NumPy.

Run: pytest tests/benchmarks/bench_mixer.py -m benchmark -s

One participant-frame is one participant's 20 ms N-1 mix, so a real-time conference of N
needs 50 * N participant-frames per second. Each cell runs for a fixed time budget (the pure
twin at N=1000 takes tens of milliseconds per call), so the whole file stays within seconds.
"""

from __future__ import annotations

import importlib
import random
import time
from array import array
from collections.abc import Callable

import numpy as np
import pytest

from bridge.media import FRAME_BYTES, FRAME_SAMPLES, mix_py

MixFn = Callable[[bytes, bytes, bytes, bytearray], None]
SIZES = (3, 10, 100, 1000)
BUDGET_S = 0.25
FRAMES_PER_SECOND = 50


def numpy_mix(frames: bytes, speaking: bytes, hearing: bytes, out: bytearray) -> None:
    """The same N-1 mix, vectorised with NumPy (benchmark comparison only)."""
    n = len(speaking)
    samples = np.frombuffer(frames, dtype=np.int16).reshape(n, FRAME_SAMPLES)
    talk = np.frombuffer(speaking, dtype=np.uint8).astype(bool)
    hear = np.frombuffer(hearing, dtype=np.uint8).astype(bool)
    total = samples[talk].sum(axis=0, dtype=np.int32)
    mixed = total - samples.astype(np.int32) * talk[:, None]
    np.clip(mixed, -32768, 32767, out=mixed)
    mixed[~hear] = 0
    np.frombuffer(out, dtype=np.int16).reshape(n, FRAME_SAMPLES)[:] = mixed


def implementations() -> dict[str, MixFn | None]:
    try:
        cython_mix: MixFn | None = importlib.import_module("bridge.media._mix").mix
    except ImportError:
        cython_mix = None  # not built: its column reads "not built"
    return {"cython": cython_mix, "python": mix_py.mix, "numpy": numpy_mix}


def make_inputs(n: int, talkers: int) -> tuple[bytes, bytes, bytes]:
    rng = random.Random(n)
    frames = array("h", [rng.randint(-12000, 12000) for _ in range(n * FRAME_SAMPLES)])
    speaking = bytes(1 if i < talkers else 0 for i in range(n))
    return frames.tobytes(), speaking, bytes([1]) * n


def participant_frames_per_second(mix: MixFn, n: int, talkers: int) -> float:
    frames, speaking, hearing = make_inputs(n, talkers)
    out = bytearray(n * FRAME_BYTES)
    mix(frames, speaking, hearing, out)  # warm up
    calls = 0
    start = time.perf_counter()
    deadline = start + BUDGET_S
    while True:
        mix(frames, speaking, hearing, out)
        calls += 1
        now = time.perf_counter()
        if now >= deadline:
            return calls * n / (now - start)


def print_table(title: str, talkers_for: Callable[[int], int]) -> None:
    impls = implementations()
    print(f"\n{title} ({BUDGET_S} s per cell)")
    header = f"{'N':>6} {'talkers':>8}" + "".join(f"{name:>14}" for name in impls)
    print(header + f"{'cy/py':>9}{'cy/np':>9}{'np/py':>9}{'N real-time (cy)':>18}")
    for n in SIZES:
        talkers = talkers_for(n)
        rates = {
            name: participant_frames_per_second(mix, n, talkers) if mix else None
            for name, mix in impls.items()
        }
        cells = "".join(f"{r:>14,.0f}" if r else f"{'not built':>14}" for r in rates.values())
        cy, py, np_rate = rates["cython"], rates["python"], rates["numpy"]
        ratios = [cy / py if cy and py else None, cy / np_rate if cy and np_rate else None]
        ratios.append(np_rate / py if np_rate and py else None)
        ratio_cells = "".join(f"{r:>8.1f}x" if r else f"{'-':>9}" for r in ratios)
        # Participants one core could mix in real time at this rate (50 frames/s each).
        capacity = f"{cy / FRAMES_PER_SECOND:>18,.0f}" if cy else f"{'-':>18}"
        print(f"{n:>6} {talkers:>8}{cells}{ratio_cells}{capacity}")


@pytest.mark.benchmark
def test_numpy_version_matches_the_pure_twin() -> None:
    # The figures compare equal work only if all versions compute the same mix.
    for n in SIZES:
        frames, speaking, _ = make_inputs(n, talkers=max(1, n // 2))
        hearing = bytes(i % 7 != 0 for i in range(n))
        expected, actual = bytearray(n * FRAME_BYTES), bytearray(n * FRAME_BYTES)
        mix_py.mix(frames, speaking, hearing, expected)
        numpy_mix(frames, speaking, hearing, actual)
        assert actual == expected


@pytest.mark.benchmark
def test_everyone_talking() -> None:
    print_table("mixer: participant-frames/s, every participant talking", lambda n: n)


@pytest.mark.benchmark
def test_three_talkers() -> None:
    print_table("mixer: participant-frames/s, three talkers, the rest listening", lambda n: 3)
