"""The Asterisk suite's SIPp phones: bridge_testing.sipp_phone's (live_bridge imports them
from here)."""

from __future__ import annotations

from bridge_testing.sipp_phone import Phone, answerer, dial, uac_scenario, uas_scenario

__all__ = ["Phone", "answerer", "dial", "uac_scenario", "uas_scenario"]
