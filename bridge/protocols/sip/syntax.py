"""SIP syntax (RFC 3261 25): limits, header names, the `Headers` multimap, parameters,
URIs, name-addrs, Via and CSeq. Strict and bounded: malformed text raises `SipParseError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

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
