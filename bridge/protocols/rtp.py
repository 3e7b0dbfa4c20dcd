"""Sans-IO RTP (RFC 3550) and RFC 4733 telephone-events.

:func:`parse_rtp` / :meth:`RtpPacket.to_bytes` handle the fixed header, CSRCs,
the header extension, padding and the marker bit. :class:`DtmfReceiver` turns
a stream of telephone-event packets into digits, each exactly once;
:class:`RtpSender` keeps one stream's SSRC, sequence number and timestamp and
produces audio packets and the packet run for a DTMF digit. Malformed input
raises :class:`RtpError`.
"""

from __future__ import annotations

import secrets
import struct
from collections import deque
from dataclasses import dataclass
from typing import Final

from bridge.protocols.safe import safe_value

RTP_VERSION: Final = 2
HEADER_SIZE: Final = 12
MAX_PACKET_SIZE: Final = 1500
CLOCK_RATE: Final = 8000

_HEADER: Final = struct.Struct("!BBHII")
_EVENT: Final = struct.Struct("!BBH")

# RFC 4733 3.2: events 0-15 are the DTMF digits; 16 is flash, not a digit.
_EVENT_DIGITS: Final = "0123456789*#ABCD"
_DIGIT_EVENTS: Final = {digit: event for event, digit in enumerate(_EVENT_DIGITS)}


class RtpError(ValueError):
    """The bytes are not a well-formed RTP packet or telephone-event payload."""


@dataclass(slots=True)  # not frozen: frozen __init__ costs a third of the parse time
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None  # (profile, data: a multiple of 4 bytes)
    padding: int = 0  # padding bytes to add on serialization (as received, for parsing)

    def to_bytes(self) -> bytes:
        if not 0 <= self.payload_type < 128 or len(self.csrcs) > 15 or not 0 <= self.padding < 256:
            raise RtpError("payload type, CSRC count or padding out of range")
        first = (RTP_VERSION << 6) | (0x20 if self.padding else 0) | len(self.csrcs)
        if self.extension is not None:
            first |= 0x10
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [
            _HEADER.pack(
                first, second, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc
            )
        ]
        parts.extend(struct.pack("!I", csrc) for csrc in self.csrcs)
        if self.extension is not None:
            profile, data = self.extension
            if len(data) % 4 or len(data) > 4 * 0xFFFF:
                raise RtpError("extension data must be a multiple of 4 bytes")
            parts.append(struct.pack("!HH", profile, len(data) // 4) + data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP packet; the fast path (no CSRC, extension or padding) is one unpack."""
    size = len(data)
    if size < HEADER_SIZE or size > MAX_PACKET_SIZE:
        raise RtpError("packet too short or too long")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise RtpError("not RTP version 2")
    if first & 0x3F == 0:  # no padding, extension or CSRC
        return RtpPacket(second & 0x7F, sequence, timestamp, ssrc, data[12:], second > 127)
    offset = HEADER_SIZE + 4 * (first & 0x0F)
    if offset > size:
        raise RtpError("truncated CSRC list")
    csrcs = struct.unpack_from(f"!{first & 0x0F}I", data, HEADER_SIZE)
    extension = None
    if first & 0x10:
        if offset + 4 > size:
            raise RtpError("truncated extension header")
        profile, words = struct.unpack_from("!HH", data, offset)
        end = offset + 4 + 4 * words
        if end > size:
            raise RtpError("truncated extension")
        extension = (profile, bytes(data[offset + 4 : end]))
        offset = end
    end = size
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or offset + padding > size:
            raise RtpError("bad padding length")
        end = size - padding
    return RtpPacket(
        second & 0x7F,
        sequence,
        timestamp,
        ssrc,
        bytes(data[offset:end]),
        second > 127,
        csrcs,
        extension,
        padding,
    )


def is_rtcp(data: bytes) -> bool:
    """RTCP shares a port when muxed (RFC 5761): packet types 192-223 sit where RTP's PT is."""
    return len(data) >= 2 and data[0] >> 6 == RTP_VERSION and 192 <= data[1] <= 223


# ---------------------------------------------------------------------------
# RFC 4733 telephone-events


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int  # 0 to 63, in -dBm0
    duration: int  # in timestamp units

    @property
    def digit(self) -> str | None:
        return _EVENT_DIGITS[self.event] if self.event < len(_EVENT_DIGITS) else None

    def to_bytes(self) -> bytes:
        if not (0 <= self.event < 256 and 0 <= self.volume < 64 and 0 <= self.duration < 65536):
            raise RtpError("telephone-event field out of range")
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)


def parse_telephone_event(payload: bytes) -> TelephoneEvent:
    """Parse the first event block of a telephone-event payload (RFC 4733 2.3)."""
    if len(payload) < 4:
        raise RtpError("telephone-event payload shorter than 4 bytes")
    event, flags, duration = _EVENT.unpack_from(payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str
    ssrc: int
    timestamp: int


class DtmfReceiver:
    """Digits from telephone-event packets, each reported once.

    An event is keyed by (SSRC, RTP timestamp): every packet of one key press
    carries the same timestamp, so the start, the updates and the redundant end
    packets all map to one digit. The digit is reported on the first packet seen,
    so lost end packets never lose it. A bounded memory of recent keys absorbs
    late and duplicated packets.
    """

    def __init__(self, payload_type: int, memory: int = 32) -> None:
        self.payload_type = payload_type
        self._seen: set[tuple[int, int]] = set()
        self._order: deque[tuple[int, int]] = deque()
        self._memory = memory

    def feed(self, packet: RtpPacket) -> Dtmf | None:
        """The digit this packet starts, or None (not an event, a repeat, or not a digit)."""
        if packet.payload_type != self.payload_type:
            return None
        event = parse_telephone_event(packet.payload)
        key = (packet.ssrc, packet.timestamp)
        if key in self._seen:
            return None
        digit = event.digit
        if digit is None:
            return None
        self._seen.add(key)
        self._order.append(key)
        if len(self._order) > self._memory:
            self._seen.discard(self._order.popleft())
        return Dtmf(digit, packet.ssrc, packet.timestamp)


# ---------------------------------------------------------------------------
# Sending


class RtpSender:
    """One outgoing stream: SSRC, sequence number and timestamp bookkeeping."""

    def __init__(
        self,
        payload_type: int,
        *,
        ssrc: int | None = None,
        sequence: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        # RFC 3550 5.1: random initial sequence number and timestamp
        self.payload_type = payload_type
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence = secrets.randbits(16) if sequence is None else sequence & 0xFFFF
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp & 0xFFFFFFFF
        self._marker_next = True

    def _next_sequence(self) -> int:
        sequence = self.sequence
        self.sequence = (sequence + 1) & 0xFFFF
        return sequence

    def audio(self, payload: bytes, samples: int | None = None) -> RtpPacket:
        """The next audio packet; the timestamp then advances by ``samples`` (G.711: bytes)."""
        packet = RtpPacket(
            self.payload_type,
            self._next_sequence(),
            self.timestamp,
            self.ssrc,
            payload,
            marker=self._marker_next,
        )
        self._marker_next = False
        self.timestamp = (self.timestamp + (len(payload) if samples is None else samples)) & (
            0xFFFFFFFF
        )
        return packet

    def skip(self, samples: int) -> None:
        """Time passed without sending (silence suppression); the next packet is marked."""
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        self._marker_next = True

    def dtmf(
        self,
        digit: str,
        event_payload_type: int,
        *,
        duration_ms: int = 100,
        packet_ms: int = 20,
        volume: int = 10,
        end_repeats: int = 3,
    ) -> list[RtpPacket]:
        """The packets for one key press (RFC 4733 2.5), to send ``packet_ms`` apart.

        All carry the event's start timestamp; the first has the marker bit and
        the last ``end_repeats`` the end bit. Afterwards the stream's timestamp
        has moved on by the event's duration.
        """
        event = _DIGIT_EVENTS[safe_value(digit, "digit")]
        step = CLOCK_RATE * packet_ms // 1000
        total = max(step, CLOCK_RATE * duration_ms // 1000)
        if total >= 65536 or step <= 0 or end_repeats < 1:
            raise RtpError("DTMF duration out of range")
        start = self.timestamp
        self._marker_next = True  # the first packet of an event is marked (RFC 4733 2.5.1.3)
        packets: list[RtpPacket] = []
        elapsed = step
        while elapsed < total:
            packets.append(
                self._event_packet(event_payload_type, start, event, False, elapsed, volume)
            )
            elapsed += step
        packets.extend(
            self._event_packet(event_payload_type, start, event, True, total, volume)
            for _ in range(end_repeats)
        )
        self.timestamp = (start + total) & 0xFFFFFFFF
        self._marker_next = True
        return packets

    def _event_packet(
        self, pt: int, start: int, event: int, end: bool, duration: int, volume: int
    ) -> RtpPacket:
        payload = TelephoneEvent(event, end, volume, duration).to_bytes()
        marker = self._marker_next
        self._marker_next = False
        return RtpPacket(pt, self._next_sequence(), start, self.ssrc, payload, marker=marker)
