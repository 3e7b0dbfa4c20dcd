"""Whether an arriving caller is admitted, asked for a PIN, busied, diverted or refused."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from bridge.core.models import (
    Conference,
    ConferenceStatus,
    ParticipantOptions,
    Reservation,
)


class Outcome(StrEnum):
    ADMIT = "admit"
    NEED_PIN = "need_pin"
    WRONG_PIN = "wrong_pin"
    UNKNOWN = "unknown"
    BUSY = "busy"
    DIVERT = "divert"
    FULL = "full"


# What each outcome means to a SIP phone (the embedded engine answers with these).
SIP_STATUS: Final[dict[Outcome, int]] = {
    Outcome.ADMIT: 200,
    Outcome.NEED_PIN: 200,
    Outcome.WRONG_PIN: 403,
    Outcome.UNKNOWN: 404,
    Outcome.BUSY: 486,
    Outcome.DIVERT: 302,
    Outcome.FULL: 503,
}


@dataclass(frozen=True, slots=True)
class Admission:
    outcome: Outcome
    options: ParticipantOptions | None = None
    moderator: bool = False
    divert: str | None = None

    @property
    def sip_status(self) -> int:
        return SIP_STATUS[self.outcome]


def capacity(conf: Conference, reservation: Reservation | None, unreserved_max: int) -> int:
    limit = reservation.max_participants if reservation is not None else unreserved_max
    if conf.max_participants is not None:
        limit = min(limit, conf.max_participants)
    return limit


def decide(
    conf: Conference | None,
    reservation: Reservation | None,
    *,
    active: int,
    pin: str | None,
    unreserved_max: int,
) -> Admission:
    """`active` counts participants joining or joined; `pin` is None until one was collected."""
    if conf is None or conf.dial_in is None:
        return Admission(Outcome.UNKNOWN)
    if conf.status in (ConferenceStatus.TERMINATING, ConferenceStatus.TERMINATED):
        return Admission(Outcome.UNKNOWN)
    if conf.status == ConferenceStatus.RESERVED:
        if reservation is not None and reservation.divert:
            return Admission(Outcome.DIVERT, divert=reservation.divert)
        return Admission(Outcome.BUSY)
    dial_in = conf.dial_in
    moderator = False
    options = dial_in.participant_options
    if dial_in.pin is not None or dial_in.moderator_pin is not None:
        if pin is None:
            return Admission(Outcome.NEED_PIN)
        if dial_in.moderator_pin is not None and pin == dial_in.moderator_pin:
            moderator, options = True, dial_in.moderator_options
        elif dial_in.pin is not None and pin == dial_in.pin:
            pass
        else:
            return Admission(Outcome.WRONG_PIN)
    if active >= capacity(conf, reservation, unreserved_max):
        return Admission(Outcome.FULL)
    return Admission(Outcome.ADMIT, options=options, moderator=moderator)
