"""Synthetic arrival clocks for a jitter buffer: who sends when, what arrives when, what plays.

A sender speaks frame i at `i * 20 ms + phase`; the network adds a delay per packet. The
mixing tick k runs at `k * 20 ms`: it files every packet that arrived before it, then pops
one frame (the embedded engine's room does the same with its sockets). Everything is in
milliseconds on one clock and deterministic (the noise comes from a seeded Random), so the
tests and the benchmark replay exactly the same traffic into any buffer with `push`/`pop`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

TICK_MS = 20.0


class Buffer(Protocol):
    def push(self, seq: int, payload: bytes) -> bool: ...

    def pop(self) -> bytes | None: ...


@dataclass(frozen=True)
class Packet:
    seq: int
    spoken: float  # when the sender's frame was due (ms)
    arrives: float  # when it reaches the buffer (ms)


def talkspurts(
    spurts: int,
    length: int,
    gap: int,
    *,
    phase: float,
    spread: float,
    seed: int,
    start_seq: int = 0,
) -> list[list[Packet]]:
    """`spurts` runs of `length` frames with `gap` silent frames between (silence
    suppression: nothing sent, sequence numbers go on). Frame i is spoken at
    `i * 20 + phase` ms and arrives up to `spread` ms later (uniformly): with a `phase` of
    -0.5 and a `spread` of 1, every packet reaches the buffer within 0.5 ms of a tick."""
    rng = random.Random(seed)
    runs: list[list[Packet]] = []
    seq, frame = start_seq, 0
    for _ in range(spurts):
        run = []
        for _ in range(length):
            spoken = frame * TICK_MS + phase
            run.append(Packet(seq & 0xFFFF, spoken, spoken + rng.uniform(0.0, spread)))
            seq, frame = seq + 1, frame + 1
        runs.append(run)
        frame += gap
    return runs


def hold_back(packets: list[Packet], first: int, held_ms: float) -> list[Packet]:
    """The packets spoken in [spoken of `first`, + held_ms) all arrive together at its end."""
    start = packets[first].spoken
    release = max(p.arrives for p in packets if start <= p.spoken < start + held_ms)
    return [
        Packet(p.seq, p.spoken, release) if start <= p.spoken < start + held_ms else p
        for p in packets
    ]


def play(buffer: Buffer, packets: list[Packet], ticks: int) -> list[int | None]:
    """Run `ticks` mixing ticks; the sequence number played at each (None: nothing)."""
    waiting = sorted(packets, key=lambda p: p.arrives)
    played: list[int | None] = []
    index = 0
    for k in range(ticks):
        now = k * TICK_MS
        while index < len(waiting) and waiting[index].arrives < now:
            packet = waiting[index]
            buffer.push(packet.seq, packet.seq.to_bytes(2, "big"))
            index += 1
        payload = buffer.pop()
        played.append(None if payload is None else int.from_bytes(payload[:2], "big"))
    return played


def delays(packets: list[Packet], played: list[int | None]) -> list[tuple[float, float]]:
    """(when it played, mouth-to-ear delay) in ms for every frame played, in playing order."""
    spoken = {p.seq: p.spoken for p in packets}
    return [
        (k * TICK_MS, k * TICK_MS - spoken[seq]) for k, seq in enumerate(played) if seq is not None
    ]


def holes(runs: list[list[Packet]], played: list[int | None]) -> int:
    """Talkspurts with a silent tick between their first and last frame played."""
    at = {seq: k for k, seq in enumerate(played) if seq is not None}
    count = 0
    for run in runs:
        ticks = [at[p.seq] for p in run if p.seq in at]
        if len(ticks) != len(run) or ticks[-1] - ticks[0] != len(run) - 1:
            count += 1
    return count
