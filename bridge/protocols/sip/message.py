"""SIP messages (RFC 3261 7): `SipRequest` / `SipResponse`, parsed from one datagram
(`parse_message`) and serialised back (`to_bytes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from bridge.protocols.sip.syntax import (
    _CANONICAL,
    _DIGITS_RE,
    _KNOWN_NAMES,
    _MULTI,
    _STATUS_RE,
    _TOKEN_RE,
    MAX_HEADERS,
    MAX_MESSAGE_SIZE,
    CSeq,
    Headers,
    NameAddr,
    SipParseError,
    SipUri,
    Via,
    _key,
    _split_outside,
    parse_cseq,
    parse_name_addr,
    parse_uri,
    parse_via,
)

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
