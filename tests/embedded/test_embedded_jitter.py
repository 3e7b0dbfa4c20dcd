"""A burst of late packets through the real embedded engine: the extra delay goes away.

Alice speaks in 200 ms pulses of a tone, one every 500 ms, and never stops sending (silence
frames between pulses, no silence suppression), so her stream stays one talkspurt. Once,
her packets are held up for 150 ms and then all sent at once, as a congested uplink does.
Bob measures, pulse by pulse, the delay from the moment Alice "spoke" a pulse's first frame
to the moment its sound reached him. The jitter buffer grows to absorb the burst; it must
come back down while Alice keeps talking instead of keeping the extra delay for the rest of
the call. Figures are printed (run with -s).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import numpy as np
import pytest
from bridge_testing.embedded import Engine, joined, new_phone
from bridge_testing.phone import SipPhone
from bridge_testing.wait import until

from bridge.media import FRAME_SAMPLES, SILENCE_FRAME, tones

pytestmark = pytest.mark.embedded

PULSE_FRAMES, PERIOD_FRAMES = 10, 25  # 200 ms of tone every 500 ms
STALL_SECONDS = 0.15
TONE = tones.tone_pcm([1000.0], 1000, 6000)


@dataclass
class PulsingPhone(SipPhone):
    """Speaks 200 ms tone pulses every 500 ms, silence frames between them."""

    spoken: list[float] = field(default_factory=list)  # when each pulse's first frame was due
    index: int = 0

    def _next_frame(self) -> bytes:
        phase = self.index % PERIOD_FRAMES
        self.index += 1
        if phase == 0:
            self.spoken.append(time.monotonic())
        size = FRAME_SAMPLES * 2
        return TONE[phase * size : (phase + 1) * size] if phase < PULSE_FRAMES else SILENCE_FRAME


def onsets(received: list[tuple[float, bytes]]) -> list[float]:
    """Arrival times of the first loud frame after a quiet one."""
    times, loud_before = [], False
    for at, pcm in received:
        loud = float(np.sqrt(np.mean(np.frombuffer(pcm, np.int16).astype(np.float64) ** 2))) > 1000
        if loud and not loud_before:
            times.append(at)
        loud_before = loud
    return times


def pulse_delays(spoken: list[float], heard: list[float]) -> list[tuple[float, float]]:
    """(spoken at, delay in ms) per pulse heard: each onset belongs to the latest pulse
    spoken before it (every delay here is well under the 500 ms period)."""
    pairs = []
    for at in heard:
        before = [s for s in spoken if s <= at]
        if before:
            pairs.append((before[-1], (at - before[-1]) * 1000))
    return pairs


async def test_the_delay_a_burst_adds_goes_away_while_the_caller_keeps_talking(
    engine: Engine, phones: list[SipPhone]
) -> None:
    cid = await engine.conference("5301", play_beep="never")
    alice = PulsingPhone("alice")
    await alice.start()
    phones.append(alice)
    bob = await new_phone(phones, "bob")
    for phone in (alice, bob):
        assert await phone.call(engine.sip, "5301") == 200
    await joined(engine, cid, 2)

    async def pulses_after(mark: float, count: int) -> None:
        await until(
            lambda: sum(1 for s in alice.spoken if s >= mark) >= count,
            count * 0.5 + 5,
            f"alice to speak {count} pulses",
            every=0.05,
        )

    start = time.monotonic()
    await pulses_after(start, 8)  # 4 s of steady talk: any delay from the join is gone
    stalled = time.monotonic()
    alice.stall(STALL_SECONDS)
    await pulses_after(stalled, 14)  # 7 s more, talking all along
    await bob.listen(0.6)  # the last pulse's sound is on its way
    timeline = pulse_delays(alice.spoken, onsets(bob.received))

    def median(low: float, high: float, least: int = 2) -> float:
        window = [delay for at, delay in timeline if stalled + low <= at < stalled + high]
        assert len(window) >= least, f"too few pulses heard between {low} s and {high} s"
        return statistics.median(window)

    before = median(-1.5, 0.0)
    right_after = median(0.0, 1.0, least=1)  # one or two pulses, by phase
    late = median(4.0, 7.0)
    print(
        f"\nmouth-to-ear delay (median per window): before the burst {before:.0f} ms, "
        f"first second after {right_after:.0f} ms, 4-7 s after {late:.0f} ms"
    )
    assert right_after >= before + 60, "the burst did not reach the buffer as one"
    assert late <= before + 30, f"the burst's delay stayed: {before:.0f} -> {late:.0f} ms"
