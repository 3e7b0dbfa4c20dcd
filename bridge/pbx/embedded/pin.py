"""Gathering one PIN entry from RFC 4733 digits: the IO half of core/pin.py, whose policy
says when an entry ends ('#', max_digits, a pause of digit_timeout) and what follows it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bridge.core.pin import PinPolicy


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

    async def collect(self, live: Callable[[], bool], policy: PinPolicy) -> str:
        """One entry: the digits before '#', the first max_digits, or what was typed before
        a pause of digit_timeout; "" when nothing was (or the call ended)."""
        while live():
            self._changed.clear()
            digits = self.digits
            if "#" in digits:
                entry, self.digits = digits.split("#", 1)
                return entry
            if len(digits) >= policy.max_digits:
                self.digits = digits[policy.max_digits :]
                return digits[: policy.max_digits]
            try:
                await asyncio.wait_for(self._changed.wait(), policy.digit_timeout)
            except TimeoutError:
                self.digits = ""
                return digits
        return ""
