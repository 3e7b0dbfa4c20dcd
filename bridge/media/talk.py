"""Energy-based talk detection: a pure state machine fed one 20 ms frame at a time.

Hysteresis keeps the talking flag from flickering: talking starts when a frame's RMS reaches
`start_threshold`, and stops only after `hang_frames` consecutive frames below
`stop_threshold` (frames between the two thresholds keep the current state).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from operator import mul

BytesLike = bytes | bytearray | memoryview


def frame_rms(frame: BytesLike) -> float:
    """Root mean square of a frame of signed 16-bit native-endian samples (0 if empty)."""
    samples = array("h", bytes(frame))
    if not samples:
        return 0.0
    return math.sqrt(sum(map(mul, samples, samples)) / len(samples))


@dataclass
class TalkDetector:
    """feed(frame) -> True when talking starts, False when it stops, None otherwise."""

    start_threshold: float = 600.0  # RMS; quiet speech is ~1000, line noise ~50-200
    stop_threshold: float = 300.0
    hang_frames: int = 15  # 300 ms of quiet before "stopped talking"
    talking: bool = field(default=False, init=False)
    _quiet_frames: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.stop_threshold <= self.start_threshold:
            raise ValueError(
                f"need 0 <= stop_threshold ({self.stop_threshold}) "
                f"<= start_threshold ({self.start_threshold})"
            )
        if self.hang_frames < 1:
            raise ValueError(f"hang_frames must be >= 1, got {self.hang_frames}")

    def feed(self, frame: BytesLike) -> bool | None:
        return self.feed_level(frame_rms(frame))

    def feed_level(self, rms: float) -> bool | None:
        """Advance by one frame whose RMS is already known."""
        if not self.talking:
            if rms >= self.start_threshold:
                self.talking = True
                self._quiet_frames = 0
                return True
            return None
        if rms < self.stop_threshold:
            self._quiet_frames += 1
            if self._quiet_frames >= self.hang_frames:
                self.talking = False
                self._quiet_frames = 0
                return False
        else:
            self._quiet_frames = 0
        return None

    def reset(self) -> None:
        """Forget the state (e.g. when the participant is muted or the stream restarts)."""
        self.talking = False
        self._quiet_frames = 0
