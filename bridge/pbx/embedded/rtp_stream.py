"""One call's RTP: a UDP socket from the configured range, its hot path, DTMF.

The socket is a plain non-blocking one, not an event-loop endpoint: the conference's 20 ms
tick drains it through the call's `RtpCore` (the Cython hot path or its pure twin, see
`rtp_core`), which files audio in the jitter buffer and sends the call's frame. Other RTP
the core reads (RFC 4733 telephone-events) comes back here as it is drained and is decoded
into digits at once, which go one way to `on_digit`: the engine's sink for the call, set
when it takes the call (the SIP side never sees them).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import secrets
import socket
from collections.abc import Callable
from dataclasses import replace

from bridge.pbx.backend import EngineError
from bridge.pbx.embedded import rtp_core, rtp_core_py
from bridge.protocols.rtp import DtmfReceiver, RtpError, parse_rtp
from bridge.protocols.sdp import NegotiatedAudio

log = logging.getLogger(__name__)

Address = tuple[str, int]


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

    def bind(self, host: str, stream: RtpStream) -> int:
        """Bind a free port of the range for `stream`; EngineError when none is left."""
        for _ in range(len(self.ports)):
            port = next(self._cycle)
            if port in self.in_use:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            self.in_use.add(port)
            stream.attach(sock, port, functools.partial(self.in_use.discard, port))
            return port
        raise EngineError("no free RTP port in the configured range")


class RtpStream:
    """The media of one call: `attach` a bound socket, `configure` the negotiated audio.

    Either may come first: an inbound call is configured when its INVITE arrives and gets
    its port only when it is answered."""

    def __init__(self) -> None:
        self.on_digit: Callable[[str], None] | None = None  # digits are dropped until set
        self.audio: NegotiatedAudio | None = None
        self.core: rtp_core_py.RtpCore | None = None  # either twin: same interface
        self.port = 0
        self.sending = False  # read on every tick: kept as a plain attribute
        self._socket: socket.socket | None = None
        self._on_close: Callable[[], None] = lambda: None
        self._dtmf: DtmfReceiver | None = None

    def attach(self, sock: socket.socket, port: int, on_close: Callable[[], None]) -> None:
        self._socket, self.port, self._on_close = sock, port, on_close
        self.core = rtp_core.RtpCore(sock, self._stray)
        if self.audio is not None:
            audio, self.audio = self.audio, None
            self.configure(audio)

    def configure(self, audio: NegotiatedAudio) -> None:
        """(Re)apply an offer/answer: codec, event type, where to send."""
        core = self.core
        if core is not None:
            if self.audio is None or self.audio.payload_type != audio.payload_type:
                # a new codec is a new stream (RFC 3550 5.1: random SSRC, sequence, timestamp)
                core.set_audio(
                    audio.payload_type,
                    secrets.randbits(32),
                    secrets.randbits(16),
                    secrets.randbits(32),
                )
            try:
                core.set_remote(
                    audio.remote_address if audio.remote_port else None, audio.remote_port
                )
            except ValueError as exc:
                log.warning("not sending RTP: %s", exc)
                core.set_remote(None, 0)
                audio = replace(audio, remote_port=0)
        if audio.event_payload_type is None:
            self._dtmf = None
        elif self._dtmf is None or self._dtmf.payload_type != audio.event_payload_type:
            self._dtmf = DtmfReceiver(audio.event_payload_type)
        self.audio = audio
        self.sending = core is not None and audio.sending and audio.remote_port > 0

    @property
    def packets(self) -> int:
        """Datagrams received so far, of any kind (RTCP aside): is the phone still there?"""
        core = self.core
        return 0 if core is None else core.received + core.dropped + core.stray

    def _stray(self, data: bytes) -> None:
        """A datagram the core read that is not audio: a digit, if it is a telephone-event
        (the receiver keeps one digit per event, whatever its retransmissions)."""
        receiver, sink = self._dtmf, self.on_digit
        if receiver is None or sink is None:
            return
        try:
            dtmf = receiver.feed(parse_rtp(data))
        except RtpError:
            return
        if dtmf is not None:
            sink(dtmf.digit)

    def close(self) -> None:
        if self._socket is not None:
            # drop the core first: a closed descriptor's number is soon reused
            self.core = None
            self.sending = False
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None
            self._on_close()
