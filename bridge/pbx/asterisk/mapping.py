"""Pure mapping from our options to ConfBridge: dynamic profile settings, media, causes.

No IO. The FastAGI handler writes each :class:`ProfileSetting` as
``SET VARIABLE CONFBRIDGE(<type>,<option>) <value>`` before the call reaches
``ConfBridge()``; the dynamic profile then lives on the channel and is reused when the
call is Redirected back into the conference (from the lobby or from hold).
See dialplan/README.md for what ConfBridge cannot express exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from bridge.core.admission import Outcome
from bridge.core.dialing import DialTarget, parse_dial_target
from bridge.core.models import (
    Conference,
    FailureReason,
    LeaveReason,
    MediaItem,
    Participant,
    PlayBeep,
)
from bridge.protocols.safe import Kind, UnsafeValueError, safe_value

BRIDGE_TEMPLATE: Final = "cb_bridge"
USER_TEMPLATE: Final = "cb_user"
# A real, silent file: an empty CONFBRIDGE(bridge,sound_*) falls back to the default sound.
SILENCE: Final = "silence/1"
JOIN_SOUND: Final = "confbridge-join"
LEAVE_SOUND: Final = "confbridge-leave"
# Room for the internal members (announcer, recorder) above the participant capacity.
INTERNAL_MEMBERS: Final = 2
AUDIO_EXTENSIONS: Final = (".wav", ".gsm", ".ulaw", ".alaw", ".sln", ".g722", ".mp3")

# A sound Asterisk plays: relative (no leading / . -), no scheme (Playback fetches
# http:// URLs through res_http_media_cache), no parent segment. It ends up inside
# Playback(${...}), which splits on `,` (options) and `&` (files) and must never see
# `$`, quotes, parentheses or brackets: none of them can be written here.
_SOUND: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}")
# A playlist is sounds joined by `&`, nothing else.
_PLAYLIST: Final = re.compile(rf"{_SOUND.pattern}(?:&{_SOUND.pattern}){{0,15}}")
# A recording file for MixMonitor(${BRIDGE_RECORD_FILE}): its third argument is a shell
# command, so no `,`, and no expansion or quoting characters either.
_RECORD_FILE: Final = re.compile(r"/?[A-Za-z0-9_][A-Za-z0-9_./-]{0,254}")
# The Originate channel built from a DialTarget: PJSIP/<user>@<endpoint> or
# PJSIP/<endpoint>/sip:[user@]host[:port] (brackets only around an IPv6 host).
_ENDPOINT: Final = re.compile(r"[A-Za-z0-9_-]{1,80}")
_PJSIP_CHANNEL: Final = re.compile(
    r"PJSIP/(?:\+?[A-Za-z0-9][A-Za-z0-9._-]{0,39}@[A-Za-z0-9_-]{1,80}"
    r"|[A-Za-z0-9_-]{1,80}/sip:(?:\+?[A-Za-z0-9][A-Za-z0-9._-]{0,63}@)?"
    r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9a-fA-F:.]{2,45}\])(?::[0-9]{1,5})?)"
)
# A divert target written into a 302 Contact by Transfer(): a full sip: URI only. A bare
# name would be looked up as a PJSIP endpoint by chan_pjsip (and its contact used).
_DIVERT_URI: Final = re.compile(
    r"sip:(?:\+?[A-Za-z0-9][A-Za-z0-9._-]{0,63}@)?"
    r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9a-fA-F:.]{2,45}\])(?::[0-9]{1,5})?"
)

# Q.850 causes for refusals before answer; chan_pjsip turns them into these SIP codes.
HANGUP_CAUSE: Final[dict[Outcome, int]] = {
    Outcome.UNKNOWN: 1,  # unallocated number -> 404
    Outcome.WRONG_PIN: 21,  # call rejected -> 403
    Outcome.BUSY: 17,  # user busy -> 486
    Outcome.FULL: 34,  # no circuit available -> 503
    Outcome.NEED_PIN: 21,
}

# OriginateResponse "Reason" (the last control frame seen) -> why a dial-out failed.
ORIGINATE_FAILURE: Final[dict[str, FailureReason]] = {
    "0": FailureReason.ERROR,  # could not dial at all
    "1": FailureReason.REJECTED,  # hung up before answer
    "3": FailureReason.NO_ANSWER,  # rang until the answer timeout
    "5": FailureReason.BUSY,
    "8": FailureReason.REJECTED,  # congestion
}

# Q.850 hangup cause of an unanswered dial-out (OriginateResponse often says only "0").
CAUSE_FAILURE: Final[dict[str, FailureReason]] = {
    "17": FailureReason.BUSY,
    "18": FailureReason.NO_ANSWER,
    "19": FailureReason.NO_ANSWER,
    "21": FailureReason.REJECTED,
    "1": FailureReason.REJECTED,  # unallocated number
    "3": FailureReason.REJECTED,  # no route
}

# CONFBRIDGE_RESULT (from our UserEvent after ConfBridge()) -> why the member left.
LEAVE_RESULT: Final[dict[str, LeaveReason | None]] = {
    "HANGUP": None,
    "KICKED": LeaveReason.KICKED,
    "ENDMARKED": LeaveReason.CONFERENCE_ENDED,
    "DTMF": LeaveReason.EXIT_DIGIT,
    "TIMEOUT": LeaveReason.TIMEOUT,
    "FAILED": None,
}


@dataclass(frozen=True, slots=True)
class ProfileSetting:
    """One ``CONFBRIDGE(type,option)=value``; ``kind`` is the value's allow-list."""

    type: str  # "bridge" | "user"
    option: str
    value: str
    kind: Kind = "name"

    def checked(self) -> tuple[str, str]:
        """``("CONFBRIDGE(type,option)", value)`` with every part through safe_value."""
        name = f"CONFBRIDGE({safe_value(self.type, 'name')},{safe_value(self.option, 'name')})"
        return name, safe_value(self.value, self.kind)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def profile_settings(
    conf: Conference, p: Participant, *, capacity: int | None = None
) -> list[ProfileSetting]:
    """The dynamic bridge and user profile for one participant.

    Templates first: a dynamic profile starts from ``default_user``/``default_bridge``
    unless ``template`` names ours.
    """
    opts = p.options
    beep = conf.play_beep
    out = [
        ProfileSetting("bridge", "template", BRIDGE_TEMPLATE),
        # Bridge sounds are fixed by the first joiner; every joiner sets the same ones.
        ProfileSetting("bridge", "sound_join", JOIN_SOUND if beep.on_entry else SILENCE, "path"),
        ProfileSetting("bridge", "sound_leave", LEAVE_SOUND if beep.on_exit else SILENCE, "path"),
        # Kicks and terminations end the call at once instead of playing "you were removed".
        ProfileSetting("bridge", "sound_kicked", SILENCE, "path"),
        ProfileSetting("user", "template", USER_TEMPLATE),
        # talker=false joins muted and is never unmuted (the backend refuses it).
        ProfileSetting("user", "startmuted", _yes(p.muted or not opts.talker)),
        # quiet: no join/leave sound for this member (ConfBridge cannot do entry-only).
        # With no beeps at all, quiet also keeps ConfBridge from queueing a silent file
        # per join and leave (its sounds play one after another through one announcer).
        ProfileSetting("user", "quiet", _yes(not opts.beep_on_entry or beep == PlayBeep.NEVER)),
    ]
    if capacity is not None:
        members = capacity + INTERNAL_MEMBERS
        out.append(ProfileSetting("bridge", "max_members", str(members), "integer"))
    if p.call_options is not None and p.call_options.minutes_max_call_duration > 0:
        seconds = p.call_options.minutes_max_call_duration * 60
        out.append(ProfileSetting("user", "timeout", str(seconds), "integer"))
    return out


def sound_name(item: MediaItem) -> str | None:
    """An Asterisk sound name for a play item (no extension), None for text to say.

    Asterisk has no text-to-speech of its own; ``say`` items are not playable here.
    """
    if item.kind != "play" or item.file is None:
        return None
    name = item.file
    for ext in AUDIO_EXTENSIONS:
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return sound(name)


def sound(name: object) -> str:
    """``name`` if it is a sound name Asterisk may play (see ``_SOUND``); else refused."""
    text = safe_value(name, "path")
    if _SOUND.fullmatch(text) is None or ".." in text.split("/") or "//" in text:
        raise UnsafeValueError("sound", name)
    return text


def checked_playlist(value: object) -> str:
    """A value for Playback(${...}): sounds joined by ``&`` and nothing else."""
    if not isinstance(value, str) or _PLAYLIST.fullmatch(value) is None:
        raise UnsafeValueError("playlist", value)
    for name in value.split("&"):
        sound(name)
    return value


def record_file(path: object) -> str:
    """A MixMonitor file name: a plain (optionally absolute) path, no ``..``."""
    text = safe_value(path, "path")
    if _RECORD_FILE.fullmatch(text) is None or ".." in text.split("/"):
        raise UnsafeValueError("record_file", path)
    return text


def playlist(items: Iterable[MediaItem | None]) -> str | None:
    """``a&b&c`` for Playback(), from the playable items; None when nothing is playable."""
    names = [n for item in items if item is not None and (n := sound_name(item)) is not None]
    return checked_playlist("&".join(names)) if names else None


def wait_media(conf: Conference, p: Participant) -> str | None:
    """What a waiting caller hears in the lobby: their own, else the conference's."""
    return playlist([p.options.while_stopped_media or conf.wait_media])


def join_announcement(p: Participant) -> str | None:
    return playlist([p.options.name, p.options.has_joined_message])


def leave_announcement(p: Participant) -> str | None:
    return playlist([p.options.name, p.options.has_left_message])


def dial_target(target: object) -> DialTarget:
    """The target re-parsed (core/dialing.py); UnsafeValueError for anything else."""
    if not isinstance(target, str):
        raise UnsafeValueError("dial_target", target)
    try:
        return parse_dial_target(target)
    except ValueError:
        raise UnsafeValueError("dial_target", target) from None


def dial_channel(target: str | DialTarget, endpoint: str) -> str:
    """The Originate channel for a dial-out, built only from a :class:`DialTarget` and the
    configured ``endpoint``: a number or user is dialled on the endpoint
    (``PJSIP/1001@endpoint``), a SIP URI is sent through it
    (``PJSIP/endpoint/sip:bob@host``). The target never names the endpoint: chan_pjsip
    reads the part before ``/`` (or after ``@``) as the endpoint to use."""
    parsed = target if isinstance(target, DialTarget) else dial_target(target)
    if _ENDPOINT.fullmatch(endpoint) is None:
        raise UnsafeValueError("endpoint", endpoint)
    if parsed.kind == "sip":
        channel = f"PJSIP/{endpoint}/{parsed}"
    else:
        channel = f"PJSIP/{parsed.user}@{endpoint}"
    if _PJSIP_CHANNEL.fullmatch(channel) is None:
        raise UnsafeValueError("dial_channel", channel)
    return channel


def divert_uri(target: str | DialTarget) -> str | None:
    """The 302 Contact for a divert that is a ``sip:`` URI; None for a number or user
    (those are resolved through the configured endpoint, see dialin.py)."""
    parsed = target if isinstance(target, DialTarget) else dial_target(target)
    if parsed.kind != "sip":
        return None
    return checked_divert_uri(str(parsed))


def checked_divert_uri(uri: object) -> str:
    if not isinstance(uri, str) or _DIVERT_URI.fullmatch(uri) is None:
        raise UnsafeValueError("divert", uri)
    return uri


def leave_reason(result: str | None) -> LeaveReason | None:
    return LEAVE_RESULT.get((result or "").strip().upper())


def originate_failure(reason_code: str | None, cause: str | None = None) -> FailureReason:
    """From OriginateResponse's Reason, refined by the channel's hangup cause."""
    reason = ORIGINATE_FAILURE.get((reason_code or "").strip(), FailureReason.ERROR)
    if reason == FailureReason.ERROR and cause is not None:
        return CAUSE_FAILURE.get(cause.strip(), reason)
    return reason


def checked_settings(settings: Sequence[ProfileSetting]) -> list[tuple[str, str]]:
    return [s.checked() for s in settings]
