"""What a real caller hears from the real FreeSWITCH: the project's own SIP phone
(tests/embedded/phone.py: a UAC whose RTP peer keeps every PCMU frame it receives, and
whose RFC 4733 digits may come in any order) and tone WAVs written into this session's
FreeSWITCH sounds directory, so a test can tell by the spectrum what reached the caller.

Tone frequencies here are clear of every placeholder prompt of the test FreeSWITCH
(/opt/freeswitch/README.md: 350-1400 Hz prompts and entry/exit tones, 784 Hz hold
music, 1800 and 2000-2900 Hz digits).
"""

from __future__ import annotations

from bridge_testing.phone import SipPhone, burst_amplitude
from bridge_testing.real_freeswitch import FreeSwitchProcess
from bridge_testing.wait import until

from bridge.media import tones
from bridge.media.wav import write_wav

HEARD = 1500.0  # a 6000-peak tone arrives near 6000 through G.711 and the mixer
SILENT = 300.0
TONE_DIR = "cbtest"
# FreeSWITCH's entry sound in freeswitch-conf's profile: tone_stream://%(200,0,500,600,700)
ENTRY_HZ = (500.0, 600.0, 700.0)


def tone_file(fs: FreeSwitchProcess, hz: int, ms: int = 1000) -> str:
    """A tone WAV under the sounds directory (the live app's media root); returns the
    media file name to send through the API."""
    name = f"{TONE_DIR}/tone-{hz}.wav"
    path = fs.sounds / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, tones.tone_pcm([float(hz)], ms, 6000))
    return name


async def hears(phone: SipPhone, hz: float, since: float, within: float = 10.0) -> None:
    """Wait until `phone` has heard the tone at `hz` after `since` (time.monotonic())."""
    await until(
        lambda: burst_amplitude(phone.heard_since(since), hz) > HEARD,
        within,
        f"{phone.name} to hear {hz:.0f} Hz",
    )


async def new_phone(name: str, tone_hz: float | None = None) -> SipPhone:
    phone = SipPhone(name, tone_hz)
    await phone.start()
    return phone


__all__ = [
    "ENTRY_HZ",
    "HEARD",
    "SILENT",
    "SipPhone",
    "burst_amplitude",
    "hears",
    "new_phone",
    "tone_file",
]
