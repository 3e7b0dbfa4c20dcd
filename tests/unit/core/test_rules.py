from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypedDict, Unpack

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core import admission as adm
from bridge.core import reservation as rsm
from bridge.core import validate as v
from bridge.core.dtmf import DigitAction, decide_digit
from bridge.core.errors import BridgeError, Conflict, InvalidInput
from bridge.core.models import (
    Conference,
    ConferenceStatus,
    DialIn,
    Participant,
    ParticipantOptions,
    ParticipantStatus,
    Reservation,
    ReservationStatus,
)
from bridge.core.options import parse_participant_options
from bridge.protocols.safe import Kind, UnsafeValueError, safe_value

NOW = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)


class DigitOptions(TypedDict, total=False):
    """The ParticipantOptions the digit rules read; the rest keep their defaults."""

    talker: bool
    exit_digit: str
    mute_digit: str
    unmute_digit: str
    call_control_sequence: str
    call_control_url: str


def part(muted: bool = False, dtmf: bool = True, **opts: Unpack[DigitOptions]) -> Participant:
    return Participant(
        id="pa_1",
        conference_id="cf_1",
        account_id="ac_1",
        created_at=NOW,
        updated_at=NOW,
        status=ParticipantStatus.JOINED,
        options=ParticipantOptions(**opts),
        muted=muted,
        dtmf_enabled=dtmf,
    )


@pytest.mark.parametrize(
    ("opts", "muted", "digit", "action"),
    [
        ({"exit_digit": "#"}, False, "#", DigitAction.EXIT),
        ({"mute_digit": "1"}, False, "1", DigitAction.MUTE),
        ({"mute_digit": "1"}, True, "1", DigitAction.UNMUTE),  # toggles without unmute digit
        ({"mute_digit": "1", "unmute_digit": "2"}, False, "1", DigitAction.MUTE),
        ({"mute_digit": "1", "unmute_digit": "2"}, True, "1", DigitAction.NONE),
        ({"mute_digit": "1", "unmute_digit": "2"}, True, "2", DigitAction.UNMUTE),
        ({"mute_digit": "1", "unmute_digit": "2"}, False, "2", DigitAction.NONE),
        ({"mute_digit": "1", "talker": False}, True, "1", DigitAction.NONE),  # never unmute
        ({"mute_digit": "1", "unmute_digit": "2", "talker": False}, True, "2", DigitAction.NONE),
        ({}, False, "5", DigitAction.NONE),
    ],
)
def test_digit_policy(opts: DigitOptions, muted: bool, digit: str, action: DigitAction) -> None:
    assert decide_digit(part(muted, **opts), digit) == action


def test_digits_do_nothing_when_dtmf_is_disabled() -> None:
    assert decide_digit(part(dtmf=False, exit_digit="#"), "#") == DigitAction.NONE


def test_call_control_sequence() -> None:
    p = part(call_control_sequence="*9", call_control_url="https://x.test/cc")
    from dataclasses import replace

    assert decide_digit(replace(p, recent_digits="12*"), "9") == DigitAction.CALL_CONTROL


def dial_conf(status: ConferenceStatus = ConferenceStatus.EMPTY, **dial: object) -> Conference:
    return Conference(
        id="cf_1",
        account_id="ac_1",
        name="c",
        created_at=NOW,
        updated_at=NOW,
        status=status,
        dial_in=DialIn(access_code="1234", **dial),  # type: ignore[arg-type]
    )


def res(**kw: object) -> Reservation:
    base = {
        "id": "rs_1",
        "account_id": "ac_1",
        "conference_id": "cf_1",
        "conference_name": "Board",
        "max_participants": 50,
        "start_time": NOW.replace(second=0) + timedelta(minutes=10),
        "duration_minutes": 60,
        "created_at": NOW,
        "updated_at": NOW,
    }
    base.update(kw)
    return Reservation(**base)  # type: ignore[arg-type]


def test_admission_outcomes_and_sip_statuses() -> None:
    def decide(
        c: Conference | None, r: Reservation | None = None, active: int = 0, pin: str | None = None
    ) -> adm.Admission:
        return adm.decide(c, r, active=active, pin=pin, unreserved_max=40)

    assert decide(None).sip_status == 404
    assert decide(dial_conf(ConferenceStatus.TERMINATED)).outcome == adm.Outcome.UNKNOWN
    assert decide(dial_conf(ConferenceStatus.RESERVED), res()).sip_status == 486
    diverted = decide(dial_conf(ConferenceStatus.RESERVED), res(divert="sip:lobby@x"))
    assert (diverted.sip_status, diverted.divert) == (302, "sip:lobby@x")
    guarded = dial_conf(pin="1111", moderator_pin="2222")
    assert decide(guarded).outcome == adm.Outcome.NEED_PIN
    assert decide(guarded, pin="9999").sip_status == 403
    assert decide(guarded, pin="2222").moderator
    assert decide(guarded, pin="1111").outcome == adm.Outcome.ADMIT
    assert decide(dial_conf(), active=40).sip_status == 503
    assert decide(dial_conf(), res(max_participants=60), active=45).outcome == adm.Outcome.ADMIT


def test_reservation_booking_window_and_rounding() -> None:
    start = rsm.parse_start_time("2030-01-01_12:10:59")
    assert start == datetime(2030, 1, 1, 12, 10, tzinfo=UTC)
    assert rsm.parse_start_time("2030-01-01-12-10") == start
    rsm.check_booking(NOW.replace(second=0) + timedelta(minutes=6), 15, 40, NOW)
    with pytest.raises(InvalidInput) as e:
        rsm.check_booking(NOW + timedelta(minutes=4), 15, 40, NOW)
    assert e.value.code == "start_too_soon"
    with pytest.raises(InvalidInput):
        rsm.check_booking(NOW + timedelta(hours=24, minutes=1), 15, 40, NOW)
    for duration, size in ((14, 40), (481, 40), (15, 39), (15, 351)):
        with pytest.raises(InvalidInput):
            rsm.check_booking(NOW + timedelta(minutes=30), duration, size, NOW)
    with pytest.raises(InvalidInput):
        rsm.parse_start_time("tomorrow")


def test_reservation_extend_and_remove_limits() -> None:
    r = res()
    assert rsm.extend(r, 60, NOW).duration_minutes == 120
    for bad in (14, 61):
        with pytest.raises(BridgeError):
            rsm.extend(r, bad, NOW)
    with pytest.raises(Conflict):
        rsm.extend(res(duration_minutes=470), 15, NOW)  # over 480 in total
    near_end = NOW - timedelta(minutes=56)  # ends in 4 minutes 30 from the start time
    with pytest.raises(Conflict):
        rsm.extend(res(start_time=near_end), 15, NOW)
    with pytest.raises(Conflict):
        rsm.extend(res(status=ReservationStatus.COMPLETED), 15, NOW)
    rsm.check_remove(r, NOW)
    with pytest.raises(Conflict):
        rsm.check_remove(res(start_time=NOW + timedelta(minutes=4)), NOW)
    with pytest.raises(Conflict):
        rsm.check_remove(res(status=ReservationStatus.HOLDING), NOW)


def test_reservation_name_rule() -> None:
    assert v.reservation_name("a" * 47) == "a" * 47
    for bad in ("a" * 48, "", "has space", "dash-ed", "ünï"):
        with pytest.raises(InvalidInput):
            v.reservation_name(bad)


def test_options_reject_clashing_digits_and_unknown_fields() -> None:
    with pytest.raises(InvalidInput):
        parse_participant_options({"exit_digit": "1", "mute_digit": "1"})
    with pytest.raises(InvalidInput):
        parse_participant_options({"unmute_digit": "2"})
    with pytest.raises(InvalidInput):
        parse_participant_options({"mute_digit": "12"})
    with pytest.raises(InvalidInput):
        parse_participant_options({"talkr": True})
    opts = parse_participant_options({"talker": False, "name": {"say": {"text": "Ann"}}})
    assert not opts.talker and opts.name is not None and opts.name.text == "Ann"


@given(st.text(max_size=60))
def test_safe_value_never_passes_line_breaks(value: str) -> None:
    for kind in ("name", "digits", "channel", "path", "caller_id", "dial_target", "text"):
        try:
            out = safe_value(value, kind)
        except UnsafeValueError:
            continue
        assert "\r" not in out and "\n" not in out and "\x00" not in out


def test_safe_value_refuses_injection_and_traversal() -> None:
    refused: tuple[tuple[str, Kind], ...] = (
        ("cb-1\r\nAction: Originate", "name"),
        ("../../etc/passwd", "path"),
        ("1 2", "digits"),
        ("x" * 300, "path"),
        ("ünicode", "caller_id"),
    )
    for value, kind in refused:
        with pytest.raises(UnsafeValueError):
            safe_value(value, kind)
    assert safe_value("PJSIP/alice-0000001a", "channel") == "PJSIP/alice-0000001a"
