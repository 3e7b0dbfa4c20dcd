"""Sans-IO SDP (RFC 4566) and offer/answer (RFC 3264) for G.711 audio plus RFC 4733 events.

We speak PCMU (payload type 0) and PCMA (8) at 8 kHz with telephone-event for
DTMF. An offer is parsed into :class:`SessionDescription`; :func:`answer_offer`
picks the codec and the answered direction, :func:`build_offer` makes the offer
for an outbound call and :func:`accept_answer` reads the far end's answer to it.
Malformed input raises :class:`SdpError`; a well-formed offer we cannot serve
raises :class:`SdpNotAcceptable` (answer 488).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from bridge.protocols.safe import safe_value

MAX_SDP_SIZE: Final = 16_384
MAX_SDP_LINES: Final = 256
MAX_MEDIA: Final = 16

PCMU: Final = 0
PCMA: Final = 8
DEFAULT_EVENT_PT: Final = 101
EVENTS: Final = "0-16"  # DTMF 0-9 * # A-D and flash (RFC 4733 3.2)

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
_DIRECTIONS: Final[dict[str, Direction]] = {
    "sendrecv": "sendrecv",
    "sendonly": "sendonly",
    "recvonly": "recvonly",
    "inactive": "inactive",
}
_STATIC: Final = {PCMU: "PCMU", PCMA: "PCMA"}

_ADDRESS_RE: Final = re.compile(r"[A-Za-z0-9.:-]{1,253}")
_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9.!#$%&'*+^_`{|}~/-]{1,64}")
_RTPMAP_RE: Final = re.compile(
    r"([0-9]{1,3})\s+([A-Za-z0-9_.+-]{1,32})/([0-9]{1,6})(?:/([0-9]{1,2}))?"
)
_PORT_RE: Final = re.compile(r"([0-9]{1,5})(?:/([0-9]{1,3}))?")


class SdpError(ValueError):
    """The session description is malformed."""


class SdpNotAcceptable(SdpError):
    """Well-formed, but offers nothing we can answer (SIP 488 Not Acceptable Here)."""


@dataclass(frozen=True, slots=True)
class RtpMap:
    encoding: str
    clock_rate: int
    channels: int = 1


@dataclass(slots=True)
class Media:
    media: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    rtpmap: dict[int, RtpMap] = field(default_factory=dict)
    fmtp: dict[int, str] = field(default_factory=dict)
    ptime: int | None = None
    direction: Direction | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)

    def payload_types(self) -> list[int]:
        return [int(fmt) for fmt in self.formats if fmt.isdigit() and len(fmt) <= 3]

    def encoding_of(self, pt: int) -> RtpMap | None:
        known = self.rtpmap.get(pt)
        if known is not None:
            return known
        name = _STATIC.get(pt)
        return None if name is None else RtpMap(name, 8000)


@dataclass(slots=True)
class SessionDescription:
    origin_user: str
    session_id: int
    session_version: int
    origin_address: str
    session_name: str = "-"
    connection: str | None = None
    direction: Direction | None = None
    media: list[Media] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        lines = [
            "v=0",
            f"o={self.origin_user} {self.session_id} {self.session_version} IN "
            f"{_addrtype(self.origin_address)} {self.origin_address}",
            f"s={self.session_name}",
        ]
        if self.connection is not None:
            lines.append(f"c=IN {_addrtype(self.connection)} {self.connection}")
        lines.append("t=0 0")
        if self.direction is not None:
            lines.append(f"a={self.direction}")
        for m in self.media:
            lines.append(f"m={m.media} {m.port} {m.proto} {' '.join(m.formats)}")
            if m.connection is not None:
                lines.append(f"c=IN {_addrtype(m.connection)} {m.connection}")
            for pt, rtpmap in m.rtpmap.items():
                channels = f"/{rtpmap.channels}" if rtpmap.channels != 1 else ""
                lines.append(f"a=rtpmap:{pt} {rtpmap.encoding}/{rtpmap.clock_rate}{channels}")
            lines.extend(f"a=fmtp:{pt} {params}" for pt, params in m.fmtp.items())
            if m.ptime is not None:
                lines.append(f"a=ptime:{m.ptime}")
            if m.direction is not None:
                lines.append(f"a={m.direction}")
        if any("\r" in line or "\n" in line or "\x00" in line for line in lines):
            raise SdpError("refused to serialize a value with CR, LF or NUL")
        return ("\r\n".join(lines) + "\r\n").encode()


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _int(text: str, what: str, limit: int = 2**63) -> int:
    if not text.isdigit() or not text.isascii() or len(text) > 20 or int(text) >= limit:
        raise SdpError(f"bad {what}")
    return int(text)


def _connection(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError("bad c= line")
    address = parts[2].split("/", 1)[0]  # drop a multicast TTL
    if _ADDRESS_RE.fullmatch(address) is None:
        raise SdpError("bad connection address")
    return address


def _media(value: str) -> Media:
    parts = value.split()
    if len(parts) < 3 or _TOKEN_RE.fullmatch(parts[0]) is None:
        raise SdpError("bad m= line")
    port = _PORT_RE.fullmatch(parts[1])
    if port is None or int(port.group(1)) > 65535 or _TOKEN_RE.fullmatch(parts[2]) is None:
        raise SdpError("bad m= port or proto")
    formats = parts[3:]
    if len(formats) > 64 or any(_TOKEN_RE.fullmatch(fmt) is None for fmt in formats):
        raise SdpError("bad m= formats")
    return Media(parts[0], int(port.group(1)), parts[2], formats)


def _attribute(target: Media | None, session: SessionDescription, value: str) -> None:
    name, colon, rest = value.partition(":")
    direction = _DIRECTIONS.get(name)
    if direction is not None and not colon:
        if target is None:
            session.direction = direction
        else:
            target.direction = direction
        return
    if target is None:
        return
    if name == "rtpmap":
        match = _RTPMAP_RE.fullmatch(rest.strip())
        if match is None:
            raise SdpError("bad rtpmap")
        pt, encoding, rate, channels = match.groups()
        target.rtpmap[_int(pt, "payload type", 128)] = RtpMap(
            encoding, int(rate), int(channels) if channels else 1
        )
    elif name == "fmtp":
        pt, _, params = rest.strip().partition(" ")
        if len(params) > 512:
            raise SdpError("fmtp too long")
        target.fmtp[_int(pt, "payload type", 128)] = params.strip()
    elif name == "ptime":
        target.ptime = _int(rest.strip().split(".", 1)[0], "ptime", 1000)
    else:
        target.attributes.append((name, rest if colon else None))


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse a session description; every line must be ``x=value``."""
    if len(data) > MAX_SDP_SIZE:
        raise SdpError("session description too large")
    if isinstance(data, bytes):
        try:
            data = data.decode()
        except UnicodeDecodeError:
            raise SdpError("not UTF-8") from None
    if "\x00" in data:
        raise SdpError("NUL in session description")
    lines = data.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0].strip() != "v=0":
        raise SdpError("must start with v=0")
    if len(lines) > MAX_SDP_LINES:
        raise SdpError("too many lines")
    session: SessionDescription | None = None
    current: Media | None = None
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z") or "\r" in line:
            raise SdpError("bad line")
        kind, value = line[0], line[2:].strip()
        if kind == "o":
            parts = value.split()
            if session is not None or len(parts) != 6 or parts[4] not in ("IP4", "IP6"):
                raise SdpError("bad o= line")
            session = SessionDescription(
                parts[0], _int(parts[1], "session id"), _int(parts[2], "version"), parts[5]
            )
            continue
        if session is None:
            raise SdpError("o= must come before other lines")
        if kind == "s":
            session.session_name = value or "-"
        elif kind == "c":
            if current is None:
                session.connection = _connection(value)
            else:
                current.connection = _connection(value)
        elif kind == "m":
            if len(session.media) >= MAX_MEDIA:
                raise SdpError("too many media")
            current = _media(value)
            session.media.append(current)
        elif kind == "a":
            _attribute(current, session, value)
    if session is None:
        raise SdpError("missing o= line")
    return session


@dataclass(frozen=True, slots=True)
class NegotiatedAudio:
    """What a completed offer/answer means for our RTP stream."""

    payload_type: int
    codec: str  # "PCMU" or "PCMA"
    event_payload_type: int | None
    remote_address: str
    remote_port: int
    ptime: int
    direction: Direction  # from our side: do we send, receive, both or neither

    @property
    def sending(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")

    @property
    def receiving(self) -> bool:
        return self.direction in ("sendrecv", "recvonly")

    @property
    def on_hold(self) -> bool:
        """The far end does not want our audio (RFC 3264 8.4 hold)."""
        return not self.sending


def _flags(direction: Direction) -> tuple[bool, bool]:
    return direction in ("sendrecv", "sendonly"), direction in ("sendrecv", "recvonly")


def _direction(send: bool, recv: bool) -> Direction:
    if send and recv:
        return "sendrecv"
    if send:
        return "sendonly"
    return "recvonly" if recv else "inactive"


def _remote_direction(session: SessionDescription, media: Media, address: str) -> Direction:
    direction = media.direction or session.direction or "sendrecv"
    if address == "0.0.0.0":
        # RFC 2543 hold: the far end will not receive, whatever the attribute says
        send, _ = _flags(direction)
        return _direction(send, False)
    return direction


def _event_pt(media: Media) -> int | None:
    for pt in media.payload_types():
        rtpmap = media.rtpmap.get(pt)
        if rtpmap and rtpmap.encoding.lower() == "telephone-event" and rtpmap.clock_rate == 8000:
            return pt
    return None


def _codec_pt(media: Media, allowed: Sequence[int]) -> int | None:
    """The first payload type in the media's own order that is an allowed G.711 codec."""
    wanted = {_STATIC[pt] for pt in allowed}
    for pt in media.payload_types():
        rtpmap = media.encoding_of(pt)
        if rtpmap is None or rtpmap.clock_rate != 8000 or rtpmap.channels != 1:
            continue
        if rtpmap.encoding.upper() in wanted:
            return pt
    return None


def _local_address(address: str) -> str:
    value = safe_value(address, "dial_target")
    if _ADDRESS_RE.fullmatch(value) is None:
        raise SdpError(f"bad local address {address!r}")
    return value


def answer_offer(
    offer: SessionDescription,
    *,
    local_address: str,
    local_port: int,
    session_id: int,
    session_version: int,
    codecs: Sequence[int] = (PCMU, PCMA),
    local_direction: Direction = "sendrecv",
    ptime: int = 20,
) -> tuple[SessionDescription, NegotiatedAudio]:
    """Answer ``offer`` (RFC 3264 6): one audio stream, the offerer's first G.711 codec.

    Every other m= line is refused with port 0. The answered direction is the
    offer's mirrored and intersected with ``local_direction`` (sendonly is answered
    recvonly, inactive inactive). Raises :class:`SdpNotAcceptable` if no audio
    stream offers PCMU or PCMA.
    """
    address = _local_address(local_address)
    answer = SessionDescription("bridge", session_id, session_version, address, "-", address)
    chosen: NegotiatedAudio | None = None
    for media in offer.media:
        pt = None
        remote = media.connection or offer.connection
        usable = media.media == "audio" and media.proto == "RTP/AVP" and media.port != 0
        if chosen is None and usable and remote is not None:
            pt = _codec_pt(media, codecs)
        if pt is None or remote is None:
            answer.media.append(Media(media.media, 0, media.proto, media.formats[:1] or ["0"]))
            continue
        codec = media.encoding_of(pt)
        assert codec is not None
        event_pt = _event_pt(media)
        offer_send, offer_recv = _flags(_remote_direction(offer, media, remote))
        local_send, local_recv = _flags(local_direction)
        direction = _direction(offer_recv and local_send, offer_send and local_recv)
        answered = Media("audio", local_port, "RTP/AVP", [str(pt)], direction=direction)
        answered.rtpmap[pt] = RtpMap(codec.encoding.upper(), 8000)
        if event_pt is not None:
            answered.formats.append(str(event_pt))
            answered.rtpmap[event_pt] = RtpMap("telephone-event", 8000)
            answered.fmtp[event_pt] = EVENTS
        answered.ptime = ptime
        answer.media.append(answered)
        chosen = NegotiatedAudio(
            pt,
            codec.encoding.upper(),
            event_pt,
            remote,
            media.port,
            media.ptime or ptime,
            direction,
        )
    if chosen is None:
        raise SdpNotAcceptable("no audio stream with PCMU or PCMA")
    return answer, chosen


def build_offer(
    *,
    local_address: str,
    local_port: int,
    session_id: int,
    session_version: int,
    codecs: Sequence[int] = (PCMU, PCMA),
    event_payload_type: int = DEFAULT_EVENT_PT,
    direction: Direction = "sendrecv",
    ptime: int = 20,
) -> SessionDescription:
    """Our offer for an outbound call (or a re-INVITE putting the far end on hold)."""
    if not 96 <= event_payload_type <= 127 or any(pt not in _STATIC for pt in codecs):
        raise SdpError("codecs must be PCMU/PCMA and the event type dynamic (96-127)")
    address = _local_address(local_address)
    media = Media("audio", local_port, "RTP/AVP", [str(pt) for pt in codecs], direction=direction)
    for pt in codecs:
        media.rtpmap[pt] = RtpMap(_STATIC[pt], 8000)
    media.formats.append(str(event_payload_type))
    media.rtpmap[event_payload_type] = RtpMap("telephone-event", 8000)
    media.fmtp[event_payload_type] = EVENTS
    media.ptime = ptime
    return SessionDescription(
        "bridge", session_id, session_version, address, "-", address, None, [media]
    )


def accept_answer(offer: SessionDescription, answer: SessionDescription) -> NegotiatedAudio:
    """Read the far end's answer to our :func:`build_offer` offer."""
    if not offer.media or len(answer.media) != len(offer.media):
        raise SdpError("answer must have as many m= lines as the offer")
    ours, media = offer.media[0], answer.media[0]
    remote = media.connection or answer.connection
    offered = [pt for pt in ours.payload_types() if pt in _STATIC]
    pt = _codec_pt(media, offered) if media.port else None
    if pt is None or remote is None or str(pt) not in ours.formats:
        raise SdpNotAcceptable("answer accepts none of our codecs")
    codec = media.encoding_of(pt)
    assert codec is not None
    event_pt = _event_pt(media)
    remote_send, remote_recv = _flags(_remote_direction(answer, media, remote))
    return NegotiatedAudio(
        pt,
        codec.encoding.upper(),
        event_pt,
        remote,
        media.port,
        media.ptime or ours.ptime or 20,
        _direction(remote_recv, remote_send),
    )
