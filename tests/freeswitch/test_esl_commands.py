"""Command builders: byte-identical to what was recorded, and injection-proof."""

from __future__ import annotations

import re

import pytest
from bridge_testing.fake_esl import raw_stream
from esl_recorded import REFUSED_RECORDED, build, recorded_commands

from bridge.protocols import esl
from bridge.protocols.safe import UnsafeValueError


def test_control_connection_commands_are_byte_identical() -> None:
    commands = recorded_commands("20-control")
    assert commands[0] == esl.auth("ClueCon")
    assert commands[1] == esl.event("plain", "BACKGROUND_JOB")
    assert commands[-1] == esl.exit_command()
    refused = []
    for recorded in commands[2:-1]:
        line = recorded[:-2].decode()
        if line in REFUSED_RECORDED:
            with pytest.raises(UnsafeValueError):
                build(line)
            refused.append(line)
            continue
        assert build(line) == recorded, line
    assert tuple(refused) == REFUSED_RECORDED


def test_say_with_spaces_is_one_text_argument() -> None:
    assert (
        esl.api(esl.conf_say("room1", "hello world")) == b"api conference room1 say hello world\n\n"
    )


@pytest.mark.parametrize(
    ("name", "built"),
    [
        ("01-bad-auth", [esl.auth("WrongPassword")]),
        (
            "02-command-before-auth",
            [
                esl.api(esl.status()),
                esl.auth("ClueCon"),
                esl.api(esl.conference_list_all()),
                esl.exit_command(),
            ],
        ),
        (
            "10-events-plain-ALL",
            [esl.auth("ClueCon"), esl.event("plain", "ALL"), esl.exit_command()],
        ),
        (
            "11-events-plain-conference-maintenance",
            [
                esl.auth("ClueCon"),
                esl.event("plain", "CUSTOM", "conference::maintenance"),
                esl.exit_command(),
            ],
        ),
        (
            "12-events-json-conference-maintenance",
            [
                esl.auth("ClueCon"),
                esl.event("json", "CUSTOM", "conference::maintenance"),
                esl.exit_command(),
            ],
        ),
        (
            "13-events-xml-conference-maintenance",
            [
                esl.auth("ClueCon"),
                esl.event("xml", "CUSTOM", "conference::maintenance"),
                esl.exit_command(),
            ],
        ),
        (
            "30-outbound-socket",
            [
                esl.connect(),
                esl.myevents(),
                esl.linger(),
                esl.sendmsg_execute("answer"),
                esl.sendmsg_execute("conference", esl.conference_target("room1")),
                esl.exit_command(),
            ],
        ),
    ],
)
def test_other_connections_are_byte_identical(name: str, built: list[bytes]) -> None:
    assert b"".join(built) == raw_stream(name, "app2fs")


def test_recorded_alice_originate_from_parts() -> None:
    cmd = esl.originate(
        "loopback/tone/default",
        app="conference",
        app_arg=esl.conference_target("room1", flags=["moderator", "endconf"]),
        variables={
            "origination_uuid": "ff5ab2d7-ffb6-44e7-8367-2590afb06f45",
            "origination_caller_id_name": "Alice",
            "origination_caller_id_number": "1001",
            "origination_callee_id_name": "Alice",
            "origination_callee_id_number": "1001",
        },
    )
    assert esl.api(cmd) in recorded_commands("20-control")


def test_bgapi_with_our_job_uuid() -> None:
    data = esl.bgapi(esl.conf_list("room1"), job_uuid="1b95c1a4-658b-4ac4-b71f-fe3ef624ec4f")
    assert data == (
        b"bgapi conference room1 list\nJob-UUID: 1b95c1a4-658b-4ac4-b71f-fe3ef624ec4f\n\n"
    )


def test_other_builders() -> None:
    assert esl.api(esl.conf_recording("room1", "pause", "/r/a.wav")) == (
        b"api conference room1 recording pause /r/a.wav\n\n"
    )
    assert (
        esl.api(esl.conf_enter_sound("room1", "off")) == b"api conference room1 enter_sound off\n\n"
    )
    assert esl.api(esl.conf_exit_sound("room1", "/s/x.wav")) == (
        b"api conference room1 exit_sound file /s/x.wav\n\n"
    )
    assert esl.api(esl.conf_set_max_members("room1", 40)) == (
        b"api conference room1 set max_members 40\n\n"
    )
    assert esl.api(esl.conf_moh("room1", "toggle")) == b"api conference room1 moh toggle\n\n"
    assert esl.api(esl.uuid_transfer("abc-1", "1000", "XML", "default")) == (
        b"api uuid_transfer abc-1 1000 XML default\n\n"
    )
    assert (
        esl.sendmsg_hangup() == b"sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING\n\n"
    )
    assert esl.filter_events("Unique-ID", "abc") == b"filter Unique-ID abc\n\n"
    assert esl.nolinger() == b"nolinger\n\n"


@pytest.mark.parametrize(
    "attack",
    [
        lambda: esl.auth("ClueCon\n\napi hupall"),
        lambda: esl.event("plain", "ALL\n\napi hupall"),
        lambda: esl.api(esl.conf_mute("room1\napi hupall", 1)),
        lambda: esl.api(esl.conf_play("room1", "/x.wav\n\nexit")),
        lambda: esl.api(esl.conf_play("room1", "../../etc/passwd")),
        lambda: esl.api(esl.conf_say("room1", "hi\r\nexit")),
        lambda: esl.api(esl.command("status", "a b")),
        lambda: esl.api(esl.originate("loopback/x", app="park", variables={"a": "b,c=d"})),
        lambda: esl.api(esl.originate("loopback/x", app="conference", app_arg="r)&hupall(")),
        lambda: esl.bgapi(esl.status(), job_uuid="x\nContent-Length: 5"),
        lambda: esl.sendmsg_execute("playback", "a\nexecute-app-name: hangup"),
        lambda: esl.api(esl.conf_say("room1", "${system(touch /tmp/x)}")),
        lambda: esl.api(esl.conf_saymember("room1", 1, "it's {x}|y")),
        lambda: esl.api(esl.command("uuid_getvar", "u", "a,b")),
        lambda: esl.api(esl.command("status", "$${hostname}")),
        lambda: esl.filter_events("Unique-ID", "a{b}"),
        lambda: esl.sendmsg_execute("set", "a=b,c"),
        lambda: esl.sendmsg_execute("conference", "r@cb+flags{mute}|x"),
        lambda: esl.sendmsg_execute("redirect", "sip:a@b;transport=tcp"),
        lambda: esl.api(esl.originate("loopback/x", app="conference", app_arg="r@cb,x")),
        lambda: esl.api(esl.originate("loopback/x", app="park", app_arg="${log(CRIT x)}")),
        lambda: esl.conference_target("r", flags=["mute"] * 11),
    ],
)
def test_unsafe_values_are_refused(attack: object) -> None:
    with pytest.raises((UnsafeValueError, ValueError)):
        attack()  # type: ignore[operator]


def test_no_builder_emits_a_bare_newline_inside_a_line() -> None:
    for line in recorded_commands("20-control"):
        assert re.fullmatch(rb"[^\n]+(\n[^\n]+)*\n\n", line)
