"""Pure mapping of our conference and participant options onto mod_conference.

No IO here: Conference / Participant values in, the conference application argument,
channel variables and API words out (reference/pbx-mapping.md, section 2b). Every
value that ends up on the wire passes ``safe_value`` here or in the ESL builders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bridge.core.dialing import DialTarget, parse_dial_target
from bridge.core.engine import MemberFlags
from bridge.core.ids import engine_name
from bridge.core.models import (
    Conference,
    ConferenceStatus,
    FailureReason,
    MediaItem,
    Participant,
)
from bridge.protocols import esl
from bridge.protocols.safe import UnsafeValueError, is_safe, safe_value

CONTROLS_GROUP: Final = "cb-digits"  # every key bound to the `event` action (freeswitch-conf/)
PARTICIPANT_VARIABLE: Final = "bridge_participant_id"  # found again after a bridge restart
SILENCE: Final = "silence_stream://10"  # an enter/exit sound that plays nothing
_NAME_PREFIX: Final = "cb-"
_VERSION: Final = re.compile(r"FreeSWITCH Version (\d+)\.(\d+)\.(\d+)")
# A media item names a file under the media directory: no scheme (``say:``,
# ``shell_stream://``, ``tone_stream://``...), no absolute path, no `{vars}` prefix.
_MEDIA_FILE: Final = re.compile(r"[A-Za-z0-9_./-]{1,200}")
# How dial-outs leave: a configured endpoint prefix such as ``sofia/gateway/carrier/``,
# ``sofia/external/`` or ``loopback/``. Never ``{``/``[`` (variables), ``,``/``|``
# (separators), ``$`` (expansion) or ``@`` (a host belongs to the target).
_DIAL_PREFIX: Final = re.compile(r"[A-Za-z0-9_.-]{1,40}(?:/[A-Za-z0-9_.+-]{1,40}){0,4}/")
# endconf means "this member leaving ends it" from 1.10.10 on; before, it waited for
# every endconf member (that older meaning is mandatory_member_endconf today).
_ENDCONF_SINCE: Final = (1, 10, 10)


def conference_name(conference: Conference) -> str:
    return safe_value(engine_name(conference.id), "name")


def conference_id_of(name: str) -> str | None:
    """Undo ``engine_name``: ``cb-cf-xxxx`` -> ``cf_xxxx``; None for foreign conferences."""
    if not name.startswith(_NAME_PREFIX):
        return None
    rest = name[len(_NAME_PREFIX) :]
    prefix, sep, tail = rest.partition("-")
    if not sep or not prefix or not tail or "-" in tail:
        return None
    return f"{prefix}_{tail}"


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.search(text)
    if match is None:
        return None
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def end_flag(version: tuple[int, int, int] | None) -> str | None:
    """The member flag for destroy_on_exit on this FreeSWITCH, or None.

    None on releases before 1.10.10 (or an unknown version): there ``endconf`` waits for
    every endconf member, so the bridge-side end-on-exit (core's EndConference) does it.
    """
    if version is not None and version >= _ENDCONF_SINCE:
        return "endconf"
    return None


def media_path(item: MediaItem, media_root: str | None) -> str | None:
    """The file FreeSWITCH plays for a play item; None for say items."""
    if item.kind != "play" or item.file is None:
        return None
    file = item.file
    if (
        not isinstance(file, str)
        or _MEDIA_FILE.fullmatch(file) is None
        or file.startswith(("/", "-"))
        or ".." in file.split("/")
    ):
        raise UnsafeValueError("path", file)
    path = file if media_root is None else f"{media_root.rstrip('/')}/{file}"
    return safe_value(path, "path")


def media_root(setting: str, media_dir: Path) -> str | None:
    """The ``esl_media_dir`` setting -> the prefix FreeSWITCH gets for play items.

    Empty: the bridge's media_dir (FreeSWITCH on the same host); an absolute path: the same
    files where FreeSWITCH sees them; ``sounds``: relative names, which FreeSWITCH resolves
    under its sound_prefix (the admin copied the files there under the same names).
    """
    if setting == "":
        return safe_value(str(media_dir.resolve()), "path")
    if setting == "sounds":
        return None
    if not setting.startswith("/"):
        raise ValueError(f"esl_media_dir must be empty, 'sounds' or an absolute path: {setting!r}")
    return safe_value(setting.rstrip("/") or "/", "path")


def lobby_media(conference: Conference, p: Participant, media_root: str | None) -> str | None:
    """Per-participant wait media needs the lobby: the conference MOH is one per conference."""
    if conference.status == ConferenceStatus.IN_PROGRESS or p.options.start_on_entry:
        return None
    item = p.options.while_stopped_media
    return None if item is None else media_path(item, media_root)


def member_flags(conference: Conference, p: Participant, end: str | None) -> tuple[str, ...]:
    """``+flags{...}``: member flags, plus the conference flag wait-mod for its creator."""
    flags: list[str] = []
    if p.muted or not p.options.talker:
        flags.append("mute")
    if p.deaf or not p.options.listen:
        flags.append("deaf")
    if p.options.start_on_entry:
        flags.append("moderator")  # the first moderator clears wait-mod: the latched start
    elif conference.status != ConferenceStatus.IN_PROGRESS:
        flags.append("wait-mod")  # applies only if this member creates the conference
    if p.options.destroy_on_exit and end is not None:
        flags.append(end)
    return tuple(flags)


def join_target(conference: Conference, p: Participant, profile: str, end: str | None) -> str:
    return esl.conference_target(
        conference_name(conference), profile, member_flags(conference, p, end)
    )


def channel_variables(
    conference: Conference, p: Participant, media_root: str | None
) -> dict[str, str]:
    """Variables set on the member's channel before it joins (all values pass safe_value)."""
    out: dict[str, str] = {
        PARTICIPANT_VARIABLE: safe_value(p.id, "token"),
        "conference_controls": CONTROLS_GROUP,
        "conference_moderator_controls": CONTROLS_GROUP,
        # keep the wait music running across joins instead of restarting it each time
        "conference_permanent_wait_mod_moh": "true",
    }
    if not (p.options.beep_on_entry and conference.play_beep.on_entry):
        # not conference_silent_entry: with it this FreeSWITCH sends no add-member at all
        out["conference_enter_sound"] = SILENCE
    if not conference.play_beep.on_exit:
        out["conference_exit_sound"] = SILENCE
    wait = conference.wait_media or p.options.while_stopped_media
    moh = None if wait is None else media_path(wait, media_root)
    if moh is not None:
        out["conference_moh_sound"] = moh  # used by the creator only, when the profile has none
    if conference.max_participants is not None:
        out["conference_max_members"] = safe_value(conference.max_participants, "integer")
    if p.call_options is not None and p.call_options.next_page:
        out["hangup_after_conference"] = "false"  # the call goes on to its next page
    return out


def ends_with_conference(p: Participant) -> bool:
    """Whether the call must be hung up when it leaves the conference for good."""
    return not (p.call_options is not None and p.call_options.next_page)


@dataclass(frozen=True, slots=True)
class Announcement:
    """One API call for one media item: to the conference, or to one member."""

    command: esl.ApiCommand
    file: str | None  # what play-file(-member)-done will name; None for say


def announcements(
    name: str, media: tuple[MediaItem, ...], member_id: int | None, media_root: str | None
) -> list[Announcement]:
    out: list[Announcement] = []
    for item in media:
        path = media_path(item, media_root)
        if path is not None:
            out.append(Announcement(esl.conf_play(name, path, member_id), path))
        elif item.text:
            # speech: letters, digits, spaces and . , ? ! : ; - only, never `$`, quotes,
            # braces or `|` (ESL's api path expands ${...} in every argument)
            text = safe_value(item.text, "speech")
            cmd = (
                esl.conf_say(name, text)
                if member_id is None
                else esl.conf_saymember(name, member_id, text)
            )
            out.append(Announcement(cmd, None))
    return out


def dial_prefix(prefix: str) -> str:
    """The configured endpoint prefix, checked once (UnsafeValueError when unusable)."""
    if not isinstance(prefix, str) or _DIAL_PREFIX.fullmatch(prefix) is None:
        raise UnsafeValueError("dial_target", prefix)
    return prefix


def dial_target(to: str) -> DialTarget:
    """``to`` re-parsed (number, SIP user or sip: URI); UnsafeValueError otherwise."""
    try:
        return parse_dial_target(to)
    except ValueError:
        raise UnsafeValueError("dial_target", to) from None


def dial_endpoint(to: str, prefix: str) -> str:
    """The originate endpoint: the configured ``prefix`` + the re-parsed target.

    The target only says *whom* to call (``+4420...``, ``alice``, ``sip:bob@host:port``);
    the prefix (configuration) says how the call leaves. Nothing else passes: a ``to``
    holding a FreeSWITCH dial string (``sofia/...``, ``loopback/...``, ``{var=x}...``)
    is refused, so a tenant can never choose a trunk or set a channel variable.
    """
    target = dial_target(to)
    if target.kind == "sip":
        dest = target.hostport if target.user is None else f"{target.user}@{target.hostport}"
    else:
        assert target.user is not None
        dest = target.user
    return safe_value(dial_prefix(prefix) + dest, "dial_target")


def callee_number(to: str) -> str | None:
    """The callee id number for a dial-out: the number or user part of the target."""
    target = dial_target(to)
    if target.user is None or not is_safe(target.user, "caller_id"):
        return None
    return target.user


_CAUSES: Final[dict[str, FailureReason]] = {
    "NO_ANSWER": FailureReason.NO_ANSWER,
    "NO_USER_RESPONSE": FailureReason.NO_ANSWER,
    "ALLOTTED_TIMEOUT": FailureReason.NO_ANSWER,
    "RECOVERY_ON_TIMER_EXPIRE": FailureReason.NO_ANSWER,
    "PROGRESS_TIMEOUT": FailureReason.NO_ANSWER,
    "USER_BUSY": FailureReason.BUSY,
    "CALL_REJECTED": FailureReason.REJECTED,
    "USER_NOT_REGISTERED": FailureReason.REJECTED,
    "UNALLOCATED_NUMBER": FailureReason.REJECTED,
    "NO_ROUTE_DESTINATION": FailureReason.REJECTED,
    "ORIGINATOR_CANCEL": FailureReason.CANCELLED,
    "LOSE_RACE": FailureReason.CANCELLED,
}


def failure_reason(body: str) -> FailureReason:
    """``-ERR NO_ANSWER`` (an originate result) -> our reason."""
    cause = body.strip().removeprefix("-ERR").strip().split(" ", 1)[0]
    return _CAUSES.get(cause, FailureReason.ERROR)


def has_speech(interface_types: str) -> bool:
    """``show interface_types`` lists a ``speech`` row when a TTS module is loaded."""
    return any(line.split(",", 1)[0] == "speech" for line in interface_types.splitlines())


def member_flags_of(flags: object, p: Participant) -> MemberFlags | None:
    """Our flags from a ``conference json_list`` member's ``flags``; None when unreadable.

    hold also mutes and deafens on FreeSWITCH, so while on hold the participant's own
    muted and deaf flags are ours, as are the flags a talker=false / listen=false member
    always has.
    """
    if not isinstance(flags, dict):
        return None
    speak, hear, hold = flags.get("can_speak"), flags.get("can_hear"), flags.get("hold")
    if not (isinstance(speak, bool) and isinstance(hear, bool) and isinstance(hold, bool)):
        return None
    muted = (not speak) if (p.options.talker and not hold) else p.muted
    deaf = (not hear) if (p.options.listen and not hold) else p.deaf
    return MemberFlags(muted=muted, deaf=deaf, hold=hold)
