"""Collecting a PIN from RFC 4733 digits: ended by '#', by PIN_MAX_DIGITS or by a pause.

The caller gets PIN_ATTEMPTS tries (as the Asterisk engine's dial-in gives); the router
judges each entry, this module only gathers digits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

PIN_ATTEMPTS = 3
PIN_MAX_DIGITS = 12
PIN_DIGIT_TIMEOUT = 8.0  # seconds of silence that end an entry without '#'


class PinEntry:
    """Digits typed so far; what follows a '#' is kept for the next attempt (type-ahead)."""

    def __init__(self) -> None:
        self.digits = ""
        self._changed = asyncio.Event()

    def feed(self, digit: str) -> None:
        self.digits += digit
        self._changed.set()

    def wake(self) -> None:
        """End a pending `collect` (the call went away)."""
        self._changed.set()

    async def collect(self, live: Callable[[], bool]) -> str:
        """One entry: the digits before '#', the first PIN_MAX_DIGITS, or what was typed
        before a pause of PIN_DIGIT_TIMEOUT; "" when nothing was (or the call ended)."""
        while live():
            self._changed.clear()
            digits = self.digits
            if "#" in digits:
                entry, self.digits = digits.split("#", 1)
                return entry
            if len(digits) >= PIN_MAX_DIGITS:
                self.digits = digits[PIN_MAX_DIGITS:]
                return digits[:PIN_MAX_DIGITS]
            try:
                await asyncio.wait_for(self._changed.wait(), PIN_DIGIT_TIMEOUT)
            except TimeoutError:
                self.digits = ""
                return digits
        return ""
