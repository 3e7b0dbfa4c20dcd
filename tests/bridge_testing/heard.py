"""A phone that hears tones, on every engine: the project's own SIP phone (phone.py: a
UAC/UAS whose RTP peer keeps every PCMU frame it receives), tone WAVs written where the
engine finds its sounds, and the wait for a tone to reach a phone. A test tells by the
spectrum which announcement, entry sound or caller reached which phone.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.media import tones
from bridge.media.wav import write_wav
from bridge_testing.phone import SipPhone, burst_amplitude
from bridge_testing.wait import until

if TYPE_CHECKING:
    from bridge_testing.asterisk_pbx import AsteriskProcess
    from bridge_testing.real_freeswitch import FreeSwitchProcess

HEARD = 1500.0  # a 6000-peak tone arrives at about 6000 after G.711 and the mixer
SILENT = 300.0  # silence arrives well under 100
TONE_PEAK = 6000
TONE_DIR = "cbtest"  # under the engine's sounds directory
FRAMES_PER_SECOND = 50  # 20 ms PCMU


def write_tone(sounds: Path, hz: int, ms: int) -> str:
    """`sounds`/cbtest/tone-<hz>.wav; returns its name under `sounds`, without ".wav"."""
    name = f"{TONE_DIR}/tone-{hz}"
    path = sounds / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, tones.tone_pcm([float(hz)], ms, TONE_PEAK))
    return name


def asterisk_tone(pbx: AsteriskProcess, hz: int, ms: int = 600) -> str:
    """A tone where our Asterisk finds sounds; its sound name (for `play.file`)."""
    return write_tone(pbx.root / "usr/share/asterisk/sounds/en_US_f_Allison", hz, ms)


def freeswitch_tone(fs: FreeSwitchProcess, hz: int, ms: int = 1000) -> str:
    """A tone under FreeSWITCH's sounds directory (the live app's media root); the media
    file name to send through the API."""
    return write_tone(fs.sounds, hz, ms) + ".wav"


async def hears(phone: SipPhone, hz: float, since: float, within: float = 10.0) -> None:
    """Wait until `phone` has heard the tone at `hz` after `since` (time.monotonic())."""
    await until(
        lambda: burst_amplitude(phone.heard_since(since), hz) > HEARD,
        within,
        f"{phone.name} to hear {hz:.0f} Hz",
    )


async def new_phone(
    name: str, tone_hz: float | None = None, *, into: list[SipPhone] | None = None
) -> SipPhone:
    """A started phone (sending `tone_hz`, or silence); added to `into` if given."""
    phone = SipPhone(name, tone_hz)
    await phone.start()
    if into is not None:
        into.append(phone)
    return phone


@contextlib.asynccontextmanager
async def phone_set(*, hang_up: bool = True) -> AsyncIterator[list[SipPhone]]:
    """The list `new_phone(into=...)` adds to; on exit each phone still in a call hangs up
    (`hang_up`: the PBX outlives the test and would keep the call) and every one stops."""
    made: list[SipPhone] = []
    try:
        yield made
    finally:
        for phone in made:
            if hang_up and phone.answered and not phone.bye_received and phone.dialog is not None:
                with contextlib.suppress(AssertionError):
                    await phone.hangup()
            await phone.stop()


__all__ = [
    "FRAMES_PER_SECOND",
    "HEARD",
    "SILENT",
    "SipPhone",
    "asterisk_tone",
    "burst_amplitude",
    "freeswitch_tone",
    "hears",
    "new_phone",
    "phone_set",
    "write_tone",
]
