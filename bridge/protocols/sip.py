"""Sans-IO SIP (RFC 3261): message codec, URIs, dialogs and transaction state machines.

Bytes in, typed messages out, and back. Nothing here touches a socket or a clock:
transactions are told the time (``now``, seconds from any monotonic origin) and
answer with effects (send this, hand that to the TU, timed out) plus the next
deadline at which the caller's IO loop must call ``on_timer``.

Parsing is strict and bounded: anything malformed raises :class:`SipParseError`,
and no input makes the parser do more than linear work in its (capped) size.
Everything we build from our own users' values goes through
:func:`bridge.protocols.safe.safe_value`; :class:`Headers` refuses CR, LF and NUL
in any value as a last line of defence.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, TypeVar, cast

from bridge.protocols.safe import safe_value

MAX_MESSAGE_SIZE: Final = 65_535
MAX_HEAD_SIZE: Final = 16_384  # a header section on a stream; real ones are under 4 KiB
MAX_HEADERS: Final = 128
BRANCH_MAGIC: Final = "z9hG4bK"

# RFC 3261 17.1.1.1 and table 4, in seconds.
T1: Final = 0.5
T2: Final = 4.0
T4: Final = 5.0


class SipParseError(ValueError):
    """The bytes are not a well-formed SIP message (or part of one)."""


class SipBuildError(ValueError):
    """A message we were asked to build would be malformed or unsafe."""


# ---------------------------------------------------------------------------
# Header names

_COMPACT: Final = {
    "i": "call-id",
    "m": "contact",
    "f": "from",
    "t": "to",
    "v": "via",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
    "o": "event",
    "r": "refer-to",
    "b": "referred-by",
    "u": "allow-events",
    "x": "session-expires",
}

_CANONICAL: Final = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "content-length": "Content-Length",
    "content-type": "Content-Type",
    "content-encoding": "Content-Encoding",
    "via": "Via",
    "from": "From",
    "to": "To",
    "contact": "Contact",
    "supported": "Supported",
    "subject": "Subject",
    "event": "Event",
    "refer-to": "Refer-To",
    "referred-by": "Referred-By",
    "allow-events": "Allow-Events",
    "session-expires": "Session-Expires",
    "max-forwards": "Max-Forwards",
    "record-route": "Record-Route",
    "route": "Route",
    "user-agent": "User-Agent",
    "allow": "Allow",
    "authorization": "Authorization",
    "proxy-authenticate": "Proxy-Authenticate",
    "proxy-authorization": "Proxy-Authorization",
    "retry-after": "Retry-After",
    "expires": "Expires",
}

# Headers whose comma-separated values are separate entries (RFC 3261 7.3.1).
_MULTI: Final = frozenset({"via", "route", "record-route", "contact"})

_TOKEN: Final = r"[A-Za-z0-9.!%*_+`'~-]+"
_TOKEN_RE: Final = re.compile(_TOKEN)
_STATUS_RE: Final = re.compile(r"[1-6][0-9][0-9]")
_DIGITS_RE: Final = re.compile(r"[0-9]{1,10}")
_CSEQ_RE: Final = re.compile(r"\s*([0-9]{1,10})\s+(" + _TOKEN + r")\s*")
_VIA_RE: Final = re.compile(r"\s*SIP\s*/\s*2\.0\s*/\s*(" + _TOKEN + r")\s+([^;\s]+)\s*(;.*)?")
_HOST_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\]")
_PARAM_VALUE_RE: Final = re.compile(r"[A-Za-z0-9_.!~*'()\[\]/:&+$%-]{0,256}")
# generic-param value: token or host (IPv6 references included), RFC 3261 25.1
_HEADER_PARAM_RE: Final = re.compile(r"[A-Za-z0-9.!%*_+`'~:\[\]-]{0,256}")
_CALL_ID_RE: Final = re.compile(r"[A-Za-z0-9_.!%*+`'~()<>:\\\"/\[\]?{}@-]{1,256}")
_DISPLAY_TOKENS_RE: Final = re.compile(r"[A-Za-z0-9.!%*_+`'~ \t-]*")


def _key(name: str) -> str:
    low = name.lower()
    if len(low) == 1:
        return _COMPACT.get(low, low)
    return low


def _display(key: str) -> str:
    known = _CANONICAL.get(key)
    if known is not None:
        return known
    return "-".join(part.capitalize() for part in key.split("-"))


def _known_names() -> dict[str, tuple[str, str]]:
    """Exact spellings seen on the wire, mapped to (key, display) without any work per line."""
    names: dict[str, tuple[str, str]] = {}
    for key, display in _CANONICAL.items():
        for spelling in (key, display, display.title(), key.upper()):
            names[spelling] = (key, display)
    for letter, key in _COMPACT.items():
        names[letter] = names[letter.upper()] = (key, _display(key))
    return names


_KNOWN_NAMES: Final = _known_names()


def _check_value(name: str, value: str) -> None:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise SipBuildError(f"refused {name} header value with CR, LF or NUL")


class Headers:
    """Ordered, case-insensitive multi-map of header values; compact names expanded."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str, str]] = []
        for name, value in items:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        if _TOKEN_RE.fullmatch(name) is None:
            raise SipBuildError(f"refused header name {name!r}")
        _check_value(name, value)
        key = _key(name)
        self._items.append((key, _display(key), value))

    def set(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with one value, at the first one's position."""
        self.add(name, value)
        item = self._items.pop()
        position = next((i for i, old in enumerate(self._items) if old[0] == item[0]), None)
        self._items = [old for old in self._items if old[0] != item[0]]
        self._items.insert(len(self._items) if position is None else position, item)

    def remove(self, name: str) -> None:
        key = _key(name)
        self._items = [item for item in self._items if item[0] != key]

    def get(self, name: str) -> str | None:
        key = _key(name)
        for item in self._items:
            if item[0] == key:
                return item[2]
        return None

    def get_all(self, name: str) -> list[str]:
        key = _key(name)
        return [item[2] for item in self._items if item[0] == key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((display, value) for _, display, value in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> Headers:
        clone = Headers()
        clone._items = list(self._items)
        return clone


# ---------------------------------------------------------------------------
# Small lexical helpers (all single pass)


def _split_outside(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes and angle brackets."""
    if '"' not in text and "<" not in text:
        return text.split(sep)
    parts: list[str] = []
    start = 0
    quoted = False
    angle = False
    escaped = False
    for i, ch in enumerate(text):
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch == sep and not angle:
            parts.append(text[start:i])
            start = i + 1
    if quoted:
        raise SipParseError("unterminated quoted string")
    parts.append(text[start:])
    return parts


def _read_quoted(text: str) -> tuple[str, int]:
    """Unescape the quoted string at the start of ``text``; return it and the index after it."""
    out: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                break
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise SipParseError("unterminated quoted string")


def quote(text: str) -> str:
    """Quote ``text`` as a SIP quoted-string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


Params = dict[str, str | None]


def _parse_params(text: str, *, uri: bool = False) -> Params:
    """Parse ``;name=value;flag`` (``text`` starts with ``;`` or is blank)."""
    params: Params = {}
    text = text.strip()
    if not text:
        return params
    if text[0] != ";":
        raise SipParseError("expected ';' before parameters")
    for raw in _split_outside(text[1:], ";"):
        name, eq, value = raw.partition("=")
        name = name.strip().lower()
        if _TOKEN_RE.fullmatch(name) is None:
            raise SipParseError("bad parameter name")
        if not eq:
            params[name] = None
            continue
        value = value.strip()
        if value.startswith('"') and not uri:
            _, end = _read_quoted(value)
            if end != len(value):
                raise SipParseError("junk after quoted parameter")
        elif (_PARAM_VALUE_RE if uri else _HEADER_PARAM_RE).fullmatch(value) is None:
            raise SipParseError("bad parameter value")
        params[name] = value
    return params


def _format_params(params: Params) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def _parse_hostport(text: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError("unterminated IPv6 reference")
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise SipParseError("junk after IPv6 reference")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_raw = text.partition(":")
        port_text = port_text_raw if colon else None
    if _HOST_RE.fullmatch(host) is None:
        raise SipParseError("bad host")
    if port_text is None:
        return host.lower(), None
    if _DIGITS_RE.fullmatch(port_text) is None or not 0 < int(port_text) < 65536:
        raise SipParseError("bad port")
    return host.lower(), int(port_text)


# ---------------------------------------------------------------------------
# URIs, addresses, Via, CSeq


@dataclass(slots=True)
class SipUri:
    """``sip:user:password@host:port;params?headers`` (host keeps IPv6 brackets)."""

    host: str
    user: str | None = None
    port: int | None = None
    params: Params = field(default_factory=dict)
    scheme: str = "sip"
    password: str | None = None
    headers: str = ""

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        out.append(_format_params(self.params))
        if self.headers:
            out.append("?" + self.headers)
        return "".join(out)


# One anchored pattern validates the whole URI in C; every class excludes the
# delimiter that ends it, so matching is linear in the length of the text.
_URI_RE: Final = re.compile(
    r"\s*([Ss][Ii][Pp][Ss]?):"
    r"(?:([A-Za-z0-9_.!~*'()&=+$,;?/%#-]{1,128})(?::([A-Za-z0-9_.!~*'()&=+$,%-]{0,128}))?@)?"
    r"([A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::([0-9]{1,5}))?"
    r"((?:;[A-Za-z0-9.!%*_+`'~-]+(?:=[A-Za-z0-9_.!~*'()\[\]/:&+$%-]*)?){0,32})"
    r"(?:\?([A-Za-z0-9_.!~*'()\[\]/:&+$%=?-]{0,512}))?\s*"
)


def parse_uri(text: str) -> SipUri:
    """Parse a ``sip:`` or ``sips:`` URI; any other scheme is refused."""
    match = _URI_RE.fullmatch(text)
    if match is None:
        raise SipParseError("not a valid sip: or sips: URI")
    scheme, user, password, host, port, params, headers = match.groups()
    port_number = None
    if port is not None:
        port_number = int(port)
        if not 0 < port_number < 65536:
            raise SipParseError("bad port")
    return SipUri(
        host=host.lower(),
        user=user,
        port=port_number,
        params=_parse_params(params, uri=True) if params else {},
        scheme=scheme.lower(),
        password=password,
        headers=headers or "",
    )


@dataclass(slots=True)
class NameAddr:
    """``"Display" <uri>;params`` as in From, To, Contact, Route and Record-Route."""

    uri: SipUri
    display_name: str | None = None
    params: Params = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddr:
        return NameAddr(self.uri, self.display_name, {**self.params, "tag": tag})

    def __str__(self) -> str:
        shown = "" if self.display_name is None else quote(self.display_name) + " "
        return f"{shown}<{self.uri}>{_format_params(self.params)}"


def parse_name_addr(text: str) -> NameAddr:
    text = text.strip()
    display: str | None = None
    if text.startswith('"'):
        display, end = _read_quoted(text)
        rest = text[end:].lstrip()
        if not rest.startswith("<"):
            raise SipParseError("expected '<' after display name")
    elif "<" in text:
        start = text.index("<")
        plain = text[:start].strip()
        if _DISPLAY_TOKENS_RE.fullmatch(plain) is None:
            raise SipParseError("bad display name")
        display = plain or None
        rest = text[start:]
    else:
        # addr-spec form: every ';param' belongs to the header, not the URI (RFC 3261 20.10)
        uri_text, semi, params = text.partition(";")
        if "," in uri_text or "?" in uri_text:
            raise SipParseError("addr-spec with ',' or '?' needs angle brackets")
        return NameAddr(parse_uri(uri_text), None, _parse_params(semi + params))
    close = rest.find(">")
    if close < 0:
        raise SipParseError("missing '>'")
    return NameAddr(parse_uri(rest[1:close]), display, _parse_params(rest[close + 1 :]))


@dataclass(slots=True)
class Via:
    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"SIP/2.0/{self.transport} {self.sent_by}{_format_params(self.params)}"


def parse_via(text: str) -> Via:
    match = _VIA_RE.fullmatch(text)
    if match is None:
        raise SipParseError("bad Via")
    host, port = _parse_hostport(match.group(2))
    return Via(match.group(1).upper(), host, port, _parse_params(match.group(3) or ""))


@dataclass(frozen=True, slots=True)
class CSeq:
    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(text: str) -> CSeq:
    match = _CSEQ_RE.fullmatch(text)
    if match is None or int(match.group(1)) >= 2**31:
        raise SipParseError("bad CSeq")
    return CSeq(int(match.group(1)), match.group(2))


# ---------------------------------------------------------------------------
# Messages


_T = TypeVar("_T")


class _Message:
    """Typed views of the headers a UA needs, parsed on first use.

    Views are cached against the raw header text, so changing a header is seen
    at the next access. They are shared between accesses: treat them as read-only
    (``NameAddr.with_tag`` and friends return copies).
    """

    __slots__ = ()
    headers: Headers
    body: bytes
    _views: dict[str, tuple[str, object]]

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"missing {name}")
        return value

    def _view(self, name: str, raw: str, parse: Callable[[str], _T]) -> _T:
        hit = self._views.get(name)
        if hit is not None and hit[0] == raw:
            return cast(_T, hit[1])
        value = parse(raw)
        self._views[name] = (raw, value)
        return value

    @property
    def call_id(self) -> str:
        return self._required("call-id")

    @property
    def cseq(self) -> CSeq:
        return self._view("cseq", self._required("cseq"), parse_cseq)

    @property
    def vias(self) -> list[Via]:
        raw = "\x00".join(self.headers.get_all("via"))
        return self._view(
            "vias", raw, lambda text: [parse_via(v) for v in text.split("\x00") if text]
        )

    @property
    def top_via(self) -> Via:
        vias = self.vias
        if not vias:
            raise SipParseError("missing Via")
        return vias[0]

    @property
    def from_addr(self) -> NameAddr:
        return self._view("from", self._required("from"), parse_name_addr)

    @property
    def to_addr(self) -> NameAddr:
        return self._view("to", self._required("to"), parse_name_addr)

    @property
    def contacts(self) -> list[NameAddr]:
        raw = "\x00".join(self.headers.get_all("contact"))
        return self._view("contacts", raw, _parse_contacts)

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("content-type")
        return None if value is None else value.split(";", 1)[0].strip().lower()

    def _start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Serialize; Content-Length is always written from the actual body."""
        lines = [self._start_line()]
        lines.extend(f"{d}: {v}" for k, d, v in self.headers._items if k != "content-length")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass(slots=True)
class SipRequest(_Message):
    method: str
    uri: SipUri
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    _views: dict[str, tuple[str, object]] = field(default_factory=dict, repr=False, compare=False)

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"


@dataclass(slots=True)
class SipResponse(_Message):
    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    _views: dict[str, tuple[str, object]] = field(default_factory=dict, repr=False, compare=False)

    def _start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"


SipMessage = SipRequest | SipResponse


def _parse_contacts(raw: str) -> list[NameAddr]:
    return [parse_name_addr(v) for v in raw.split("\x00") if v.strip() not in ("", "*")]


def _content_length(headers: Headers) -> int | None:
    values = headers.get_all("content-length")
    if not values:
        return None
    lengths = {v.strip() for v in values}
    if len(lengths) != 1:
        raise SipParseError("conflicting Content-Length")
    text = lengths.pop()
    if _DIGITS_RE.fullmatch(text) is None or int(text) > MAX_MESSAGE_SIZE:
        raise SipParseError("bad Content-Length")
    return int(text)


def _header_lines(text: str) -> list[str]:
    """Split the header section into lines (CRLF, or bare LF throughout) and unfold them."""
    if "\r" in text:
        lines = text.split("\r\n")
        if text.count("\r") != len(lines) - 1 or text.count("\n") != len(lines) - 1:
            raise SipParseError("bare CR or LF in header section")
    else:
        lines = text.split("\n")
    if len(lines) > MAX_HEADERS + 1:
        raise SipParseError("too many headers")
    if "\n " in text or "\n\t" in text:
        # folded lines (RFC 3261 7.3.1): join continuation lines with one space
        unfolded: list[list[str]] = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and unfolded:
                unfolded[-1].append(line.strip())
            else:
                unfolded.append([line.rstrip(" \t")])
        lines = [lines[0], *(" ".join(parts) for parts in unfolded)]
    return lines


def _parse_head(head: bytes) -> SipRequest | SipResponse:
    if b"\x00" in head:
        raise SipParseError("NUL in header section")
    try:
        text = head.decode()
    except UnicodeDecodeError:
        raise SipParseError("header section is not UTF-8") from None
    lines = _header_lines(text)
    headers = Headers()
    items = headers._items
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        known = _KNOWN_NAMES.get(name)
        if known is None:
            name = name.rstrip(" \t")
            if not colon or _TOKEN_RE.fullmatch(name) is None:
                raise SipParseError("bad header line")
            key = _key(name)
            known = (key, _CANONICAL.get(key) or name)
        elif not colon:
            raise SipParseError("bad header line")
        value = value.strip()
        if known[0] in _MULTI and "," in value:
            key, display = known
            items.extend((key, display, part.strip()) for part in _split_outside(value, ","))
        else:
            items.append((*known, value))
    if len(items) > MAX_HEADERS:
        raise SipParseError("too many header values")
    start = lines[0]
    if start.startswith("SIP/"):
        version, _, rest = start.partition(" ")
        code, _, reason = rest.partition(" ")
        if version != "SIP/2.0" or _STATUS_RE.fullmatch(code) is None:
            raise SipParseError("bad status line")
        return SipResponse(int(code), reason, headers)
    parts = start.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or _TOKEN_RE.fullmatch(parts[0]) is None:
        raise SipParseError("bad request line")
    return SipRequest(parts[0], parse_uri(parts[1]), headers)


def _validate(message: SipMessage) -> None:
    """Touch every header a UA relies on, so malformed ones fail at parse time."""
    call_id = message.call_id.strip()
    if not call_id or " " in call_id:
        raise SipParseError("bad Call-ID")
    cseq = message.cseq
    message.top_via  # noqa: B018
    message.from_addr  # noqa: B018
    message.to_addr  # noqa: B018
    message.contacts  # noqa: B018
    if isinstance(message, SipRequest) and cseq.method != message.method:
        raise SipParseError("CSeq method differs from request method")
    max_forwards = message.headers.get("max-forwards")
    if max_forwards is not None and _DIGITS_RE.fullmatch(max_forwards.strip()) is None:
        raise SipParseError("bad Max-Forwards")


def is_keepalive(data: bytes) -> bool:
    """A CRLF keep-alive (RFC 5626 4.4.1) rather than a message."""
    return bool(data) and not data.strip(b"\r\n")


def parse_message(data: bytes) -> SipMessage:
    """Parse one datagram (or one framed stream message) into a request or response."""
    if len(data) > MAX_MESSAGE_SIZE:
        raise SipParseError("message too large")
    data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        head, body = data[:end], data[end + 4 :]
    else:
        end = data.find(b"\n\n")
        head, body = (data[:end], data[end + 2 :]) if end >= 0 else (data.rstrip(b"\r\n"), b"")
    if not head:
        raise SipParseError("empty message")
    message = _parse_head(head)
    length = _content_length(message.headers)
    if length is not None:
        if length > len(body):
            raise SipParseError("body shorter than Content-Length")
        body = body[:length]
    message.body = bytes(body)
    _validate(message)
    return message


class SipStreamParser:
    """Frames messages out of a TCP byte stream by Content-Length (RFC 3261 18.3).

    Raises :class:`SipParseError` on anything malformed; the connection must then
    be closed, since framing is lost. What it holds is bounded: a header section
    longer than ``max_head_size`` or a message longer than ``max_message_size`` is
    refused as soon as that is known, so a peer can never make it buffer more.
    Each header section is parsed once, however finely the body is split.
    """

    def __init__(
        self, max_message_size: int = MAX_MESSAGE_SIZE, max_head_size: int = MAX_HEAD_SIZE
    ) -> None:
        self._buffer = bytearray()
        self._scanned = 0
        self._max = max_message_size
        self._max_head = min(max_head_size, max_message_size)
        self._pending: tuple[SipMessage, int, int] | None = None  # head parsed, body to come

    @property
    def buffered(self) -> int:
        """Bytes held for a message not complete yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[SipMessage]:
        self._buffer += data
        messages: list[SipMessage] = []
        while True:
            if self._pending is None and not self._frame_head():
                return messages
            assert self._pending is not None
            message, end, total = self._pending
            if len(self._buffer) < total:
                return messages
            message.body = bytes(self._buffer[end + 4 : total])
            del self._buffer[:total]
            self._pending = None
            self._scanned = 0
            _validate(message)
            messages.append(message)

    def _frame_head(self) -> bool:
        """Find and parse the next header section; False when more bytes are needed."""
        # CRLFs between messages are keep-alives (RFC 5626) and are skipped.
        skip = 0
        while skip < len(self._buffer) and self._buffer[skip] in b"\r\n":
            skip += 1
        if skip:
            del self._buffer[:skip]
            self._scanned = 0
        end = self._buffer.find(b"\r\n\r\n", max(0, self._scanned - 3), self._max_head + 4)
        if end < 0:
            if len(self._buffer) > self._max_head:
                raise SipParseError("header section too large")
            self._scanned = len(self._buffer)
            return False
        message = _parse_head(bytes(self._buffer[:end]))
        length = _content_length(message.headers)
        if length is None:
            raise SipParseError("Content-Length is mandatory on streams")
        total = end + 4 + length
        if total > self._max:
            raise SipParseError("message too large")
        self._pending = (message, end, total)
        return True


# ---------------------------------------------------------------------------
# Identifiers and values from our users


def new_branch() -> str:
    return BRANCH_MAGIC + secrets.token_hex(10)


def new_tag() -> str:
    return secrets.token_hex(8)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{safe_value(host, 'dial_target')}"


def target_uri(target: str, default_host: str) -> SipUri:
    """A dial-out or divert target (``alice``, ``alice@pbx``, ``sip:alice@pbx:5080``) as a URI."""
    value = safe_value(target, "dial_target")
    if value.lower().startswith(("sip:", "sips:")):
        text = value
    elif "@" in value:
        text = "sip:" + value
    else:
        text = f"sip:{value}@{safe_value(default_host, 'dial_target')}"
    try:
        return parse_uri(text)
    except SipParseError as exc:
        raise SipBuildError(f"refused target {target!r}: {exc}") from None


def caller_address(caller_id: str, host: str, display_name: str | None = None) -> NameAddr:
    """The From address of an outbound call, from a validated caller id and display name."""
    user = safe_value(caller_id, "caller_id")
    display = None if display_name is None else safe_value(display_name, "text")
    return NameAddr(parse_uri(f"sip:{user}@{safe_value(host, 'dial_target')}"), display)


REASONS: Final = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    302: "Moved Temporarily",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    603: "Decline",
}

ALLOW: Final = "INVITE, ACK, BYE, CANCEL, OPTIONS"


# ---------------------------------------------------------------------------
# Building messages


def build_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> SipResponse:
    """A response to ``request`` (RFC 3261 8.2.6): Via, From, To, Call-ID and CSeq copied.

    ``to_tag`` is added to To unless it already has one or the status is 100.
    Record-Route is copied into dialog-establishing responses (12.1.1).
    """
    if not 100 <= status <= 699:
        raise SipBuildError(f"bad status {status}")
    text = REASONS.get(status, "Unknown") if reason is None else safe_value(reason, "text")
    out = Headers()
    for value in request.headers.get_all("via"):
        out.add("Via", value)
    out.add("From", request._required("from"))
    to = request.to_addr
    if to_tag is not None and to.tag is None and status != 100:
        out.add("To", str(to.with_tag(safe_value(to_tag, "token"))))
    else:
        out.add("To", request._required("to"))
    out.add("Call-ID", request.call_id)
    out.add("CSeq", request._required("cseq"))
    if request.method in ("INVITE", "SUBSCRIBE") and 100 < status < 300:
        for value in request.headers.get_all("record-route"):
            out.add("Record-Route", value)
    for name, value in headers:
        out.add(name, value)
    if content_type is not None:
        out.add("Content-Type", content_type)
    return SipResponse(status, text, out, body)


def build_request(
    method: str,
    request_uri: SipUri,
    *,
    via: Via,
    from_addr: NameAddr,
    to_addr: NameAddr,
    call_id: str,
    cseq: int,
    contact: NameAddr | None = None,
    routes: Sequence[str] = (),
    max_forwards: int = 70,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> SipRequest:
    if _TOKEN_RE.fullmatch(method) is None or _CALL_ID_RE.fullmatch(call_id) is None:
        raise SipBuildError("bad method or Call-ID")
    if not 0 <= cseq < 2**31:
        raise SipBuildError("bad CSeq number")
    out = Headers()
    out.add("Via", str(via))
    out.add("Max-Forwards", str(max_forwards))
    for route in routes:
        out.add("Route", route)
    out.add("From", str(from_addr))
    out.add("To", str(to_addr))
    out.add("Call-ID", call_id)
    out.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        out.add("Contact", str(contact))
    for name, value in headers:
        out.add(name, value)
    if content_type is not None:
        out.add("Content-Type", content_type)
    return SipRequest(method, request_uri, out, body)


def local_via(transport: str, host: str, port: int | None, branch: str | None = None) -> Via:
    """Our own Via with a fresh RFC 3261 branch and ``rport`` (RFC 3581)."""
    return Via(
        safe_value(transport, "token").upper(),
        safe_value(host, "dial_target"),
        port,
        {"branch": branch or new_branch(), "rport": None},
    )


def build_cancel(invite: SipRequest) -> SipRequest:
    """CANCEL for a pending INVITE (RFC 3261 9.1): same branch, Call-ID, From, To, CSeq number."""
    out = Headers()
    out.add("Via", invite._required("via"))
    out.add("Max-Forwards", "70")
    for route in invite.headers.get_all("route"):
        out.add("Route", route)
    out.add("From", invite._required("from"))
    out.add("To", invite._required("to"))
    out.add("Call-ID", invite.call_id)
    out.add("CSeq", f"{invite.cseq.seq} CANCEL")
    return SipRequest("CANCEL", invite.uri, out)


def build_ack_for_failure(invite: SipRequest, response: SipResponse) -> SipRequest:
    """ACK for a 300-699 final response, sent by the client transaction (RFC 3261 17.1.1.3)."""
    out = Headers()
    out.add("Via", invite._required("via"))
    out.add("Max-Forwards", "70")
    for route in invite.headers.get_all("route"):
        out.add("Route", route)
    out.add("From", invite._required("from"))
    out.add("To", response._required("to"))
    out.add("Call-ID", invite.call_id)
    out.add("CSeq", f"{invite.cseq.seq} ACK")
    return SipRequest("ACK", invite.uri, out)


# ---------------------------------------------------------------------------
# Dialogs (RFC 3261 12)


@dataclass(slots=True)
class Dialog:
    """The state of one dialog; pure record plus in-dialog request construction."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr
    remote_uri: NameAddr
    remote_target: SipUri
    local_contact: NameAddr
    local_seq: int
    remote_seq: int | None = None
    route_set: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def as_uas(
        cls, invite: SipRequest, local_tag: str, local_contact: NameAddr, local_seq: int = 1
    ) -> Dialog:
        """The dialog our 2xx/18x to ``invite`` creates (RFC 3261 12.1.1)."""
        remote = invite.from_addr
        contacts = invite.contacts
        if remote.tag is None or not contacts:
            raise SipParseError("INVITE without From tag or Contact")
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=remote.tag,
            local_uri=invite.to_addr.with_tag(local_tag),
            remote_uri=remote,
            remote_target=contacts[0].uri,
            local_contact=local_contact,
            local_seq=local_seq,
            remote_seq=invite.cseq.seq,
            route_set=invite.headers.get_all("record-route"),
        )

    @classmethod
    def as_uac(cls, invite: SipRequest, response: SipResponse) -> Dialog:
        """The dialog a 2xx/18x with a To tag to our ``invite`` creates (RFC 3261 12.1.2)."""
        local = invite.from_addr
        remote = response.to_addr
        contacts = response.contacts
        local_contacts = invite.contacts
        if local.tag is None or remote.tag is None or not local_contacts:
            raise SipParseError("dialog needs both tags and our Contact")
        return cls(
            call_id=invite.call_id,
            local_tag=local.tag,
            remote_tag=remote.tag,
            local_uri=local,
            remote_uri=remote,
            remote_target=contacts[0].uri if contacts else invite.uri,
            local_contact=local_contacts[0],
            local_seq=invite.cseq.seq,
            route_set=list(reversed(response.headers.get_all("record-route"))),
        )

    def matches(self, message: SipMessage, *, incoming: bool = True) -> bool:
        """Whether an in-dialog request or response belongs to this dialog."""
        try:
            from_tag, to_tag = message.from_addr.tag, message.to_addr.tag
        except SipParseError:
            return False
        remote, local = (from_tag, to_tag) if incoming else (to_tag, from_tag)
        same_call = message.call_id == self.call_id
        return same_call and local == self.local_tag and remote == self.remote_tag

    def accept_remote_cseq(self, seq: int) -> bool:
        """RFC 3261 12.2.2: a lower CSeq than the last one is out of order (answer 500)."""
        if self.remote_seq is not None and seq < self.remote_seq:
            return False
        self.remote_seq = seq
        return True

    def refresh_target(self, message: SipMessage) -> None:
        """A target refresh (re-INVITE or its 2xx) replaces the remote target."""
        contacts = message.contacts
        if contacts:
            self.remote_target = contacts[0].uri

    def _uri_and_routes(self) -> tuple[SipUri, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = parse_name_addr(self.route_set[0]).uri
        if "lr" in first.params:
            return self.remote_target, list(self.route_set)
        # strict routing (RFC 3261 12.2.1.1): the first route becomes the Request-URI
        return first, [*self.route_set[1:], f"<{self.remote_target}>"]

    def create_request(
        self,
        method: str,
        via: Via,
        *,
        cseq: int | None = None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> SipRequest:
        """An in-dialog request; the CSeq advances unless given (ACK reuses the INVITE's)."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        uri, routes = self._uri_and_routes()
        contact = self.local_contact if method in ("INVITE", "UPDATE") else None
        return build_request(
            method,
            uri,
            via=via,
            from_addr=self.local_uri,
            to_addr=self.remote_uri,
            call_id=self.call_id,
            cseq=cseq,
            contact=contact,
            routes=routes,
            headers=headers,
            body=body,
            content_type=content_type,
        )

    def create_ack(self, invite_cseq: int, via: Via, body: bytes = b"") -> SipRequest:
        """ACK for a 2xx (RFC 3261 13.2.2.4): new branch, the INVITE's CSeq number."""
        ack = self.create_request("ACK", via, cseq=invite_cseq, body=body)
        return ack


def server_transaction_key(request: SipRequest) -> tuple[str, str, str]:
    """Key matching a request to its server transaction (RFC 3261 17.2.3); ACK maps to INVITE."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    if not branch.startswith(BRANCH_MAGIC):
        # RFC 2543 peers: fall back on the fields that identify the request
        branch = f"2543:{request.call_id}:{request.cseq.seq}:{request.from_addr.tag}"
    return (branch, via.sent_by, method)


def client_transaction_key(message: SipMessage) -> tuple[str, str]:
    """Key matching a response (or our request) to a client transaction (RFC 3261 17.1.3)."""
    method = message.cseq.method
    if method == "ACK":
        method = "INVITE"
    return (message.top_via.branch or "", method)


# ---------------------------------------------------------------------------
# Transactions (RFC 3261 17, with RFC 6026's Accepted state for INVITE servers)


class TxState(Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class Send:
    """Send this message to the transaction's peer."""

    message: SipMessage


@dataclass(frozen=True, slots=True)
class Deliver:
    """Hand this message to the transaction user."""

    message: SipMessage


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The transaction gave up (Timer B, F or H, or no ACK for a 2xx)."""

    reason: str


Effect = Send | Deliver | TimedOut


class _Transaction:
    """Shared timer bookkeeping: named deadlines, earliest one exposed to the IO loop."""

    def __init__(self, reliable: bool) -> None:
        self.reliable = reliable
        self.state = TxState.TRYING
        self._deadlines: dict[str, float] = {}
        self._intervals: dict[str, float] = {}

    @property
    def next_deadline(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    @property
    def terminated(self) -> bool:
        return self.state is TxState.TERMINATED

    def _arm(self, name: str, now: float, interval: float) -> None:
        self._intervals[name] = interval
        self._deadlines[name] = now + interval

    def _stop(self, *names: str) -> None:
        for name in names:
            self._deadlines.pop(name, None)

    def _terminate(self) -> None:
        self.state = TxState.TERMINATED
        self._deadlines.clear()

    def on_timer(self, now: float) -> list[Effect]:
        """Fire every timer due at ``now``, earliest first."""
        effects: list[Effect] = []
        for name, deadline in sorted(self._deadlines.items(), key=lambda item: item[1]):
            if deadline <= now and self._deadlines.get(name) == deadline:
                del self._deadlines[name]
                effects.extend(self._fire(name, now))
        return effects

    def _fire(self, name: str, now: float) -> list[Effect]:
        raise NotImplementedError


class ClientInviteTransaction(_Transaction):
    """RFC 3261 17.1.1: INVITE client transaction."""

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False) -> None:
        super().__init__(reliable)
        self.request = request
        self.state = TxState.CALLING
        self._ack: SipRequest | None = None
        self.provisional_received = False
        self.timer_b_fired = False
        if not reliable:
            self._arm("A", now, T1)
        self._arm("B", now, 64 * T1)

    def start(self) -> list[Effect]:
        return [Send(self.request)]

    def abandon(self) -> None:
        """The TU wants no more of this call but may not CANCEL it yet (RFC 3261 9.1: no
        CANCEL before a provisional response): stop retransmitting the INVITE. Timer B still
        ends the transaction; a late response is still delivered (the TU then CANCELs after
        a provisional one, or ACKs and BYEs a 2xx)."""
        if self.state is TxState.CALLING:
            self._stop("A")

    def on_response(self, response: SipResponse, now: float) -> list[Effect]:
        status = response.status
        if self.state in (TxState.CALLING, TxState.PROCEEDING):
            if status < 200:
                self.state = TxState.PROCEEDING
                self.provisional_received = True
                self._stop("A", "B")
                return [Deliver(response)]
            if status < 300:
                # The TU ACKs 2xx itself and absorbs their retransmissions (13.2.2.4).
                self._terminate()
                return [Deliver(response)]
            self.state = TxState.COMPLETED
            self._deadlines.clear()
            self._ack = build_ack_for_failure(self.request, response)
            self._arm("D", now, 0.0 if self.reliable else 32.0)
            return [Send(self._ack), Deliver(response)]
        if self.state is TxState.COMPLETED and status >= 300 and self._ack is not None:
            return [Send(self._ack)]
        return []

    def _fire(self, name: str, now: float) -> list[Effect]:
        if name == "A" and self.state is TxState.CALLING:
            self._arm("A", now, self._intervals["A"] * 2)
            return [Send(self.request)]
        if name == "B" and self.state is TxState.CALLING:
            self._terminate()
            self.timer_b_fired = True
            return [TimedOut("Timer B")]
        if name == "D":
            self._terminate()
        return []


class ClientNonInviteTransaction(_Transaction):
    """RFC 3261 17.1.2: non-INVITE client transaction (BYE, CANCEL, OPTIONS)."""

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False) -> None:
        super().__init__(reliable)
        self.request = request
        if not reliable:
            self._arm("E", now, T1)
        self._arm("F", now, 64 * T1)

    def start(self) -> list[Effect]:
        return [Send(self.request)]

    def on_response(self, response: SipResponse, now: float) -> list[Effect]:
        if self.state not in (TxState.TRYING, TxState.PROCEEDING):
            return []
        if response.status < 200:
            self.state = TxState.PROCEEDING
            return [Deliver(response)]
        self.state = TxState.COMPLETED
        self._deadlines.clear()
        self._arm("K", now, 0.0 if self.reliable else T4)
        return [Deliver(response)]

    def _fire(self, name: str, now: float) -> list[Effect]:
        if name == "E" and self.state in (TxState.TRYING, TxState.PROCEEDING):
            interval = T2 if self.state is TxState.PROCEEDING else self._intervals["E"] * 2
            self._arm("E", now, min(interval, T2))
            return [Send(self.request)]
        if name == "F":
            self._terminate()
            return [TimedOut("Timer F")]
        if name == "K":
            self._terminate()
        return []


class ServerInviteTransaction(_Transaction):
    """RFC 3261 17.2.1 with RFC 6026: INVITE server transaction.

    After a 2xx it stays ``ACCEPTED`` for 64*T1, retransmitting the 2xx until the
    ACK arrives (RFC 3261 13.3.1.4; the ACK has its own branch, so the caller
    routes it here with :meth:`on_ack`) and absorbing retransmitted INVITEs.
    """

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False) -> None:
        super().__init__(reliable)
        self.request = request
        self.state = TxState.PROCEEDING
        self.acked = False
        self._last: SipResponse | None = None

    def start(self, trying: bool = True) -> list[Effect]:
        """Deliver the INVITE to the TU, after a 100 Trying unless the TU answers at once."""
        effects: list[Effect] = []
        if trying:
            self._last = build_response(self.request, 100)
            effects.append(Send(self._last))
        effects.append(Deliver(self.request))
        return effects

    def respond(self, response: SipResponse, now: float) -> list[Effect]:
        if self.state is TxState.ACCEPTED and 200 <= response.status < 300:
            return [Send(response)]  # the TU may resend its 2xx; pass it through
        if self.state is not TxState.PROCEEDING:
            return []
        self._last = response
        if response.status < 200:
            return [Send(response)]
        if response.status < 300:
            self.state = TxState.ACCEPTED
            if not self.reliable:
                self._arm("G2xx", now, T1)
            self._arm("L", now, 64 * T1)
            return [Send(response)]
        self.state = TxState.COMPLETED
        if not self.reliable:
            self._arm("G", now, T1)
        self._arm("H", now, 64 * T1)
        return [Send(response)]

    def on_request(self, request: SipRequest, now: float) -> list[Effect]:
        """A retransmitted INVITE, or the ACK for a non-2xx final response."""
        if request.method == "ACK":
            if self.state is TxState.COMPLETED:
                self.state = TxState.CONFIRMED
                self._stop("G", "H")
                self._arm("I", now, 0.0 if self.reliable else T4)
            return []
        if self.state in (TxState.PROCEEDING, TxState.COMPLETED) and self._last is not None:
            return [Send(self._last)]
        return []

    def on_ack(self, ack: SipRequest, now: float) -> list[Effect]:
        """The ACK for our 2xx: stop retransmitting; the first one goes to the TU."""
        if self.state is not TxState.ACCEPTED or self.acked:
            return []
        self.acked = True
        self._stop("G2xx")
        return [Deliver(ack)]

    def _fire(self, name: str, now: float) -> list[Effect]:
        if name in ("G", "G2xx") and self._last is not None:
            self._arm(name, now, min(self._intervals[name] * 2, T2))
            return [Send(self._last)]
        if name == "H":
            self._terminate()
            return [TimedOut("Timer H")]
        if name == "L":
            acked = self.acked
            self._terminate()
            return [] if acked else [TimedOut("no ACK for 2xx")]
        if name == "I":
            self._terminate()
        return []


class ServerNonInviteTransaction(_Transaction):
    """RFC 3261 17.2.2: non-INVITE server transaction."""

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False) -> None:
        super().__init__(reliable)
        self.request = request
        self._last: SipResponse | None = None

    def start(self) -> list[Effect]:
        return [Deliver(self.request)]

    def respond(self, response: SipResponse, now: float) -> list[Effect]:
        if self.state not in (TxState.TRYING, TxState.PROCEEDING):
            return []
        self._last = response
        if response.status < 200:
            self.state = TxState.PROCEEDING
        else:
            self.state = TxState.COMPLETED
            self._arm("J", now, 0.0 if self.reliable else 64 * T1)
        return [Send(response)]

    def on_request(self, request: SipRequest, now: float) -> list[Effect]:
        if self._last is not None and self.state is not TxState.TERMINATED:
            return [Send(self._last)]
        return []

    def _fire(self, name: str, now: float) -> list[Effect]:
        if name == "J":
            self._terminate()
        return []
