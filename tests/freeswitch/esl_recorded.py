"""The recorded ESL commands (tests/data) and their rebuilding through our typed builders:
shared by the command tests and the connection tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from bridge_testing.fake_esl import raw_stream

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
