"""The pure option → CONFBRIDGE() mapping and the dial-in helpers (no Asterisk needed)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bridge.core.admission import Outcome
from bridge.core.models import (
    CallOptions,
    Conference,
    FailureReason,
    LeaveReason,
    MediaItem,
    Participant,
    ParticipantOptions,
    PlayBeep,
)
from bridge.pbx.asterisk import mapping
from bridge.pbx.asterisk.dialin import collected_digits, confbridge_command
from bridge.protocols.agi import parse_response
from bridge.protocols.safe import UnsafeValueError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _conf(**kw: object) -> Conference:
    return replace(Conference("cf_x", "ac_x", "n", NOW, NOW), **kw)  # type: ignore[arg-type]


def _p(**opts: object) -> Participant:
    return Participant("pa_x", "cf_x", "ac_x", NOW, NOW, options=ParticipantOptions(**opts))  # type: ignore[arg-type]


def _settings(conf: Conference, p: Participant, **kw: object) -> dict[str, str]:
    return dict(s.checked() for s in mapping.profile_settings(conf, p, **kw))  # type: ignore[arg-type]


def test_templates_come_first_and_defaults_beep() -> None:
    out = mapping.profile_settings(_conf(), _p())
    assert [(s.type, s.option) for s in out][:1] == [("bridge", "template")]
    got = _settings(_conf(), _p())
    assert got["CONFBRIDGE(user,template)"] == "cb_user"
    assert got["CONFBRIDGE(bridge,sound_join)"] == "confbridge-join"
    assert got["CONFBRIDGE(bridge,sound_leave)"] == "confbridge-leave"
    assert got["CONFBRIDGE(bridge,sound_kicked)"] == "silence/1"
    assert got["CONFBRIDGE(user,startmuted)"] == "no"
    assert got["CONFBRIDGE(user,quiet)"] == "no"


@pytest.mark.parametrize(
    ("beep", "join", "leave"),
    [
        (PlayBeep.NEVER, "silence/1", "silence/1"),
        (PlayBeep.ENTRY_ONLY, "confbridge-join", "silence/1"),
        (PlayBeep.EXIT_ONLY, "silence/1", "confbridge-leave"),
    ],
)
def test_play_beep(beep: PlayBeep, join: str, leave: str) -> None:
    got = _settings(_conf(play_beep=beep), _p())
    assert got["CONFBRIDGE(user,quiet)"] == ("yes" if beep == PlayBeep.NEVER else "no")
    assert (got["CONFBRIDGE(bridge,sound_join)"], got["CONFBRIDGE(bridge,sound_leave)"]) == (
        join,
        leave,
    )


def test_listener_quiet_capacity_and_max_duration() -> None:
    p = replace(
        _p(talker=False, beep_on_entry=False), call_options=CallOptions(minutes_max_call_duration=2)
    )
    got = _settings(_conf(), p, capacity=40)
    assert got["CONFBRIDGE(user,startmuted)"] == "yes"
    assert got["CONFBRIDGE(user,quiet)"] == "yes"
    assert got["CONFBRIDGE(bridge,max_members)"] == "42"
    assert got["CONFBRIDGE(user,timeout)"] == "120"


def test_media_names_and_playlists() -> None:
    name = MediaItem("play", file="greetings/welcome.wav")
    joined = MediaItem("play", file="confbridge-has-joined.gsm")
    say = MediaItem("say", text="hello")
    p = _p(name=name, has_joined_message=joined, has_left_message=say)
    assert mapping.join_announcement(p) == "greetings/welcome&confbridge-has-joined"
    assert mapping.leave_announcement(p) == "greetings/welcome"
    assert mapping.playlist([say]) is None
    with pytest.raises(UnsafeValueError):
        mapping.playlist([MediaItem("play", file="a\r\nb")])


def test_dial_channel_and_failures() -> None:
    assert mapping.dial_channel("sip:bob@10.0.0.1:5070", "trunk") == (
        "PJSIP/trunk/sip:bob@10.0.0.1:5070"
    )
    assert mapping.dial_channel("1001", "trunk") == "PJSIP/1001@trunk"
    assert mapping.dial_channel("alice", "trunk") == "PJSIP/alice@trunk"
    # the target never names the endpoint (or a technology): chan_pjsip would use it
    for bad in (
        "a b", "x\r\ny", "ü", "other/sip:bob@10.0.0.1", "PJSIP/other", "1001@other",
        "x/sip:bob@10.0.0.1", "sip:bob@10.0.0.1;transport=tcp", "sip:bob@h&PJSIP/other",
    ):  # fmt: skip
        with pytest.raises(UnsafeValueError):
            mapping.dial_channel(bad, "trunk")
    with pytest.raises(UnsafeValueError):
        mapping.dial_channel("1001", "trunk/other")
    assert mapping.originate_failure("5") == FailureReason.BUSY
    assert mapping.originate_failure("0", "17") == FailureReason.BUSY
    assert mapping.originate_failure("3") == FailureReason.NO_ANSWER
    assert mapping.originate_failure(None) == FailureReason.ERROR
    assert mapping.leave_reason("TIMEOUT") == LeaveReason.TIMEOUT
    assert mapping.leave_reason("HANGUP") is None
    assert mapping.HANGUP_CAUSE[Outcome.FULL] == 34


def test_agi_encoding_of_settings_and_pins() -> None:
    setting = mapping.ProfileSetting("user", "startmuted", "yes")
    assert confbridge_command(setting) == b"SET VARIABLE CONFBRIDGE(user,startmuted) yes\n"
    for bad in (
        mapping.ProfileSetting("user", "quiet\r\nHANGUP", "yes"),
        mapping.ProfileSetting("user", "quiet", "yes no"),
    ):
        with pytest.raises(UnsafeValueError):
            confbridge_command(bad)
    assert collected_digits(parse_response("200 result=0123")) == "0123"
    assert collected_digits(parse_response("200 result= (timeout)")) is None
    assert collected_digits(parse_response("511 Command Not Permitted")) is None
