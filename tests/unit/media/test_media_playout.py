"""The adaptive playout depth: the pure policy on synthetic ticks, then the jitter buffer
driven by synthetic arrival clocks (`arrival_clock`): bursts of late packets, talkspurts
arriving at several phases of the 20 ms tick. No sockets, no sleeps: every figure is exact.
"""

from __future__ import annotations

import random

import pytest
from arrival_clock import Packet, delays, hold_back, holes, play, talkspurts

from bridge.media.jitter import (
    HOLD_TICKS,
    MAX_DEPTH,
    MIN_DEPTH,
    STEP_TICKS,
    JitterBuffer,
    PlayoutPolicy,
)

# the policy on its own -------------------------------------------------------------


def test_steady_arrivals_keep_the_least_depth() -> None:
    policy = PlayoutPolicy()
    for now in range(500):
        policy.arrived(now)
        assert policy.tick(MIN_DEPTH) == 0
        assert policy.depth == MIN_DEPTH


def test_arrivals_straddling_the_tick_keep_the_least_depth() -> None:
    """0, 1 or 2 packets a tick (each a millisecond either side of it): no growth."""
    policy = PlayoutPolicy()
    rng = random.Random(5)
    late = False
    for now in range(2000):
        arrivals = 1
        if late != (rng.random() < 0.5):  # this packet is on the other side of the tick
            arrivals = 0 if not late else 2
            late = not late
        for _ in range(arrivals):
            policy.arrived(now)
        assert policy.depth == MIN_DEPTH


def test_a_burst_grows_the_depth_which_comes_back_down_in_steps() -> None:
    policy = PlayoutPolicy()
    for _ in range(8):  # 160 ms of packets at once
        policy.arrived(0)
    assert policy.depth == 8
    depths = []
    for now in range(1, 200):
        policy.tick(policy.depth)
        depths.append(policy.depth)
        policy.arrived(now)
    # held for HOLD_TICKS ticks, then one packet less each STEP_TICKS + 1 ticks
    assert depths[:HOLD_TICKS] == [8] * HOLD_TICKS
    steps = [i + 1 for i in range(1, len(depths)) if depths[i] < depths[i - 1]]  # tick numbers
    assert steps == [HOLD_TICKS + 1 + k * (STEP_TICKS + 1) for k in range(8 - MIN_DEPTH)]
    assert depths[-1] == MIN_DEPTH


def test_growth_is_bounded_and_the_excess_is_dropped() -> None:
    policy = PlayoutPolicy()
    for _ in range(30):
        policy.arrived(0)
    assert policy.depth == MAX_DEPTH
    assert policy.tick(30) == 30 - MAX_DEPTH


def test_more_than_the_depth_held_for_a_step_drops_one_packet() -> None:
    policy = PlayoutPolicy(min_depth=2, max_depth=10, hold=0, step=4)
    drops = [policy.tick(3) for _ in range(9)]
    assert drops == [0, 0, 0, 1, 0, 0, 0, 1, 0]
    policy = PlayoutPolicy(min_depth=2, max_depth=10, hold=0, step=4)
    drops = [policy.tick(level) for level in (3, 3, 3, 2, 3, 3, 3, 2)]  # never a full step
    assert drops == [0] * 8


def test_a_new_stream_starts_afresh() -> None:
    policy = PlayoutPolicy()
    for _ in range(6):
        policy.arrived(3)
    policy.reset()
    assert policy.depth == MIN_DEPTH
    policy.arrived(3)  # the same tick as before the reset: a burst of one, not seven
    assert policy.depth == MIN_DEPTH


@pytest.mark.parametrize("args", [(0, 4, 1, 1), (5, 4, 1, 1), (2, 4, -1, 1), (2, 4, 1, 0)], ids=str)
def test_bad_parameters_are_refused(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        PlayoutPolicy(*args)


# the buffer on arrival clocks ------------------------------------------------------


def _buffer() -> JitterBuffer:
    return JitterBuffer(depth=MIN_DEPTH, capacity=64, max_depth=MAX_DEPTH)


PHASES = [-1.0, -0.7, -0.5, -0.3, 0.2, 5.0, 10.0, 15.0]  # ms from the tick, 1 ms spread


@pytest.mark.parametrize("phase", PHASES)
def test_talk_restarting_at_any_phase_of_the_tick_has_no_hole(phase: float) -> None:
    """200 restarts after silence suppression, packets reaching the buffer within a
    millisecond of the tick (or well away from it): every talkspurt plays unbroken."""
    runs = talkspurts(200, 10, 5, phase=phase, spread=1.0, seed=int(phase * 10) + 100)
    packets = [p for run in runs for p in run]
    buffer = _buffer()
    played = play(buffer, packets, 200 * 15 + 10)
    assert holes(runs, played) == 0
    assert buffer.stats.underflows == 200  # one per pause, none inside a talkspurt
    assert max(delay for _, delay in delays(packets, played)) <= (MIN_DEPTH + 1) * 20


def test_a_digit_between_talkspurts_is_a_restart_too() -> None:
    """RFC 4733 events take sequence numbers of the same stream: the audio resumes past them."""
    runs = talkspurts(60, 10, 5, phase=-0.5, spread=1.0, seed=9)
    shifted = [
        [Packet((p.seq + 5 * i) & 0xFFFF, p.spoken, p.arrives) for p in run]
        for i, run in enumerate(runs)
    ]
    packets = [p for run in shifted for p in run]
    assert holes(shifted, play(_buffer(), packets, 60 * 15 + 10)) == 0


def _continuous(seconds: float, seed: int, start_seq: int = 0) -> list[Packet]:
    return talkspurts(1, int(seconds * 50), 0, phase=7.0, spread=3.0, seed=seed,
                      start_seq=start_seq)[0]  # fmt: skip


def _delay_around(timeline: list[tuple[float, float]], at: float) -> float:
    """The largest delay of the frames played in the 100 ms before `at`."""
    return max(delay for when, delay in timeline if at - 100 <= when < at)


def test_delay_returns_after_each_burst_of_late_packets() -> None:
    """Three times, 150 ms of packets held up and then delivered at once, as a caller keeps
    talking: the delay grows to absorb it, then returns to what it was within 3 s."""
    packets = _continuous(16.0, seed=3, start_seq=65000)  # crosses the 16-bit wrap
    bursts = [100, 300, 500]  # frame numbers: at 2 s, 6 s and 10 s
    for first in bursts:
        packets = hold_back(packets, first, 150.0)
    played = play(_buffer(), packets, 16 * 50)
    timeline = delays(packets, played)
    before = _delay_around(timeline, 1900.0)
    assert before <= 40.0
    for first in bursts:
        released = first * 20 + 150 + 20
        assert _delay_around(timeline, released + 200) >= before + 100  # it grew
        back = next(when for when, delay in timeline if when > released and delay <= before)
        assert back - released <= 3000.0, f"delay back to {before} ms after {back - released} ms"
        assert all(delay <= before for when, delay in timeline if back <= when < back + 600)
    # the only silent ticks are the ones the held-up packets left empty
    assert sum(1 for seq in played[60:] if seq is None) <= 7 * len(bursts)


def test_a_second_burst_soon_after_is_absorbed_without_a_hole() -> None:
    packets = hold_back(hold_back(_continuous(6.0, seed=4), 100, 150.0), 130, 150.0)
    played = play(_buffer(), packets, 6 * 50 - 10)
    gaps = [k for k, seq in enumerate(played[10:], 10) if seq is None]
    assert gaps and max(gaps) < 130  # the first one leaves empty ticks, the second none


def test_delay_is_bounded_after_a_long_stall() -> None:
    packets = hold_back(_continuous(6.0, seed=5), 50, 1000.0)
    played = play(_buffer(), packets, 6 * 50 - 10)
    assert max(delay for _, delay in delays(packets, played)) <= (MAX_DEPTH + 1) * 20


def test_silence_brings_the_depth_back_for_the_next_talkspurt() -> None:
    """A burst, then a pause longer than the depth takes to come down: the next talkspurt
    starts as a fresh stream does."""
    first = hold_back(_continuous(1.0, seed=6), 20, 150.0)
    pause_ticks = HOLD_TICKS + (MAX_DEPTH - MIN_DEPTH) * (STEP_TICKS + 1)
    second = [
        Packet(p.seq + len(first), p.spoken + 1000 + pause_ticks * 20, p.arrives + 1000 +
               pause_ticks * 20)
        for p in _continuous(1.0, seed=7)
    ]  # fmt: skip
    buffer = _buffer()
    played = play(buffer, first + second, 2 * 50 + pause_ticks + 10)
    assert buffer.depth == MIN_DEPTH
    timeline = delays(first + second, played)
    assert max(delay for when, delay in timeline if when > 1000 + pause_ticks * 20) <= 40.0
