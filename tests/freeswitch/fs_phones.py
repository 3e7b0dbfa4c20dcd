"""SIPp phones that dial in through the real FreeSWITCH (loopback only): bridge_testing's
(sipp_phone.py), streaming a 660 Hz tone, clear of every placeholder prompt of the test
FreeSWITCH (/opt/freeswitch/README.md).

The digit pcaps carry fixed RTP sequence numbers and timestamps that rise from 1 to 9,
*, #: within one call, digits must be pressed in that rising order.
"""

from __future__ import annotations

from pathlib import Path

from bridge_testing import sipp_phone
from bridge_testing.sipp import need_sipp
from bridge_testing.sipp_phone import Phone, uac_scenario

TONE_HZ = 660.0


def dial(
    workdir: Path, sip_port: int, service: str, scenario: str, *, trace: bool = False
) -> Phone:
    need_sipp()
    return sipp_phone.dial(workdir, sip_port, service, scenario, trace=trace, tone_hz=TONE_HZ)


__all__ = ["TONE_HZ", "Phone", "dial", "uac_scenario"]
