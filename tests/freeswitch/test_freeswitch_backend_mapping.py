"""The pure option mapping: flags, variables, version semantics, names."""

from __future__ import annotations

import pytest
from bridge_testing.engine_fixtures import make_conference, make_participant

from bridge.core.ids import engine_name
from bridge.core.models import (
    CallOptions,
    ConferenceStatus,
    FailureReason,
    MediaItem,
    ParticipantOptions,
    PlayBeep,
)
from bridge.pbx.freeswitch import mapping
from bridge.protocols.safe import UnsafeValueError

pytestmark = pytest.mark.freeswitch


def test_version_picks_the_end_flag() -> None:
    recorded = "FreeSWITCH Version 1.11.3-dev~64bit ( 64bit)\n"  # 20-control, step 4
    assert mapping.parse_version(recorded) == (1, 11, 3)
    assert mapping.end_flag(mapping.parse_version(recorded)) == "endconf"
    assert mapping.end_flag((1, 10, 10)) == "endconf"
    # before 1.10.10 endconf waits for every endconf member: core's EndConference does it
    assert mapping.end_flag((1, 10, 9)) is None
    assert mapping.end_flag(mapping.parse_version("garbage")) is None


def test_member_flags_follow_the_options() -> None:
    waiting = make_conference(status=ConferenceStatus.POPULATED)
    started = make_conference(status=ConferenceStatus.IN_PROGRESS)
    listener = make_participant(
        waiting, options=ParticipantOptions(talker=False, listen=False, start_on_entry=False)
    )
    assert mapping.member_flags(waiting, listener, "endconf") == ("mute", "deaf", "wait-mod")
    assert mapping.member_flags(started, listener, "endconf") == ("mute", "deaf")
    boss = make_participant(waiting, options=ParticipantOptions(destroy_on_exit=True))
    assert mapping.member_flags(waiting, boss, "endconf") == ("moderator", "endconf")
    assert mapping.member_flags(waiting, boss, None) == ("moderator",)
    muted = make_participant(started, muted=True)
    target = mapping.join_target(started, muted, "cb", None)
    assert target == f"{engine_name(started.id)}@cb+flags{{mute|moderator}}"


def test_channel_variables_for_beeps_moh_and_next_page() -> None:
    conf = make_conference(
        play_beep=PlayBeep.ENTRY_ONLY,
        wait_media=MediaItem("play", file="music/wait.wav"),
        max_participants=12,
    )
    p = make_participant(
        conf,
        options=ParticipantOptions(beep_on_entry=False),
        call_options=CallOptions(next_page="https://app.example/next"),
    )
    got = mapping.channel_variables(conf, p, "/srv/media")
    assert got["conference_enter_sound"] == mapping.SILENCE
    assert got["conference_exit_sound"] == mapping.SILENCE
    assert got["conference_moh_sound"] == "/srv/media/music/wait.wav"
    assert got["conference_max_members"] == "12"
    assert got["hangup_after_conference"] == "false"
    assert got["bridge_participant_id"] == p.id
    assert not mapping.ends_with_conference(p)
    plain = mapping.channel_variables(make_conference(), make_participant(conf), None)
    assert "conference_enter_sound" not in plain and "hangup_after_conference" not in plain


def test_lobby_only_for_own_wait_media_before_the_start() -> None:
    wait = MediaItem("play", file="w.wav")
    own = ParticipantOptions(start_on_entry=False, while_stopped_media=wait)
    waiting = make_conference(status=ConferenceStatus.POPULATED)
    assert mapping.lobby_media(waiting, make_participant(waiting, options=own), None) == "w.wav"
    started = make_conference(status=ConferenceStatus.IN_PROGRESS)
    assert mapping.lobby_media(started, make_participant(started, options=own), None) is None
    assert mapping.lobby_media(waiting, make_participant(waiting), None) is None


def test_names_round_trip_and_foreign_names_are_not_ours() -> None:
    conf = make_conference()
    assert mapping.conference_id_of(engine_name(conf.id)) == conf.id
    for foreign in ("room1", "cb-", "cb-x", "cb-cf-a-b", "3000"):
        assert mapping.conference_id_of(foreign) is None


def test_dial_endpoints_and_failure_causes() -> None:
    gw = "sofia/gateway/gw/"
    assert mapping.dial_endpoint("+4420", gw) == "sofia/gateway/gw/+4420"
    assert mapping.dial_endpoint("sip:bob@example.org", "sofia/external/") == (
        "sofia/external/bob@example.org"
    )
    assert mapping.dial_endpoint("sip:Bob@Example.ORG:5070", gw) == (
        "sofia/gateway/gw/Bob@example.org:5070"
    )
    assert mapping.dial_endpoint("1001", "user/") == "user/1001"
    assert mapping.dial_endpoint("alice.smith", "loopback/") == "loopback/alice.smith"
    assert mapping.callee_number("sip:bob@example.org") == "bob"
    assert mapping.callee_number("sip:example.org") is None
    # the target never chooses the trunk, never sets a variable, never expands
    for to in (
        "sofia/gateway/other/+4420",
        "loopback/9999",
        "user/1001",
        "{absolute_codec_string=PCMU}1001",
        "1001,sofia/gateway/gw2/1002",
        "1001|loopback/x",
        "${system(touch /tmp/x)}",
        "sip:bob@example.org;transport=tcp",
        "sip:bob@example.org?X-H=1",
        "sip:+44@[2001:db8::1]",  # a valid target, but no IPv6 literal in a dial string
        "",
    ):
        with pytest.raises(UnsafeValueError):
            mapping.dial_endpoint(to, gw)
    # and the configured prefix is a plain endpoint prefix
    for prefix in ("", "sofia/gateway/gw", "{x=y}sofia/", "sofia/$${gw}/", "a,b/", "s/@h/"):
        with pytest.raises(UnsafeValueError):
            mapping.dial_endpoint("1001", prefix)
    assert mapping.failure_reason("-ERR NO_ANSWER\n") == FailureReason.NO_ANSWER
    assert mapping.failure_reason("-ERR USER_BUSY\n") == FailureReason.BUSY
    assert mapping.failure_reason("-ERR CALL_REJECTED\n") == FailureReason.REJECTED
    assert mapping.failure_reason("-ERR SOMETHING_ELSE\n") == FailureReason.ERROR
