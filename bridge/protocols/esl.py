"""Sans-IO codec for the FreeSWITCH event socket (mod_event_socket, "ESL").

Bytes in, typed messages out; typed commands in, bytes out. No sockets here.

Framing is two-level (see reference/freeswitch/README.md): a frame is a header
block of ``Name: value`` lines ending in an empty line, followed by exactly
``Content-Length`` body bytes when that header is present. A ``text/event-plain``
body is itself a header block with URL-encoded values and may carry its own
``Content-Length`` body (``BACKGROUND_JOB`` results). JSON and XML events are
decoded too. Header names can repeat inside one event (``floor-change``), so
every event keeps all its header pairs as well as a first-wins dict.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import unquote

from bridge.protocols.safe import UnsafeValueError, safe_value

# The biggest header block recorded is the outbound `connect` reply (~4 KB of channel
# data); a few hundred KB is generous. FreeSWITCH itself refuses bodies over 16 MiB.
MAX_HEADER_BYTES: Final = 256 * 1024
MAX_BODY_BYTES: Final = 16 * 1024 * 1024


class EslProtocolError(ValueError):
    """The peer sent bytes that are not ESL; the connection must be dropped."""


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """``auth/request``: the server wants ``auth <password>``."""


@dataclass(frozen=True, slots=True)
class CommandReply:
    """``command/reply`` to auth, event, filter, bgapi, sendmsg, linger, exit..."""

    ok: bool
    text: str
    headers: dict[str, str]

    @property
    def job_uuid(self) -> str | None:
        return self.headers.get("Job-UUID")


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """``api/response``: errors are text in the body (``-ERR ...``), not a status."""

    ok: bool
    body: str


@dataclass(frozen=True, slots=True)
class Event:
    """One event in any format; ``headers`` keeps the first value of a repeated name."""

    name: str
    subclass: str | None
    headers: dict[str, str]
    body: str | None
    sequence: int | None
    header_items: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    content_type: str = "text/event-plain"

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def get_all(self, name: str) -> list[str]:
        """Every value of a header that may repeat (``floor-change`` repeats Conference-*)."""
        return [value for key, value in self.header_items if key == name]


@dataclass(frozen=True, slots=True)
class DisconnectNotice:
    """``text/disconnect-notice``: goodbye, or ``Content-Disposition: linger``."""

    headers: dict[str, str]
    body: str

    @property
    def linger(self) -> bool:
        return self.headers.get("Content-Disposition") == "linger"


@dataclass(frozen=True, slots=True)
class RudeRejection:
    """``text/rude-rejection``: the ACL refused us. Fatal."""

    body: str


@dataclass(frozen=True, slots=True)
class OtherMessage:
    """Any other content type (``log/data``...): kept, never guessed at."""

    content_type: str
    headers: dict[str, str]
    body: str


EslMessage = (
    AuthRequest
    | CommandReply
    | ApiResponse
    | Event
    | DisconnectNotice
    | RudeRejection
    | OtherMessage
)

# --------------------------------------------------------------------------- parsing


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _parse_header_lines(text: str) -> list[tuple[str, str]]:
    """``Name: value`` lines -> pairs, values URL-decoded (libesl decodes them too)."""
    pairs: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name:
            raise EslProtocolError(f"malformed ESL header line {line[:80]!r}")
        if value.startswith(" "):
            value = value[1:]
        if "%" in value:
            value = unquote(value)
        pairs.append((name, value))
    return pairs


def _first_wins(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers.setdefault(name, value)
    return headers


def _content_length(headers: Mapping[str, str], limit: int) -> int:
    raw = headers.get("Content-Length")
    if raw is None:
        return 0
    raw = raw.strip()
    if not raw.isdigit() or not raw.isascii():
        raise EslProtocolError(f"bad Content-Length {raw[:40]!r}")
    length = int(raw)
    if length > limit:
        raise EslProtocolError(f"Content-Length {length} exceeds the {limit} byte limit")
    return length


def _sequence(headers: Mapping[str, str]) -> int | None:
    raw = headers.get("Event-Sequence")
    if raw is not None and raw.isdigit() and raw.isascii():
        return int(raw)
    return None


def _event(pairs: list[tuple[str, str]], body: str | None, content_type: str) -> Event:
    headers = _first_wins(pairs)
    name = headers.get("Event-Name")
    if name is None:
        raise EslProtocolError(f"{content_type} without Event-Name")
    return Event(
        name=name,
        subclass=headers.get("Event-Subclass"),
        headers=headers,
        body=body,
        sequence=_sequence(headers),
        header_items=tuple(pairs),
        content_type=content_type,
    )


def parse_plain_event(text: str) -> Event:
    """A ``text/event-plain`` body: a header block, maybe followed by its own body."""
    head, sep, rest = text.partition("\n\n")
    pairs = _parse_header_lines(head)
    body: str | None = None
    length_raw = next((value for name, value in pairs if name == "Content-Length"), None)
    if length_raw is not None:
        if not sep:
            raise EslProtocolError("event announces a body but has no blank line before it")
        length = _content_length({"Content-Length": length_raw}, MAX_BODY_BYTES)
        # the inner length counts bytes, the text is decoded: measure in bytes
        encoded = rest.encode("utf-8", errors="replace")
        if len(encoded) < length:
            raise EslProtocolError("event body shorter than its Content-Length")
        body = _decode(encoded[:length])
    return _event(pairs, body, "text/event-plain")


class _Pairs(list[tuple[str, object]]):
    """A JSON object kept as ordered pairs: event JSON repeats names."""


def parse_json_event(text: str) -> Event:
    """A ``text/event-json`` body: one object, string values, names may repeat."""
    try:
        obj = json.loads(text, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError) as exc:
        raise EslProtocolError(f"bad JSON event: {exc}") from None
    if not isinstance(obj, _Pairs):
        raise EslProtocolError("JSON event is not an object")
    pairs: list[tuple[str, str]] = []
    body: str | None = None
    for name, value in obj:
        if name == "_body":
            body = value if isinstance(value, str) else json.dumps(value)
            continue
        # a header FreeSWITCH stored as an array comes out as a JSON list
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, item if isinstance(item, str) else json.dumps(item)))
    return _event(pairs, body, "text/event-json")


def parse_xml_event(text: str) -> Event:
    """A ``text/event-xml`` body: ``<event><headers><Name>value</Name>...``, URL-encoded."""
    if "<!" in text:  # no DOCTYPE or entity declarations, ever
        raise EslProtocolError("XML event with a declaration")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise EslProtocolError(f"bad XML event: {exc}") from None
    headers_node = root.find("headers")
    if root.tag != "event" or headers_node is None:
        raise EslProtocolError("XML event without <event><headers>")
    pairs = [(child.tag, unquote(child.text or "")) for child in headers_node]
    body_node = root.find("body")
    body = None if body_node is None else unquote(body_node.text or "")
    return _event(pairs, body, "text/event-xml")


def _message(pairs: list[tuple[str, str]], raw_body: bytes) -> EslMessage:
    headers = _first_wins(pairs)
    content_type = headers.get("Content-Type", "")
    if content_type == "auth/request":
        return AuthRequest()
    if content_type == "command/reply":
        text = headers.get("Reply-Text", "").rstrip("\n")
        return CommandReply(ok=text.startswith("+OK"), text=text, headers=headers)
    body = _decode(raw_body)
    if content_type == "api/response":
        return ApiResponse(ok=not body.startswith(("-ERR", "-USAGE")), body=body)
    if content_type == "text/event-plain":
        return parse_plain_event(body)
    if content_type == "text/event-json":
        return parse_json_event(body)
    if content_type == "text/event-xml":
        return parse_xml_event(body)
    if content_type == "text/disconnect-notice":
        return DisconnectNotice(headers=headers, body=body)
    if content_type == "text/rude-rejection":
        return RudeRejection(body=body)
    return OtherMessage(content_type=content_type, headers=headers, body=body)


class EslParser:
    """Incremental ESL frame parser: feed any chunking, get whole messages back."""

    def __init__(
        self, max_header_bytes: int = MAX_HEADER_BYTES, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes
        self._buf = bytearray()
        self._pos = 0  # start of unparsed bytes; compacted once per feed()
        self._pending: tuple[list[tuple[str, str]], int] | None = None
        self._scanned = 0  # bytes after _pos already searched for the blank line

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buf) - self._pos

    @property
    def mid_frame(self) -> bool:
        """True when EOF now would cut a frame short."""
        return self._pending is not None or self.buffered > 0

    def feed(self, data: bytes) -> list[EslMessage]:
        self._buf += data
        out: list[EslMessage] = []
        try:
            while True:
                if self._pending is None and not self._take_headers():
                    break
                assert self._pending is not None
                pairs, length = self._pending
                if len(self._buf) - self._pos < length:
                    break
                raw_body = bytes(self._buf[self._pos : self._pos + length])
                self._pos += length
                self._pending = None
                out.append(_message(pairs, raw_body))
        finally:
            del self._buf[: self._pos]
            self._pos = 0
        return out

    def _take_headers(self) -> bool:
        buf = self._buf
        # tolerate stray blank lines between frames
        while self._pos < len(buf) and buf[self._pos] == 0x0A:
            self._pos += 1
        # resume where the last feed() stopped looking: byte-sized feeds stay linear
        end = buf.find(b"\n\n", self._pos + max(self._scanned - 1, 0))
        if end < 0:
            self._scanned = len(buf) - self._pos
            if self._scanned > self._max_header:
                raise EslProtocolError(f"no end of header block within {self._max_header} bytes")
            return False
        if end - self._pos > self._max_header:
            raise EslProtocolError(f"header block longer than {self._max_header} bytes")
        pairs = _parse_header_lines(_decode(bytes(buf[self._pos : end])))
        self._pos = end + 2
        self._scanned = 0
        self._pending = (pairs, _content_length(_first_wins(pairs), self._max_body))
        return True


# --------------------------------------------------------------------------- commands
#
# Every builder returns the exact bytes to write. Every argument passes safe_value()
# with the narrowest kind that fits; assembled lines are checked once more for the
# characters that would end a command early.

EventFormat = Literal["plain", "json", "xml"]
MemberSelector = int | Literal["all", "last", "non_moderator"]
_SELECTORS: Final = frozenset({"all", "last", "non_moderator"})
_MAX_MEMBER_FLAGS: Final = 10  # mod_conference silently drops flags past argv[10]


# One word of a generic API command, a filter value, an application argument or an
# originate application argument: what FreeSWITCH can neither expand (`$`), split (`,`
# `|` spaces quotes) nor read as variables (`{` `[` `<`). Paths, sip:user@host:port,
# var=value (set) and silence_stream://10 fit; nothing else does.
_WORD: Final = re.compile(r"[A-Za-z0-9_.@:+/=-]{1,255}")
# The conference application's argument, exactly as conference_target() builds it.
_CONF_TARGET: Final = re.compile(
    r"[A-Za-z0-9_-]{1,80}@[A-Za-z0-9_-]{1,80}(\+[0-9A-D#*]{1,32})?"
    r"(\+flags\{[A-Za-z0-9_-]{1,128}(\|[A-Za-z0-9_-]{1,128}){0,9}\})?"
)


def _word(value: str | int) -> str:
    text = safe_value(value, "text")
    if _WORD.fullmatch(text) is None:
        raise UnsafeValueError("word", value)
    return text


def app_argument(app: str, arg: str) -> str:
    """An argument for a dialplan application we run (sendmsg execute, originate &app).

    FreeSWITCH expands ``${...}`` in every application argument, and ``conference``
    parses ``+flags{a|b}``: so ``conference`` takes only a conference_target() value,
    every other application one _WORD (no ``$ { } , | ( )``, quotes or spaces).
    """
    text = safe_value(arg, "text")
    pattern = _CONF_TARGET if app == "conference" else _WORD
    if pattern.fullmatch(text) is None:
        raise UnsafeValueError("app_arg", arg)
    return text


def _frame(*lines: str) -> bytes:
    for line in lines:
        if any(ch in line for ch in "\r\n\x00"):
            raise UnsafeValueError("line", line)
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def _event_name(name: str) -> str:
    """ALL, CHANNEL_HANGUP, CUSTOM, or a subclass such as conference::maintenance."""
    parts = name.split("::")
    return "::".join(safe_value(part, "token") for part in parts)


@dataclass(frozen=True, slots=True)
class ApiCommand:
    """An ``api``/``bgapi`` command whose words have each passed safe_value()."""

    command: str
    args: tuple[str, ...] = ()

    def line(self) -> str:
        return " ".join((self.command, *self.args))


def command(name: str, *args: str | int) -> ApiCommand:
    """A generic API command: name is a token, each argument one word (_WORD: letters,
    digits and ``_ . @ : + / = -``; never ``$``, braces, ``,``, ``|``, quotes or spaces)."""
    return ApiCommand(safe_value(name, "token"), tuple(_word(arg) for arg in args))


def auth(password: str) -> bytes:
    return _frame(f"auth {safe_value(password, 'token')}")


def event(fmt: EventFormat, *names: str) -> bytes:
    if fmt not in ("plain", "json", "xml"):
        raise UnsafeValueError("token", fmt)
    if not names:
        raise ValueError("event needs at least one event name")
    return _frame(" ".join(["event", fmt, *(_event_name(n) for n in names)]))


def filter_events(header: str, value: str) -> bytes:
    return _frame(f"filter {safe_value(header, 'token')} {_word(value)}")


def api(cmd: ApiCommand) -> bytes:
    return _frame(f"api {cmd.line()}")


def bgapi(cmd: ApiCommand, job_uuid: str | None = None) -> bytes:
    """``bgapi``; our own Job-UUID lets the caller match the BACKGROUND_JOB result."""
    if job_uuid is None:
        return _frame(f"bgapi {cmd.line()}")
    return _frame(f"bgapi {cmd.line()}", f"Job-UUID: {safe_value(job_uuid, 'uuid')}")


def linger(seconds: int | None = None) -> bytes:
    if seconds is None:
        return _frame("linger")
    return _frame(f"linger {safe_value(seconds, 'integer')}")


def nolinger() -> bytes:
    return _frame("nolinger")


def exit_command() -> bytes:
    return _frame("exit")


# outbound socket (FreeSWITCH connected to us for one call)


def connect() -> bytes:
    return _frame("connect")


def myevents(uuid: str | None = None) -> bytes:
    return _frame("myevents" if uuid is None else f"myevents {safe_value(uuid, 'uuid')}")


def sendmsg_execute(
    app: str, arg: str | None = None, uuid: str | None = None, event_lock: bool = False
) -> bytes:
    first = "sendmsg" if uuid is None else f"sendmsg {safe_value(uuid, 'uuid')}"
    lines = [first, "call-command: execute", f"execute-app-name: {safe_value(app, 'token')}"]
    if arg is not None:
        lines.append(f"execute-app-arg: {app_argument(app, arg)}")
    if event_lock:
        lines.append("event-lock: true")
    return _frame(*lines)


def sendmsg_hangup(cause: str = "NORMAL_CLEARING", uuid: str | None = None) -> bytes:
    first = "sendmsg" if uuid is None else f"sendmsg {safe_value(uuid, 'uuid')}"
    return _frame(first, "call-command: hangup", f"hangup-cause: {safe_value(cause, 'token')}")


# core API commands


def version() -> ApiCommand:
    return ApiCommand("version")


def status() -> ApiCommand:
    return ApiCommand("status")


def uuid_kill(uuid: str, cause: str | None = None) -> ApiCommand:
    args = [safe_value(uuid, "uuid")]
    if cause is not None:
        args.append(safe_value(cause, "token"))
    return ApiCommand("uuid_kill", tuple(args))


def sched_hangup(seconds: int, uuid: str, cause: str = "ALLOTTED_TIMEOUT") -> ApiCommand:
    """Hang the channel up `seconds` from now (a maximum call duration)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
        raise UnsafeValueError("integer", seconds)
    return ApiCommand(
        "sched_hangup", (f"+{seconds}", safe_value(uuid, "uuid"), safe_value(cause, "token"))
    )


def uuid_transfer(
    uuid: str, destination: str, dialplan: str | None = None, context: str | None = None
) -> ApiCommand:
    args = [safe_value(uuid, "uuid"), safe_value(destination, "dial_target")]
    if dialplan is not None:
        args.append(safe_value(dialplan, "name"))
        if context is not None:
            args.append(safe_value(context, "name"))
    elif context is not None:
        raise ValueError("uuid_transfer: a context needs a dialplan")
    return ApiCommand("uuid_transfer", tuple(args))


def conference_target(
    name: str, profile: str = "default", flags: Sequence[str] = (), pin: str | None = None
) -> str:
    """``room@profile[+pin][+flags{a|b}]``: the conference application argument."""
    target = f"{safe_value(name, 'name')}@{safe_value(profile, 'name')}"
    if pin is not None:
        target += f"+{safe_value(pin, 'digits')}"
    if flags:
        if len(flags) > _MAX_MEMBER_FLAGS:
            raise ValueError(f"at most {_MAX_MEMBER_FLAGS} member flags reach mod_conference")
        target += "+flags{" + "|".join(safe_value(f, "token") for f in flags) + "}"
    return target


def originate(
    endpoint: str,
    *,
    app: str | None = None,
    app_arg: str | None = None,
    extension: str | None = None,
    variables: Mapping[str, str | int] | None = None,
) -> ApiCommand:
    """``originate {vars}endpoint &app(arg)`` or ``originate endpoint extension``.

    Variable values may not contain ``,`` ``{`` ``}`` ``$`` or spaces (dial_target kind);
    the application argument passes app_argument() (no parentheses, which would end it
    early, no ``$``, no separators).
    """
    prefix = ""
    if variables:
        items = (
            f"{safe_value(k, 'variable')}={safe_value(v, 'dial_target')}"
            for k, v in variables.items()
        )
        prefix = "{" + ",".join(items) + "}"
    leg = prefix + safe_value(endpoint, "dial_target")
    if (app is None) == (extension is None):
        raise ValueError("originate needs exactly one of app or extension")
    if app is not None:
        app_name = safe_value(app, "token")
        target = "&" + app_name
        if app_arg is not None:
            target += f"({app_argument(app_name, app_arg)})"
    else:
        target = safe_value(extension, "dial_target")
    return ApiCommand("originate", (leg, target))


# mod_conference API commands


def _member(member: MemberSelector) -> str:
    if isinstance(member, str) and member in _SELECTORS:
        return member
    return safe_value(member, "integer")


def _conf(conf: str, subcommand: str, *checked: str) -> ApiCommand:
    """``conference <conf> <subcommand> ...``; ``checked`` words passed safe_value() already."""
    head = (safe_value(conf, "name"), safe_value(subcommand, "token"))
    return ApiCommand("conference", (*head, *checked))


def conference(conf: str, subcommand: str, *args: str | int) -> ApiCommand:
    """Any other conference subcommand; each argument is printable text without spaces."""
    return _conf(conf, subcommand, *command("conference", *args).args)


def conference_list_all(json_format: bool = False) -> ApiCommand:
    return ApiCommand("conference", ("json_list" if json_format else "list",))


def conf_list(conf: str) -> ApiCommand:
    return _conf(conf, "list")


def conf_json_list(conf: str, compact: bool = False) -> ApiCommand:
    return _conf(conf, "json_list", *(["compact"] if compact else []))


def _member_command(sub: str, conf: str, member: MemberSelector, quiet: bool) -> ApiCommand:
    return _conf(conf, sub, _member(member), *(["quiet"] if quiet else []))


def conf_mute(conf: str, member: MemberSelector, quiet: bool = False) -> ApiCommand:
    return _member_command("mute", conf, member, quiet)


def conf_unmute(conf: str, member: MemberSelector, quiet: bool = False) -> ApiCommand:
    return _member_command("unmute", conf, member, quiet)


def conf_deaf(conf: str, member: MemberSelector) -> ApiCommand:
    return _member_command("deaf", conf, member, False)


def conf_undeaf(conf: str, member: MemberSelector) -> ApiCommand:
    return _member_command("undeaf", conf, member, False)


def conf_kick(conf: str, member: MemberSelector, sound: str | None = None) -> ApiCommand:
    extra = [] if sound is None else [safe_value(sound, "path")]
    return _conf(conf, "kick", _member(member), *extra)


def conf_hup(conf: str, member: MemberSelector) -> ApiCommand:
    return _member_command("hup", conf, member, False)


def conf_hold(conf: str, member: MemberSelector, sound: str | None = None) -> ApiCommand:
    extra = [] if sound is None else [safe_value(sound, "path")]
    return _conf(conf, "hold", _member(member), *extra)


def conf_unhold(conf: str, member: MemberSelector) -> ApiCommand:
    return _member_command("unhold", conf, member, False)


def conf_play(
    conf: str, path: str, member: int | None = None, async_play: bool = False
) -> ApiCommand:
    if member is not None and async_play:
        raise ValueError("play: async applies to the whole conference only")
    extra = ["async"] if async_play else []
    if member is not None:
        extra = [safe_value(member, "integer")]
    return _conf(conf, "play", safe_value(path, "path"), *extra)


def conf_stop(
    conf: str, which: Literal["current", "all", "async", "last"] = "all", member: int | None = None
) -> ApiCommand:
    extra = [] if member is None else [safe_value(member, "integer")]
    return _conf(conf, "stop", safe_value(which, "token"), *extra)


def conf_say(conf: str, text: str) -> ApiCommand:
    """``conference <conf> say <text>``: text is "speech" (letters, digits, spaces and
    ``. , ? ! : ; -``): the ESL api path expands ``${...}`` anywhere in the line."""
    return _conf(conf, "say", safe_value(text, "speech"))


def conf_saymember(conf: str, member: int, text: str) -> ApiCommand:
    return _conf(conf, "saymember", safe_value(member, "integer"), safe_value(text, "speech"))


def conf_record(conf: str, path: str) -> ApiCommand:
    return _conf(conf, "record", safe_value(path, "path"))


def conf_norecord(conf: str, path: str = "all") -> ApiCommand:
    return _conf(conf, "norecord", path if path == "all" else safe_value(path, "path"))


def conf_recording(
    conf: str, action: Literal["start", "stop", "check", "pause", "resume"], path: str = "all"
) -> ApiCommand:
    target = path if path == "all" else safe_value(path, "path")
    return _conf(conf, "recording", safe_value(action, "token"), target)


def conf_chkrecord(conf: str) -> ApiCommand:
    return _conf(conf, "chkrecord", safe_value(conf, "name"))


def _sound_setting(sub: str, conf: str, setting: str) -> ApiCommand:
    if setting in ("on", "off", "none"):
        return _conf(conf, sub, setting)
    return _conf(conf, sub, "file", safe_value(setting, "path"))


def conf_enter_sound(conf: str, setting: str) -> ApiCommand:
    """``on``, ``off``, ``none`` or a file path."""
    return _sound_setting("enter_sound", conf, setting)


def conf_exit_sound(conf: str, setting: str) -> ApiCommand:
    return _sound_setting("exit_sound", conf, setting)


def conf_set_max_members(conf: str, count: int) -> ApiCommand:
    return _conf(conf, "set", "max_members", safe_value(count, "integer"))


def conf_moh(conf: str, setting: str) -> ApiCommand:
    """``on``, ``off``, ``toggle`` or a file path."""
    if setting in ("on", "off", "toggle"):
        return _conf(conf, "moh", setting)
    return _conf(conf, "moh", safe_value(setting, "path"))


def conf_lock(conf: str) -> ApiCommand:
    return _conf(conf, "lock")


def conf_unlock(conf: str) -> ApiCommand:
    return _conf(conf, "unlock")


def conf_dial(conf: str, endpoint: str, cid_number: str, cid_name: str) -> ApiCommand:
    return _dial("dial", conf, endpoint, cid_number, cid_name)


def conf_bgdial(conf: str, endpoint: str, cid_number: str, cid_name: str) -> ApiCommand:
    return _dial("bgdial", conf, endpoint, cid_number, cid_name)


def _dial(sub: str, conf: str, endpoint: str, number: str, name: str) -> ApiCommand:
    return conference(
        conf,
        sub,
        safe_value(endpoint, "dial_target"),
        safe_value(number, "caller_id"),
        safe_value(name, "caller_id"),
    )


def conf_transfer(conf: str, to_conf: str, members: Sequence[int]) -> ApiCommand:
    if not members:
        raise ValueError("transfer needs at least one member id")
    ids = [safe_value(m, "integer") for m in members]
    return _conf(conf, "transfer", safe_value(to_conf, "name"), *ids)


def conf_get(conf: str, parameter: str) -> ApiCommand:
    return _conf(conf, "get", safe_value(parameter, "token"))


def conf_setvar(conf: str, name: str, value: str) -> ApiCommand:
    return _conf(conf, "setvar", safe_value(name, "variable"), safe_value(value, "token"))


def conf_dtmf(conf: str, member: MemberSelector, digits: str) -> ApiCommand:
    return _conf(conf, "dtmf", _member(member), safe_value(digits, "digits"))
