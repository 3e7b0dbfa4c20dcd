"""Sans-IO codec for the Asterisk Manager Interface (AMI).

Bytes in, typed messages out (:class:`AmiParser`); typed actions in, bytes out
(:func:`build_action` and one builder per action we use); and a pure
:class:`ActionTracker` that pairs responses and event lists with the action that
caused them. No sockets here: the asyncio client lives in ``bridge/pbx/asterisk``.

Wire facts this module relies on (see reference/pbx-mapping.md, section 4a):

* The server greets with one line ``Asterisk Call Manager/x.y.z``, then sends
  blocks of ``Key: Value`` lines, each block ended by a blank line.
* Asterisk ends lines with CRLF, but some events end with ``\\r\\n\\n`` and the
  server itself accepts bare LF, so the parser takes either.
* Keys can repeat (``Variable:``, ``ChanVariable:``); every value is kept.
* Nothing is escaped: a CR or LF inside a value would start a new header or a
  new action, so every outgoing value passes :func:`safe_value` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from bridge.protocols.safe import Kind, UnsafeValueError, safe_value

BANNER_PREFIX: Final = "Asterisk Call Manager/"
DEFAULT_MAX_LINE: Final = 16 * 1024
DEFAULT_MAX_MESSAGE: Final = 256 * 1024
DEFAULT_MAX_HEADERS: Final = 1024

# ConfbridgeList / ConfbridgeListRooms answer these errors when there is simply
# nothing to list; callers want an empty list, not a failure.
EMPTY_LIST_ERRORS: Final = frozenset(
    {"No active conferences.", "No Conference by that name found."}
)


# Characters that split or expand a value somewhere after the wire: Asterisk splits each
# Originate ``Variable`` header on `,` (honouring quotes, backslashes, parentheses and
# brackets), applications split their data on `,` (`|` in the AGI 1.4 compatibility
# mode), Gosub/Dial options on `^`, and the dialplan expands `${...}` / `$[...]`. A value
# we set may be substituted into ``Playback(${X})`` or ``MixMonitor(${X})`` later, so none
# of these may be in a variable value or an application argument. (`&` is allowed: it
# joins the files of a Playback list, and every list is checked by its builder.)
SPLITTERS: Final = frozenset(",|^\"\\'`(){}$;")
# Channels we originate: Local/ helpers and PJSIP dial strings built from a DialTarget
# (brackets only for an IPv6 host). Nothing that Dial() would split (`&`, `,`).
_ORIGINATE_CHANNEL: Final = re.compile(r"(?:Local|PJSIP)/[A-Za-z0-9_.@:+/=\[\]-]{1,200}")


def unsplittable(value: object, kind: Kind) -> str:
    """``value`` as ``kind``, and holding none of :data:`SPLITTERS`."""
    text = safe_value(value, kind)
    if any(ch in SPLITTERS for ch in text):
        raise UnsafeValueError("unsplittable " + kind, value)
    return text


class AmiProtocolError(ValueError):
    """The peer sent something that is not AMI, or more than our bounds allow."""


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class AmiMessage:
    """One header block. ``headers`` keeps the wire order and repeated keys."""

    headers: tuple[tuple[str, str], ...]
    # Lines without a colon (old-style command output); kept, never interpreted.
    extra_lines: tuple[str, ...] = ()

    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of ``key`` (case-insensitive), or ``default``."""
        wanted = key.lower()
        for name, value in self.headers:
            if name.lower() == wanted:
                return value
        return default

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` in wire order (``Variable``, ``ChanVariable``)."""
        wanted = key.lower()
        return [value for name, value in self.headers if name.lower() == wanted]

    def chan_var(self, name: str) -> str | None:
        """A channel variable that manager.conf ``channelvars`` adds to channel events
        (``ChanVariable: NAME=value``, or ``ChanVariable(NAME): value`` on old versions)."""
        prefix = name + "="
        for value in self.get_all("ChanVariable"):
            if value.startswith(prefix):
                return value[len(prefix) :]
        return self.get(f"ChanVariable({name})")

    def as_dict(self) -> dict[str, str | list[str]]:
        """Keys to values; a key that occurs more than once maps to a list."""
        out: dict[str, str | list[str]] = {}
        for name, value in self.headers:
            previous = out.get(name)
            if previous is None:
                out[name] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                out[name] = [previous, value]
        return out

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")


@dataclass(frozen=True)
class AmiBanner:
    """The greeting line; ``version`` is the AMI protocol version, e.g. ``11.0.0``."""

    version: str


@dataclass(frozen=True)
class AmiResponse(AmiMessage):
    @property
    def response(self) -> str:
        return self.get("Response", "") or ""

    @property
    def ok(self) -> bool:
        return self.response.lower() in ("success", "follows", "goodbye")

    @property
    def message(self) -> str:
        return self.get("Message", "") or ""


@dataclass(frozen=True)
class AmiEvent(AmiMessage):
    @property
    def name(self) -> str:
        return self.get("Event", "") or ""


AmiItem = AmiBanner | AmiResponse | AmiEvent | AmiMessage


def _classify(headers: list[tuple[str, str]], extra: list[str]) -> AmiMessage:
    first = headers[0][0].lower() if headers else ""
    if first == "response":
        return AmiResponse(tuple(headers), tuple(extra))
    if first == "event":
        return AmiEvent(tuple(headers), tuple(extra))
    # Not first, but present: still typed, so a reordered block is not lost.
    keys = {name.lower() for name, _ in headers}
    if "response" in keys:
        return AmiResponse(tuple(headers), tuple(extra))
    if "event" in keys:
        return AmiEvent(tuple(headers), tuple(extra))
    return AmiMessage(tuple(headers), tuple(extra))


# --------------------------------------------------------------------------- parser


class AmiParser:
    """Incremental AMI parser: ``feed(bytes)`` returns every message completed so far.

    Bounded: a line longer than ``max_line`` or a block larger than
    ``max_message`` raises :class:`AmiProtocolError` (the connection should be
    dropped; the parser is unusable afterwards).
    """

    def __init__(
        self,
        *,
        expect_banner: bool = True,
        max_line: int = DEFAULT_MAX_LINE,
        max_message: int = DEFAULT_MAX_MESSAGE,
        max_headers: int = DEFAULT_MAX_HEADERS,
    ) -> None:
        self._buffer = bytearray()
        self._want_banner = expect_banner
        self._max_line = max_line
        self._max_message = max_message
        self._max_headers = max_headers
        self._headers: list[tuple[str, str]] = []
        self._extra: list[str] = []
        self._block_size = 0
        self._failed = False

    def feed(self, data: bytes) -> list[AmiItem]:
        if self._failed:
            raise AmiProtocolError("parser already failed; drop the connection")
        self._buffer += data
        out: list[AmiItem] = []
        start = 0
        try:
            while True:
                end = self._buffer.find(b"\n", start)
                if end < 0:
                    break
                if end - start > self._max_line:
                    raise AmiProtocolError(f"AMI line longer than {self._max_line} bytes")
                line = bytes(self._buffer[start:end])
                start = end + 1
                item = self._line(line)
                if item is not None:
                    out.append(item)
            del self._buffer[:start]
            if len(self._buffer) > self._max_line:
                raise AmiProtocolError(f"AMI line longer than {self._max_line} bytes")
        except AmiProtocolError:
            self._failed = True
            raise
        return out

    def _line(self, raw: bytes) -> AmiItem | None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        text = raw.decode("utf-8", errors="replace")
        if self._want_banner:
            if not text:
                return None
            if not text.startswith(BANNER_PREFIX):
                raise AmiProtocolError(f"expected AMI banner, got {text[:60]!r}")
            self._want_banner = False
            return AmiBanner(text[len(BANNER_PREFIX) :].strip())
        if not text.strip():
            # A blank line ends the block; extra blank lines (``\r\n\n``) are ignored.
            if not self._headers and not self._extra:
                return None
            message = _classify(self._headers, self._extra)
            self._headers, self._extra, self._block_size = [], [], 0
            return message
        self._block_size += len(raw) + 2
        if self._block_size > self._max_message:
            raise AmiProtocolError(f"AMI message larger than {self._max_message} bytes")
        if len(self._headers) + len(self._extra) >= self._max_headers:
            raise AmiProtocolError(f"AMI message with more than {self._max_headers} lines")
        key, sep, value = text.partition(":")
        if sep and key and " " not in key.strip():
            self._headers.append((key.strip(), value.strip()))
        else:
            self._extra.append(text)
        return None


# --------------------------------------------------------------------------- actions

Value = tuple[object, Kind]
"""A header value together with the allow-list it must pass."""

HeaderInput = Mapping[str, Value] | Iterable[tuple[str, Value]]

Completion = Literal["response", "list", "originate"]


@dataclass(frozen=True)
class AmiAction:
    """An encoded action and what completes it (see :class:`ActionTracker`)."""

    name: str
    action_id: str
    payload: bytes
    completion: Completion = "response"


def build_action(name: str, headers: HeaderInput, action_id: str) -> bytes:
    """Encode one action. Every key and value passes :func:`safe_value` or this raises.

    ``headers`` maps a key to ``(value, kind)``; pass a sequence of pairs to
    repeat a key (one ``Variable`` header per variable).
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    lines = [
        f"Action: {safe_value(name, 'token')}",
        f"ActionID: {safe_value(action_id, 'token')}",
    ]
    for key, (value, kind) in pairs:
        lines.append(f"{safe_value(key, 'token')}: {safe_value(value, kind)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _action(
    name: str,
    action_id: str,
    headers: Sequence[tuple[str, Value]] = (),
    completion: Completion = "response",
) -> AmiAction:
    return AmiAction(name, action_id, build_action(name, headers, action_id), completion)


def _joined(parts: Iterable[object], kind: Kind, sep: str = ",") -> str:
    """Join parts each checked as ``kind``; the caller re-checks the whole as text."""
    return sep.join(safe_value(part, kind) for part in parts)


def login(username: str, secret: str, action_id: str, *, events: str = "off") -> AmiAction:
    """``events`` is ``on``, ``off`` or a class list such as ``call,reporting,dtmf``."""
    mask = _joined(events.split(","), "token")
    return _action(
        "Login",
        action_id,
        [
            ("Username", (username, "token")),
            ("Secret", (secret, "token")),
            ("Events", (mask, "text")),
        ],
    )


def logoff(action_id: str) -> AmiAction:
    return _action("Logoff", action_id)


def ping(action_id: str) -> AmiAction:
    return _action("Ping", action_id)


def events(mask: str, action_id: str) -> AmiAction:
    return _action(
        "Events", action_id, [("EventMask", (_joined(mask.split(","), "token"), "text"))]
    )


def confbridge_list(conference: str, action_id: str) -> AmiAction:
    return _action(
        "ConfbridgeList", action_id, [("Conference", (conference, "name"))], completion="list"
    )


def confbridge_list_rooms(action_id: str) -> AmiAction:
    return _action("ConfbridgeListRooms", action_id, completion="list")


def core_show_channels(action_id: str) -> AmiAction:
    return _action("CoreShowChannels", action_id, completion="list")


def _conference_channel(name: str, conference: str, channel: str, action_id: str) -> AmiAction:
    # Channel is prefix-matched by Asterisk: pass the exact name from ConfbridgeJoin,
    # or ``all`` / ``participants``.
    return _action(
        name,
        action_id,
        [("Conference", (conference, "name")), ("Channel", (channel, "channel"))],
    )


def confbridge_kick(conference: str, channel: str, action_id: str) -> AmiAction:
    return _conference_channel("ConfbridgeKick", conference, channel, action_id)


def confbridge_mute(conference: str, channel: str, action_id: str) -> AmiAction:
    return _conference_channel("ConfbridgeMute", conference, channel, action_id)


def confbridge_unmute(conference: str, channel: str, action_id: str) -> AmiAction:
    return _conference_channel("ConfbridgeUnmute", conference, channel, action_id)


def confbridge_start_record(
    conference: str, action_id: str, *, record_file: str | None = None
) -> AmiAction:
    headers: list[tuple[str, Value]] = [("Conference", (conference, "name"))]
    if record_file is not None:
        headers.append(("RecordFile", (record_file, "path")))
    return _action("ConfbridgeStartRecord", action_id, headers)


def confbridge_stop_record(conference: str, action_id: str) -> AmiAction:
    return _action("ConfbridgeStopRecord", action_id, [("Conference", (conference, "name"))])


def confbridge_lock(conference: str, action_id: str) -> AmiAction:
    return _action("ConfbridgeLock", action_id, [("Conference", (conference, "name"))])


def confbridge_unlock(conference: str, action_id: str) -> AmiAction:
    return _action("ConfbridgeUnlock", action_id, [("Conference", (conference, "name"))])


def redirect(
    channel: str, context: str, exten: str, action_id: str, *, priority: int = 1
) -> AmiAction:
    return _action(
        "Redirect",
        action_id,
        [
            ("Channel", (channel, "channel")),
            ("Context", (context, "name")),
            ("Exten", (exten, "name")),
            ("Priority", (priority, "integer")),
        ],
    )


def _variable_headers(variables: Mapping[str, Value]) -> list[tuple[str, Value]]:
    # One header per variable: a single comma-joined header hits AMI's line limit
    # and cannot carry commas in values.
    out: list[tuple[str, Value]] = []
    for name, (value, kind) in variables.items():
        joined = f"{safe_value(name, 'variable')}={unsplittable(value, kind)}"
        out.append(("Variable", (joined, "text")))
    return out


def originate(
    channel: str,
    action_id: str,
    *,
    context: str | None = None,
    exten: str | None = None,
    priority: int = 1,
    application: str | None = None,
    data: Sequence[Value] = (),
    timeout_ms: int | None = None,
    caller_id: str | None = None,
    channel_id: str | None = None,
    other_channel_id: str | None = None,
    variables: Mapping[str, Value] | None = None,
    asynchronous: bool = True,
) -> AmiAction:
    """Originate ``channel`` (``Local/x@ctx`` or ``PJSIP/endpoint``) into a
    dialplan location (``context``/``exten``/``priority``) or an ``application``
    whose comma-separated ``data`` arguments are each checked by kind.

    With ``asynchronous`` (the default) Asterisk answers ``Success`` at once and
    reports the outcome in an ``OriginateResponse`` event; the tracker waits for it.
    """
    if (context is None) == (application is None):
        raise ValueError("originate needs exactly one of context or application")
    if not isinstance(channel, str) or _ORIGINATE_CHANNEL.fullmatch(channel) is None:
        raise UnsafeValueError("originate channel", channel)
    headers: list[tuple[str, Value]] = [("Channel", (channel, "text"))]
    if context is not None:
        if exten is None:
            raise ValueError("originate into a context needs an exten")
        headers += [
            ("Context", (context, "name")),
            ("Exten", (exten, "name")),
            ("Priority", (priority, "integer")),
        ]
    else:
        headers.append(("Application", (application, "token")))
        if data:
            args = ",".join(unsplittable(value, kind) for value, kind in data)
            headers.append(("Data", (args, "text")))
    if timeout_ms is not None:
        headers.append(("Timeout", (timeout_ms, "integer")))
    if caller_id is not None:
        headers.append(("CallerID", (caller_id, "caller_id")))
    if channel_id is not None:
        headers.append(("ChannelId", (channel_id, "uuid")))
    if other_channel_id is not None:
        headers.append(("OtherChannelId", (other_channel_id, "uuid")))
    headers += _variable_headers(variables or {})
    if asynchronous:
        headers.append(("Async", ("true", "token")))
    return _action(
        "Originate", action_id, headers, completion="originate" if asynchronous else "response"
    )


def hangup(channel: str, action_id: str, *, cause: int | None = None) -> AmiAction:
    headers: list[tuple[str, Value]] = [("Channel", (channel, "channel"))]
    if cause is not None:
        headers.append(("Cause", (cause, "integer")))
    return _action("Hangup", action_id, headers)


def setvar(variable: str, value: Value, action_id: str, *, channel: str | None = None) -> AmiAction:
    headers: list[tuple[str, Value]] = []
    if channel is not None:
        headers.append(("Channel", (channel, "channel")))
    # Setvar stores the value literally, but it is read later by the dialplan
    # (Playback(${BRIDGE_HOLD_MEDIA})): the same rule as an Originate Variable.
    checked = unsplittable(*value)
    headers += [("Variable", (variable, "variable")), ("Value", (checked, value[1]))]
    return _action("Setvar", action_id, headers)


def getvar(variable: str, action_id: str, *, channel: str | None = None) -> AmiAction:
    headers: list[tuple[str, Value]] = []
    if channel is not None:
        headers.append(("Channel", (channel, "channel")))
    headers.append(("Variable", (variable, "variable")))
    return _action("Getvar", action_id, headers)


def user_event(name: str, action_id: str, headers: Mapping[str, Value] | None = None) -> AmiAction:
    pairs: list[tuple[str, Value]] = [("UserEvent", (name, "token"))]
    pairs += list((headers or {}).items())
    return _action("UserEvent", action_id, pairs)


# --------------------------------------------------------------------------- tracking


@dataclass(frozen=True)
class ActionResult:
    """The outcome of one action.

    ``ok`` is False for ``Response: Error``, a failed ``OriginateResponse``, a list
    whose ``ListItems`` disagrees with the events received, or a lost connection.
    ``events`` holds the list items (list actions) or the ``OriginateResponse``.
    """

    action_id: str
    action: str
    ok: bool
    message: str
    response: AmiResponse | None
    events: tuple[AmiEvent, ...] = ()


@dataclass
class _Pending:
    action: AmiAction
    response: AmiResponse | None = None
    events: list[AmiEvent] = field(default_factory=list)


class ActionTracker:
    """Pairs AMI replies with pending actions by ActionID. Pure: no IO, no clock.

    ``register`` each action before sending it, ``feed`` every parsed message;
    ``feed`` returns the actions that just completed. Messages with an unknown or
    missing ActionID are not ours (plain events) and are ignored here.
    """

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}

    def register(self, action: AmiAction) -> None:
        if action.action_id in self._pending:
            raise ValueError(f"ActionID {action.action_id!r} is already pending")
        self._pending[action.action_id] = _Pending(action)

    @property
    def pending(self) -> frozenset[str]:
        return frozenset(self._pending)

    def fail_all(self, reason: str) -> list[ActionResult]:
        """Complete every pending action as failed (the connection is gone)."""
        out = [
            ActionResult(aid, p.action.name, False, reason, p.response, tuple(p.events))
            for aid, p in self._pending.items()
        ]
        self._pending.clear()
        return out

    def feed(self, message: AmiItem) -> list[ActionResult]:
        if not isinstance(message, AmiMessage):
            return []
        aid = message.action_id
        pending = self._pending.get(aid) if aid is not None else None
        if aid is None or pending is None:
            return []
        if isinstance(message, AmiResponse):
            result = self._on_response(pending, message)
        elif isinstance(message, AmiEvent):
            result = self._on_event(pending, message)
        else:
            result = None
        if result is None:
            return []
        del self._pending[aid]
        return [result]

    def _on_response(self, pending: _Pending, response: AmiResponse) -> ActionResult | None:
        action = pending.action
        pending.response = response
        if not response.ok:
            if action.completion == "list" and response.message in EMPTY_LIST_ERRORS:
                return ActionResult(action.action_id, action.name, True, response.message, response)
            return ActionResult(action.action_id, action.name, False, response.message, response)
        if action.completion == "list" and (response.get("EventList") or "").lower() == "start":
            return None
        if action.completion == "originate":
            return None
        return ActionResult(action.action_id, action.name, True, response.message, response)

    def _on_event(self, pending: _Pending, event: AmiEvent) -> ActionResult | None:
        action = pending.action
        if action.completion == "originate" and event.name == "OriginateResponse":
            ok = (event.get("Response") or "").lower() == "success"
            reason = event.get("Reason") or ""
            return ActionResult(
                action.action_id, action.name, ok, reason, pending.response, (event,)
            )
        if action.completion != "list":
            return None
        if (event.get("EventList") or "").lower() != "complete":
            pending.events.append(event)
            return None
        items = tuple(pending.events)
        declared = event.get("ListItems")
        if declared is not None and declared.strip() != str(len(items)):
            message = f"ListItems says {declared.strip()}, received {len(items)}"
            return ActionResult(
                action.action_id, action.name, False, message, pending.response, items
            )
        return ActionResult(action.action_id, action.name, True, "", pending.response, items)


__all__ = [
    "BANNER_PREFIX",
    "EMPTY_LIST_ERRORS",
    "SPLITTERS",
    "ActionResult",
    "ActionTracker",
    "AmiAction",
    "AmiBanner",
    "AmiEvent",
    "AmiItem",
    "AmiMessage",
    "AmiParser",
    "AmiProtocolError",
    "AmiResponse",
    "UnsafeValueError",
    "Value",
    "build_action",
    "confbridge_kick",
    "confbridge_list",
    "confbridge_list_rooms",
    "confbridge_lock",
    "confbridge_mute",
    "confbridge_start_record",
    "confbridge_stop_record",
    "confbridge_unlock",
    "confbridge_unmute",
    "events",
    "getvar",
    "hangup",
    "login",
    "logoff",
    "originate",
    "ping",
    "redirect",
    "setvar",
    "unsplittable",
    "user_event",
]
