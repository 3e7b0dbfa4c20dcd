"""Talk detection: start above one threshold, stop after a hang time below the other."""

from __future__ import annotations

from array import array

import pytest

from bridge.media import FRAME_SAMPLES, SILENCE_FRAME
from bridge.media.talk import TalkDetector, frame_rms


def square(level: int) -> bytes:
    """A frame whose RMS is exactly `level`."""
    return array("h", [level, -level] * (FRAME_SAMPLES // 2)).tobytes()


def test_rms() -> None:
    assert frame_rms(SILENCE_FRAME) == 0.0
    assert frame_rms(square(1234)) == 1234.0
    assert frame_rms(b"") == 0.0


def test_talk_starts_and_stops_with_hang_time() -> None:
    detector = TalkDetector(start_threshold=600, stop_threshold=300, hang_frames=3)
    assert detector.feed(SILENCE_FRAME) is None
    assert detector.feed(square(700)) is True
    assert detector.talking
    assert detector.feed(square(700)) is None
    assert [detector.feed(SILENCE_FRAME) for _ in range(3)] == [None, None, False]
    assert not detector.talking


def test_hysteresis_between_the_thresholds() -> None:
    detector = TalkDetector(start_threshold=600, stop_threshold=300, hang_frames=2)
    assert detector.feed(square(450)) is None  # not loud enough to start
    assert detector.feed(square(600)) is True
    assert detector.feed(SILENCE_FRAME) is None
    assert detector.feed(square(450)) is None  # loud enough to keep talking: hang restarts
    assert detector.feed(SILENCE_FRAME) is None
    assert detector.feed(SILENCE_FRAME) is False


def test_reset_forgets_talking() -> None:
    detector = TalkDetector(hang_frames=1)
    detector.feed(square(5000))
    detector.reset()
    assert not detector.talking
    assert detector.feed(square(5000)) is True


@pytest.mark.parametrize(("start", "stop", "hang"), [(300, 600, 3), (600, -1, 3), (600, 300, 0)])
def test_bad_settings_are_rejected(start: float, stop: float, hang: int) -> None:
    with pytest.raises(ValueError):
        TalkDetector(start_threshold=start, stop_threshold=stop, hang_frames=hang)
