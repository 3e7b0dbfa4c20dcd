"""A small fixed-depth jitter buffer keyed by RTP sequence number (16-bit, wrapping).

`push(seq, payload)` files packets as they arrive, in any order; `pop()` is called once per
20 ms tick and returns the next payload in sequence order, or None when there is nothing to
play (the caller plays silence or conceals the loss).

Playout starts once `depth` packets are buffered. When the buffer runs dry it re-primes the
same way, which also absorbs pauses in the sender (silence suppression). Packets older than
the last one played, or already buffered, are dropped. A jump of more than `capacity`
packets either way (a new stream, a restarted sender) resynchronises on the new packet.
"""

from __future__ import annotations

from dataclasses import dataclass

_SEQ_MOD = 1 << 16


def seq_distance(a: int, b: int) -> int:
    """Signed distance a - b in RTP sequence space, in [-32768, 32767]."""
    return (a - b + _SEQ_MOD // 2) % _SEQ_MOD - _SEQ_MOD // 2


@dataclass
class JitterStats:
    received: int = 0
    played: int = 0
    missing: int = 0  # ticks whose packet never came while playing
    late: int = 0
    duplicate: int = 0
    resyncs: int = 0


class JitterBuffer:
    def __init__(self, depth: int = 3, capacity: int = 64) -> None:
        if not 1 <= depth <= capacity < _SEQ_MOD // 2:
            raise ValueError(f"need 1 <= depth ({depth}) <= capacity ({capacity}) < 32768")
        self.depth = depth
        self.capacity = capacity
        self.stats = JitterStats()
        self._packets: dict[int, bytes] = {}
        self._next: int | None = None  # seq to play next; None while priming
        self._last_played: int | None = None
        self._anchor: int | None = None  # reference seq for ordering while priming

    def __len__(self) -> int:
        return len(self._packets)

    @property
    def playing(self) -> bool:
        return self._next is not None

    def reset(self) -> None:
        """Drop everything and wait for a fresh stream."""
        self._packets.clear()
        self._next = self._last_played = self._anchor = None

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
        self._packets[seq] = payload
        return True

    def pop(self) -> bytes | None:
        """The payload for this tick, or None (priming, lost or not yet arrived)."""
        if self._next is None:
            if len(self._packets) < self.depth:
                return None
            self._next = self._oldest()
        seq = self._next
        payload = self._packets.pop(seq, None)
        self._last_played = seq
        self._next = (seq + 1) % _SEQ_MOD
        if payload is None:
            self.stats.missing += 1
        else:
            self.stats.played += 1
        if not self._packets:
            self._next = None  # ran dry: prime again before playing on
            self._anchor = seq
        return payload

    def _oldest(self) -> int:
        anchor = self._anchor
        assert anchor is not None  # set by the first push
        return min(self._packets, key=lambda seq: seq_distance(seq, anchor))
