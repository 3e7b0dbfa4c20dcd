"""Reservation rules (Aculab): booking window, size, duration, extend and remove limits."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from bridge.core.clock import utc
from bridge.core.errors import Conflict, InvalidInput, invalid_field
from bridge.core.models import ConferenceStatus, Reservation, ReservationStatus

MIN_LEAD: Final = timedelta(minutes=5)
MAX_LEAD: Final = timedelta(hours=24)
MIN_DURATION, MAX_DURATION = 15, 480
MIN_EXTEND, MAX_EXTEND = 15, 60
MIN_SIZE, MAX_SIZE = 40, 350
LATE_CHANGE: Final = timedelta(minutes=5)

_UNDERSCORE = re.compile(r"(\d{4})-(\d{2})-(\d{2})_(\d{2}):(\d{2}):(\d{2})")
_DASHES = re.compile(r"(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})")


def parse_start_time(value: Any, field: str = "start_time") -> datetime:
    """`YYYY-MM-DD_hh:mm:ss`, `YYYY-MM-DD-hh-mm` (UTC) or RFC 3339; rounded down to the minute."""
    if not isinstance(value, str):
        raise invalid_field(field, "must be a string such as 2030-01-01_12:00:00")
    try:
        m = _UNDERSCORE.fullmatch(value) or _DASHES.fullmatch(value)
        if m is not None:
            y, mo, d, h, mi, *rest = (int(x) for x in m.groups())
            dt = datetime(y, mo, d, h, mi, rest[0] if rest else 0, tzinfo=UTC)
        else:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                raise ValueError("no time zone")
    except ValueError as exc:
        raise invalid_field(
            field,
            "must be YYYY-MM-DD_hh:mm:ss, YYYY-MM-DD-hh-mm (UTC) or RFC 3339 with a time zone",
            "invalid_time",
        ) from exc
    return utc(dt).replace(second=0, microsecond=0)


def check_booking(start: datetime, duration: int, size: int, now: datetime) -> None:
    lead = start - now
    if lead < MIN_LEAD:
        raise InvalidInput(
            "start_too_soon",
            "start_time must be at least 5 minutes ahead (after rounding down to the minute)",
            field="start_time",
        )
    if lead > MAX_LEAD:
        raise InvalidInput(
            "start_too_far", "start_time must be at most 24 hours ahead", field="start_time"
        )
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise invalid_field("duration", "must be an integer number of minutes")
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise invalid_field("duration", "must be 15 to 480 minutes", "out_of_range")
    if isinstance(size, bool) or not isinstance(size, int):
        raise invalid_field("max_participants", "must be an integer")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise invalid_field("max_participants", "must be 40 to 350", "out_of_range")


def extend(r: Reservation, minutes: Any, now: datetime) -> Reservation:
    if r.status not in (
        ReservationStatus.RESERVED,
        ReservationStatus.HOLDING,
        ReservationStatus.ACTIVE,
    ):
        raise Conflict(
            "reservation_not_extendable",
            f"a {r.status.value} reservation cannot be extended",
            status=r.status.value,
        )
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise invalid_field("extend_minutes", "must be an integer number of minutes")
    if not MIN_EXTEND <= minutes <= MAX_EXTEND:
        raise invalid_field("extend_minutes", "must be 15 to 60 minutes", "out_of_range")
    if r.end_time - now <= LATE_CHANGE:
        raise Conflict(
            "reservation_ending", "a reservation due to finish within 5 minutes cannot be extended"
        )
    if r.duration_minutes + minutes > MAX_DURATION:
        raise Conflict(
            "duration_limit",
            f"the total duration would be {r.duration_minutes + minutes} minutes; at most 480",
            duration=r.duration_minutes,
        )
    return replace(
        r, duration_minutes=r.duration_minutes + minutes, revision=r.revision + 1, updated_at=now
    )


def check_remove(r: Reservation, now: datetime) -> None:
    if r.status != ReservationStatus.RESERVED:
        raise Conflict(
            "reservation_not_removable",
            f"only a reservation that has not started can be removed; this one is {r.status.value}",
            status=r.status.value,
        )
    if r.start_time - now < LATE_CHANGE:
        raise Conflict(
            "reservation_starting", "a reservation due to start within 5 minutes cannot be removed"
        )


STATUS_FROM_CONFERENCE: Final[dict[ConferenceStatus, ReservationStatus]] = {
    ConferenceStatus.RESERVED: ReservationStatus.RESERVED,
    ConferenceStatus.EMPTY: ReservationStatus.HOLDING,
    ConferenceStatus.POPULATED: ReservationStatus.HOLDING,
    ConferenceStatus.IN_PROGRESS: ReservationStatus.ACTIVE,
    ConferenceStatus.TERMINATING: ReservationStatus.ACTIVE,
    ConferenceStatus.TERMINATED: ReservationStatus.COMPLETED,
}


def follow_conference(
    r: Reservation, conference_status: ConferenceStatus, now: datetime
) -> Reservation:
    """The reservation's status mirrors its conference's (cancelled stays cancelled)."""
    if r.status == ReservationStatus.CANCELLED:
        return r
    target = STATUS_FROM_CONFERENCE[conference_status]
    if target == r.status:
        return r
    return replace(r, status=target, revision=r.revision + 1, updated_at=now)
