"""What a real caller hears from our Asterisk: the project's own SIP phone (tests/embedded
phone.py: a UAC/UAS whose RTP peer keeps every PCMU frame it receives) and tone files
written into the Asterisk root's sound directory, so a test can tell by the spectrum which
announcement reached which caller.
"""

from __future__ import annotations

from bridge_testing.asterisk_pbx import AsteriskProcess
from bridge_testing.phone import SipPhone, burst_amplitude
from bridge_testing.wait import until

from bridge.media import tones
from bridge.media.wav import write_wav

HEARD = 1500.0  # a 6000-peak tone arrives at about 6000 after G.711 and the mixer
SILENT = 300.0
TONE_DIR = "cbtest"  # under the root's English sounds: played as "cbtest/tone-<hz>"
FRAMES_PER_SECOND = 50  # 20 ms PCMU


def tone_file(pbx: AsteriskProcess, hz: int, ms: int = 600) -> str:
    """A tone WAV where Asterisk finds sounds; returns its sound name (for `play.file`)."""
    folder = pbx.root / "usr/share/asterisk/sounds/en_US_f_Allison" / TONE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    write_wav(folder / f"tone-{hz}.wav", tones.tone_pcm([float(hz)], ms, 6000))
    return f"{TONE_DIR}/tone-{hz}"


async def hears(phone: SipPhone, hz: float, since: float, within: float = 8.0) -> None:
    """Wait until `phone` has heard the tone at `hz` after `since` (time.monotonic())."""
    await until(
        lambda: burst_amplitude(phone.heard_since(since), hz) > HEARD,
        within,
        f"{phone.name} to hear {hz:.0f} Hz",
    )


async def new_phone(name: str) -> SipPhone:
    phone = SipPhone(name)
    await phone.start()
    return phone


__all__ = [
    "FRAMES_PER_SECOND",
    "HEARD",
    "SILENT",
    "SipPhone",
    "burst_amplitude",
    "hears",
    "new_phone",
    "tone_file",
]
