"""Jitter buffer: priming, reordering, duplicates, late packets, loss and 16-bit wrap-around
(the adaptive depth: test_media_playout.py)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from bridge.media.jitter import JitterBuffer, seq_distance


def payload(seq: int) -> bytes:
    return seq.to_bytes(2, "big")


def fill(buffer: JitterBuffer, *seqs: int) -> None:
    for seq in seqs:
        buffer.push(seq, payload(seq))


def test_seq_distance_wraps() -> None:
    assert seq_distance(1, 65535) == 2
    assert seq_distance(65535, 1) == -2
    assert seq_distance(7, 7) == 0


def test_plays_nothing_until_primed() -> None:
    buffer = JitterBuffer(depth=3)
    fill(buffer, 10, 11)
    assert buffer.pop() is None
    assert not buffer.playing
    fill(buffer, 12)
    assert [buffer.pop() for _ in range(3)] == [payload(10), payload(11), payload(12)]


def test_reorders() -> None:
    buffer = JitterBuffer(depth=3)
    fill(buffer, 12, 10, 11)
    assert [buffer.pop() for _ in range(3)] == [payload(10), payload(11), payload(12)]


def test_drops_duplicates_and_late_packets() -> None:
    buffer = JitterBuffer(depth=2)
    fill(buffer, 1, 2, 3)
    assert buffer.push(2, b"again") is False
    assert buffer.stats.duplicate == 1
    assert buffer.pop() == payload(1)
    assert buffer.push(1, b"late") is False
    assert buffer.stats.late == 1
    assert [buffer.pop(), buffer.pop()] == [payload(2), payload(3)]


def test_a_lost_packet_leaves_a_hole() -> None:
    buffer = JitterBuffer(depth=3)
    fill(buffer, 1, 2, 3, 5, 6)
    assert [buffer.pop() for _ in range(5)] == [
        payload(1),
        payload(2),
        payload(3),
        None,
        payload(5),
    ]
    assert buffer.stats.missing == 1


def test_wraps_around_65535() -> None:
    buffer = JitterBuffer(depth=4)
    fill(buffer, 0, 65535, 1, 65534)
    assert [buffer.pop() for _ in range(4)] == [payload(s) for s in (65534, 65535, 0, 1)]


def test_re_primes_after_running_dry() -> None:
    buffer = JitterBuffer(depth=2)
    fill(buffer, 1, 2)
    assert [buffer.pop(), buffer.pop()] == [payload(1), payload(2)]
    assert buffer.pop() is None  # sender paused
    fill(buffer, 3)
    assert buffer.pop() is None  # priming again
    fill(buffer, 4)
    assert [buffer.pop(), buffer.pop()] == [payload(3), payload(4)]
    assert buffer.stats.missing == 0


def test_a_packet_just_after_the_buffer_emptied_plays_without_a_hole() -> None:
    """Emptying the buffer is not yet running dry: the next packet, a millisecond past its
    tick, still plays in the next one (re-priming there would leave a 20 ms hole)."""
    buffer = JitterBuffer(depth=2)
    fill(buffer, 1, 2)
    assert [buffer.pop(), buffer.pop()] == [payload(1), payload(2)]  # now empty
    fill(buffer, 3)
    assert buffer.pop() == payload(3)
    assert buffer.stats.underflows == 0


def test_a_short_talkspurt_is_not_held_back_for_the_next() -> None:
    buffer = JitterBuffer(depth=3)
    fill(buffer, 1)
    assert [buffer.pop(), buffer.pop(), buffer.pop()] == [None, None, payload(1)]


def test_a_jump_resynchronises() -> None:
    buffer = JitterBuffer(depth=1, capacity=50)
    fill(buffer, 1, 2)
    assert buffer.pop() == payload(1)
    assert buffer.push(40000, payload(40000)) is True  # new stream: old packets go
    assert buffer.stats.resyncs == 1
    assert buffer.pop() == payload(40000)


@given(st.integers(0, 65535), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_any_arrival_order_plays_in_sequence(start: int, count: int, seed: int) -> None:
    seqs = [(start + i) % 65536 for i in range(count)]
    arrival = seqs[:]
    random.Random(seed).shuffle(arrival)
    buffer = JitterBuffer(depth=count, capacity=64)
    fill(buffer, *arrival)
    assert [buffer.pop() for _ in range(count)] == [payload(s) for s in seqs]
