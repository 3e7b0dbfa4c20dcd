"""One call's RTP: a UDP socket from the configured range, a jitter buffer, DTMF and sending.

Received audio is only filed here (parse, jitter buffer); the conference's mixing tick pulls
one payload per 20 ms. RFC 4733 events are turned into digits as they arrive. Anything that
is not a well-formed packet of a negotiated payload type is counted and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from bridge.media import FRAME_SAMPLES
from bridge.media.jitter import JitterBuffer
from bridge.pbx.backend import EngineError
from bridge.protocols.rtp import DtmfReceiver, RtpError, RtpSender, is_rtcp, parse_rtp
from bridge.protocols.sdp import NegotiatedAudio

Address = tuple[str, int]
JITTER_DEPTH = 2  # 40 ms of buffering before playout starts


class PortPool:
    """Even ports of [low, high], handed out round robin so a port just freed rests a while."""

    def __init__(self, low: int, high: int) -> None:
        if not 0 < low <= high < 65536:
            raise ValueError(f"bad RTP port range {low}-{high}")
        self.ports = [p for p in range(low + (low % 2), high + 1, 2)]
        if not self.ports:
            raise ValueError(f"RTP port range {low}-{high} holds no even port")
        self._cycle = itertools.cycle(self.ports)
        self.in_use: set[int] = set()

    async def bind(self, host: str, stream: RtpStream) -> int:
        loop = asyncio.get_running_loop()
        for _ in range(len(self.ports)):
            port = next(self._cycle)
            if port in self.in_use:
                continue
            try:
                await loop.create_datagram_endpoint(lambda: stream, local_addr=(host, port))
            except OSError:
                continue
            self.in_use.add(port)
            stream.on_close = functools.partial(self.in_use.discard, port)
            return port
        raise EngineError("no free RTP port in the configured range")


@dataclass
class RtpCounters:
    received: int = 0
    dropped: int = 0
    sent: int = 0


class RtpStream(asyncio.DatagramProtocol):
    """The media of one call; `configure` it with the negotiated audio before use."""

    def __init__(self, on_digit: Callable[[str], None]) -> None:
        self.on_digit = on_digit
        self.on_close: Callable[[], None] = lambda: None
        self.jitter = JitterBuffer(depth=JITTER_DEPTH)
        self.counters = RtpCounters()
        self.audio: NegotiatedAudio | None = None
        self.sender: RtpSender | None = None
        self._dtmf: DtmfReceiver | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._remote: Address | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport
        self._transport = cast(asyncio.DatagramTransport, transport)

    def configure(self, audio: NegotiatedAudio) -> None:
        """(Re)apply an offer/answer: codec, event type, where to send."""
        if self.audio is None or self.audio.payload_type != audio.payload_type:
            self.sender = RtpSender(audio.payload_type)
        if audio.event_payload_type is None:
            self._dtmf = None
        elif self._dtmf is None or self._dtmf.payload_type != audio.event_payload_type:
            self._dtmf = DtmfReceiver(audio.event_payload_type)
        self.audio = audio
        self._remote = (audio.remote_address, audio.remote_port) if audio.remote_port else None

    @property
    def sending(self) -> bool:
        return self.audio is not None and self.audio.sending and self._remote is not None

    @property
    def receiving(self) -> bool:
        return self.audio is not None and self.audio.receiving

    def datagram_received(self, data: bytes, addr: Any) -> None:
        audio = self.audio
        if audio is None or is_rtcp(data):
            return
        try:
            packet = parse_rtp(data)
            if packet.payload_type == audio.payload_type:
                self.counters.received += 1
                self.jitter.push(packet.sequence, packet.payload)
                return
            if self._dtmf is not None:
                dtmf = self._dtmf.feed(packet)
                if dtmf is not None:
                    self.on_digit(dtmf.digit)
                    return
        except RtpError:
            pass
        self.counters.dropped += 1

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable from a phone that went away: the SIP side decides

    def pull(self) -> bytes | None:
        """This tick's payload (encoded, exactly one frame long) or None."""
        payload = self.jitter.pop()
        if payload is None or len(payload) == FRAME_SAMPLES:
            return payload
        return payload[:FRAME_SAMPLES].ljust(FRAME_SAMPLES, b"\xff")  # other ptimes: cut to 20 ms

    def send(self, encoded: bytes) -> None:
        """Send one encoded frame (the caller checked `sending`)."""
        sender, transport, remote = self.sender, self._transport, self._remote
        if sender is None or transport is None or remote is None:
            return
        transport.sendto(sender.audio(encoded).to_bytes(), remote)
        self.counters.sent += 1

    def skip(self) -> None:
        """A frame we do not send (on hold): time moves on for the far end."""
        if self.sender is not None:
            self.sender.skip(FRAME_SAMPLES)

    def close(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
            self._transport = None
            self.on_close()
