"""Command builders: byte-identical to what was recorded, and injection-proof."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

import pytest
from fake_esl import raw_stream

from bridge.protocols import esl
from bridge.protocols.safe import UnsafeValueError


def recorded_commands(name: str) -> list[bytes]:
    data = raw_stream(name, "app2fs")
    # no recorded command carries a body, so each ends at its blank line
    return [part + b"\n\n" for part in data.split(b"\n\n") if part]


def build(line: str) -> bytes:
    """Rebuild one recorded api/bgapi line through the typed builders."""
    verb, _, rest = line.partition(" ")
    make = esl.api if verb == "api" else esl.bgapi
    words = rest.split(" ")
    if words[0] == "originate":
        vars_, _, endpoint = words[1][1:].partition("}")
        variables = dict(v.split("=", 1) for v in vars_.split(","))
        app, _, arg = words[2][1:].partition("(")
        return make(esl.originate(endpoint, app=app, app_arg=arg[:-1] or None, variables=variables))
    if words[0] == "conference" and len(words) > 2:
        conf, sub, args = words[1], words[2], words[3:]
        typed: dict[str, Callable[[], esl.ApiCommand | None]] = {
            "list": lambda: esl.conf_list(conf) if not args else None,
            "json_list": lambda: esl.conf_json_list(conf, compact=args == ["compact"]),
            "mute": lambda: esl.conf_mute(conf, _sel(args[0]), quiet=args[1:] == ["quiet"]),
            "unmute": lambda: esl.conf_unmute(conf, _sel(args[0]), quiet=args[1:] == ["quiet"]),
            "deaf": lambda: esl.conf_deaf(conf, _sel(args[0])),
            "undeaf": lambda: esl.conf_undeaf(conf, _sel(args[0])),
            "kick": lambda: esl.conf_kick(conf, _sel(args[0])),
            "hup": lambda: esl.conf_hup(conf, _sel(args[0])),
            "hold": lambda: esl.conf_hold(conf, _sel(args[0])),
            "unhold": lambda: esl.conf_unhold(conf, _sel(args[0])),
            "play": lambda: esl.conf_play(
                conf,
                args[0],
                member=int(args[1]) if args[1:] and args[1].isdigit() else None,
                async_play=args[1:] == ["async"],
            ),
            "say": lambda: esl.conf_say(conf, " ".join(args)),
            "saymember": lambda: esl.conf_saymember(conf, int(args[0]), " ".join(args[1:])),
            "record": lambda: esl.conf_record(conf, args[0]),
            "norecord": lambda: esl.conf_norecord(conf, args[0]),
            "chkrecord": lambda: esl.conf_chkrecord(conf),
            "lock": lambda: esl.conf_lock(conf),
            "unlock": lambda: esl.conf_unlock(conf),
            "dial": lambda: esl.conf_dial(conf, *args),
            "bgdial": lambda: esl.conf_bgdial(conf, *args),
            "transfer": lambda: esl.conf_transfer(conf, args[0], [int(a) for a in args[1:]]),
            "get": lambda: esl.conf_get(conf, args[0]),
            "setvar": lambda: esl.conf_setvar(conf, args[0], args[1]),
            "dtmf": lambda: esl.conf_dtmf(conf, _sel(args[0]), args[1]),
            "stop": lambda: esl.conf_stop(conf, args[0]),  # type: ignore[arg-type]
        }
        try:
            cmd = typed.get(sub, lambda: None)()
        except IndexError:  # a recorded usage error such as a bare "mute"
            cmd = None
        except UnsafeValueError:
            # the typed builder is stricter than the recording: tone_stream:// is no path
            assert "tone_stream://" in line, line
            cmd = None
        if cmd is not None:
            return make(cmd)
    if words == ["conference", "list"]:
        return make(esl.conference_list_all())
    if words == ["conference", "json_list"]:
        return make(esl.conference_list_all(json_format=True))
    if words == ["version"]:
        return make(esl.version())
    if words[0] == "uuid_kill":
        return make(esl.uuid_kill(*words[1:]))
    if words[0] == "conference" and len(words) > 2:
        return make(esl.conference(words[1], words[2], *words[3:]))
    return make(esl.command(words[0], *words[1:]))


def _sel(word: str) -> esl.MemberSelector:
    return int(word) if word.isdigit() else word  # type: ignore[return-value]


# Recorded lines whose words our builders now refuse on purpose: `,` and `;` (and the
# `%(...)` of tone_stream) are separators FreeSWITCH parses, so no word may hold them.
REFUSED_RECORDED: Final = (
    "api conference room1 list delim ,",
    "api conference room1 play tone_stream://%(300,0,900);loops=20 async",
)


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
