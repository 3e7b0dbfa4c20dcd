"""SIP on a byte stream (RFC 3261 18.3): messages framed by Content-Length."""

from __future__ import annotations

from bridge.protocols.sip.message import SipMessage, _content_length, _parse_head, _validate
from bridge.protocols.sip.syntax import MAX_HEAD_SIZE, MAX_MESSAGE_SIZE, SipParseError


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
