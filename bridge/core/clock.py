"""The clock is injected everywhere so that time-based rules are testable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetClock:
    """Real time, shifted by however far it was advanced: time still passes (timers, retry
    backoff), and tests can jump to a reservation's start without waiting for it."""

    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        self._offset += timedelta(seconds=seconds)
        return self.now()


def utc(dt: datetime) -> datetime:
    """Return `dt` as aware UTC (naive values are taken to be UTC, as databases return them)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def rfc3339(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return utc(dt).isoformat(timespec="milliseconds").replace("+00:00", "Z")
