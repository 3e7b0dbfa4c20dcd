"""An adaptive jitter buffer keyed by RTP sequence number (16-bit, wrapping).

`push(seq, payload)` files packets as they arrive, in any order; `pop()` is called once per
20 ms tick and returns the next payload in sequence order, or None when there is nothing to
play (the caller plays silence or conceals the loss). Time is counted in ticks: a packet
pushed between two pops arrives at the tick of the next pop.

How deep to buffer is decided by `PlayoutPolicy` (below), a pure function of when packets
arrived; the buffer only applies it:

- Priming: playout starts once `depth` packets are buffered, or once the first of them has
  waited `depth - 1` ticks (a short talkspurt is not held back for the next one).
- Playing: one packet per tick. A packet that has not arrived while later ones have is lost
  (None, counted `missing`). An empty buffer at a pop is an *underflow*: None, and the buffer
  primes again, which absorbs pauses in the sender (silence suppression, a digit). It is the
  pop that finds the buffer empty that re-primes, not the one that emptied it: a packet that
  misses its tick by a millisecond is still played in the next one, without a hole.
- Shrinking: when the policy says so, the oldest packet is dropped (counted `discarded`).

Packets older than the last one played, or already buffered, are dropped. A jump of more
than `capacity` packets either way (a new stream, a restarted sender) resynchronises on the
new packet and starts the policy afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

_SEQ_MOD = 1 << 16

MIN_DEPTH = 2  # 40 ms: covers a stream whose packets arrive within a millisecond of the tick
MAX_DEPTH = 10  # 200 ms: the most delay a stream is given; a larger burst loses its oldest
HOLD_TICKS = 50  # a grown depth is kept 1 s after the last burst that needed it
STEP_TICKS = 10  # then comes down one packet (20 ms) per 200 ms


def seq_distance(a: int, b: int) -> int:
    """Signed distance a - b in RTP sequence space, in [-32768, 32767]."""
    return (a - b + _SEQ_MOD // 2) % _SEQ_MOD - _SEQ_MOD // 2


class PlayoutPolicy:
    """How many packets to buffer before playing: arrival ticks in, playout depth out.

    Sans-IO and integer-only, so the C twin (`_rtp_core.pyx`) follows it step for step.

    Grow: packets that arrive together in one tick were held up on the way; a burst of `b`
    means the first of them came `b - 1` ticks late, so the depth rises at once to `b`
    (at most `max_depth`), and the burst itself fills the buffer to it.
    Shrink: `hold` ticks after the last such burst the depth comes down one packet every
    `step` ticks, to `min_depth`, during talk and silence alike. The buffer follows: it
    re-primes at the lower depth after a pause, and while the talk goes on `tick` asks it to
    drop one packet once it has held more than the depth for `step` ticks running (at most
    one 20 ms frame per `step` ticks, so speech is sped up by 1/step at worst).
    Bounded: more than `max_depth` packets buffered are dropped at the next tick.
    """

    def __init__(
        self,
        min_depth: int = MIN_DEPTH,
        max_depth: int = MAX_DEPTH,
        hold: int = HOLD_TICKS,
        step: int = STEP_TICKS,
    ) -> None:
        if not 1 <= min_depth <= max_depth or hold < 0 or step < 1:
            raise ValueError("need 1 <= min_depth <= max_depth, hold >= 0, step >= 1")
        self.min_depth, self.max_depth, self.hold, self.step = min_depth, max_depth, hold, step
        self.reset()

    def reset(self) -> None:
        """Forget everything learnt (a new stream)."""
        self.depth = self.min_depth
        self._burst_tick = -1  # tick of the latest arrival
        self._burst = 0  # packets that arrived in that tick
        self._hold = 0  # ticks before the depth may come down
        self._over = 0  # ticks running with more than `depth` buffered

    def arrived(self, now: int) -> None:
        """One packet arrived (was filed) at tick `now`."""
        if now != self._burst_tick:
            self._burst_tick, self._burst = now, 0
        self._burst += 1
        if self._burst > self.depth:
            self.depth = min(self._burst, self.max_depth)
            self._hold = self.hold

    def tick(self, buffered: int) -> int:
        """One playout tick with `buffered` packets waiting: how many of the oldest to drop."""
        if self._hold > 0:
            self._hold -= 1
        elif self.depth > self.min_depth:
            self.depth -= 1
            self._hold = self.step
        if buffered > self.max_depth:
            self._over = 0
            return buffered - self.max_depth
        if buffered <= self.depth:
            self._over = 0
            return 0
        self._over += 1
        if self._over < self.step:
            return 0
        self._over = 0
        return 1


@dataclass
class JitterStats:
    received: int = 0
    played: int = 0
    missing: int = 0  # ticks whose packet never came while later ones had
    late: int = 0
    duplicate: int = 0
    resyncs: int = 0
    underflows: int = 0  # ticks that found the buffer empty while playing
    discarded: int = 0  # dropped to shrink the delay


class JitterBuffer:
    def __init__(
        self, depth: int = MIN_DEPTH, capacity: int = 64, max_depth: int | None = None
    ) -> None:
        """`depth`: the least depth; `max_depth` (default: MAX_DEPTH or `depth`) the most."""
        top = max(depth, MAX_DEPTH) if max_depth is None else max_depth
        if not 1 <= depth <= top <= capacity < _SEQ_MOD // 2:
            raise ValueError(
                f"need 1 <= depth ({depth}) <= max_depth ({top}) <= capacity ({capacity}) < 32768"
            )
        self.capacity = capacity
        self.policy = PlayoutPolicy(depth, top)
        self.stats = JitterStats()
        self._packets: dict[int, bytes] = {}
        self._now = 0  # the tick of the next pop
        self._next: int | None = None  # seq to play next; None while priming
        self._last_played: int | None = None
        self._anchor: int | None = None  # reference seq for ordering while priming
        self._since: int | None = None  # tick of the first packet while priming

    def __len__(self) -> int:
        return len(self._packets)

    @property
    def depth(self) -> int:
        """The policy's current playout depth, in packets."""
        return self.policy.depth

    @property
    def playing(self) -> bool:
        return self._next is not None

    def reset(self) -> None:
        """Drop everything and wait for a fresh stream."""
        self._packets.clear()
        self._next = self._last_played = self._anchor = self._since = None
        self.policy.reset()

    def push(self, seq: int, payload: bytes) -> bool:
        """File one packet; False if it was dropped (late or duplicate)."""
        seq &= 0xFFFF
        self.stats.received += 1
        reference = self._last_played if self._last_played is not None else self._anchor
        if reference is not None:
            distance = seq_distance(seq, reference)
            if abs(distance) > self.capacity:
                self.stats.resyncs += 1
                self.reset()
            elif distance <= 0 and self._last_played is not None:
                self.stats.late += 1
                return False
        if seq in self._packets:
            self.stats.duplicate += 1
            return False
        if self._anchor is None:
            self._anchor = seq
        if self._next is None and self._since is None:
            self._since = self._now
        self._packets[seq] = payload
        self.policy.arrived(self._now)
        return True

    def pop(self) -> bytes | None:
        """The payload for this tick, or None (priming, lost or not yet arrived)."""
        now = self._now
        self._now += 1
        for _ in range(self.policy.tick(len(self._packets))):
            self._discard_oldest()
        if self._next is None:
            since = self._since
            if since is None or (len(self._packets) < self.depth and now - since < self.depth - 1):
                return None
            self._next = self._oldest()
            self._since = None
        elif not self._packets:
            self.stats.underflows += 1
            self._next = None  # underflow: prime again before playing on
            self._anchor = self._last_played
            return None
        seq = self._next
        payload = self._packets.pop(seq, None)
        self._last_played = seq
        self._next = (seq + 1) % _SEQ_MOD
        if payload is None:
            self.stats.missing += 1
        else:
            self.stats.played += 1
        return payload

    def _discard_oldest(self) -> None:
        seq = self._oldest()
        del self._packets[seq]
        self.stats.discarded += 1
        self._last_played = seq  # it, and anything before it, now counts as late
        if self._next is not None:
            self._next = (seq + 1) % _SEQ_MOD

    def _oldest(self) -> int:
        reference = self._last_played if self._last_played is not None else self._anchor
        assert reference is not None  # set by the first push
        return min(self._packets, key=lambda seq: seq_distance(seq, reference))
