"""One call's RTP hot path, pure Python: the twin of the Cython `_rtp_core.RtpCore`.

The conference tick calls it once or twice per call every 20 ms, so it works on a plain
non-blocking socket (no event-loop callback per packet):

- `receive()` drains the socket: packets of the negotiated audio type go into the jitter
  buffer (`bridge.media.jitter.JitterBuffer`: its playout depth adapts between 2 and 10
  packets, as `PlayoutPolicy` decides, one tick being one `pull`); other well-formed RTP
  (telephone-events, say) is counted in `stray` and handed, as it is read, to `on_stray`
  (the call's digit decoder), so nothing waits for another tick; RTCP is ignored; anything
  else is counted in `dropped`.
- `pull(out, row)` pops this tick's payload, decodes it into a 320-byte row of `out` and
  returns its RMS (an integer, as `audioop.rms`), or -1.0 when there is nothing to play.
- `send_pcm` / `send_payload` / `skip` keep the sender's sequence number, timestamp and
  marker bit (RFC 3550) and send one 20 ms frame.

Both twins give the same bytes on the wire, the same levels and the same counters; the
tests run one against the other over real sockets.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from bridge.media import FRAME_BYTES, FRAME_SAMPLES, jitter
from bridge.media.jitter import JitterBuffer
from bridge.pbx.embedded import codec

JITTER_DEPTH = jitter.MIN_DEPTH  # 40 ms of buffering at least, before playout starts
JITTER_MAX_DEPTH = jitter.MAX_DEPTH  # 200 ms at most
JITTER_HOLD_TICKS = jitter.HOLD_TICKS
JITTER_STEP_TICKS = jitter.STEP_TICKS
JITTER_CAPACITY = 64
DRAIN_LIMIT = 32  # datagrams read per call: a flood cannot hold the tick
MAX_PACKET = 1500
_HEADER = struct.Struct("!BBHII")
_AUDIO_TYPES = (0, 8)  # PCMU, PCMA
BytesLike = bytes | bytearray | memoryview


class RtpCore:
    def __init__(
        self, sock: socket.socket, on_stray: Callable[[bytes], None] | None = None
    ) -> None:
        """`sock`: a bound UDP socket; its owner closes it. `on_stray` gets each datagram
        of another payload type, during `receive` (what it raises, `receive` raises)."""
        self._socket = sock
        self.on_stray = on_stray
        self.payload_type = -1
        self._remote: tuple[str, int] | None = None
        self._ssrc = self._sequence = self._timestamp = 0
        self._marker_next = True
        self._jitter = JitterBuffer(
            depth=JITTER_DEPTH, capacity=JITTER_CAPACITY, max_depth=JITTER_MAX_DEPTH
        )
        self.received = 0
        self.dropped = 0
        self.sent = 0
        self.stray = 0

    def set_audio(self, payload_type: int, ssrc: int, sequence: int, timestamp: int) -> None:
        if payload_type not in _AUDIO_TYPES:
            raise ValueError(f"unsupported audio payload type {payload_type}")
        self.payload_type = payload_type
        self._ssrc, self._sequence, self._timestamp = ssrc, sequence & 0xFFFF, timestamp
        self._marker_next = True

    def set_remote(self, host: str | None, port: int) -> None:
        if host is None:
            self._remote = None
            return
        if not 0 < port < 65536:
            raise ValueError(f"bad RTP port {port}")
        try:
            socket.inet_pton(socket.AF_INET, host)
        except OSError:
            raise ValueError(f"not an IPv4 address: {host!r}") from None
        self._remote = (host, port)

    # receiving ------------------------------------------------------------------------

    @property
    def playout_depth(self) -> int:
        """The jitter buffer's current depth in packets (20 ms each)."""
        return self._jitter.depth

    def receive(self) -> None:
        for _ in range(DRAIN_LIMIT):
            try:
                data = self._socket.recv(MAX_PACKET + 1)
            except OSError:
                return  # drained (BlockingIOError), or an ICMP error: the SIP side decides
            self._file(data)

    def _file(self, data: bytes) -> None:
        size = len(data)
        if size >= 2 and data[0] >> 6 == 2 and 192 <= data[1] <= 223:
            return  # RTCP (RFC 5761 mux): not used
        if size < 12 or size > MAX_PACKET or data[0] >> 6 != 2:
            self.dropped += 1
            return
        first, second, sequence, _, _ = _HEADER.unpack_from(data)
        if second & 0x7F != self.payload_type:
            self.stray += 1
            if self.on_stray is not None:
                self.on_stray(data)
            return
        offset = 12 + 4 * (first & 0x0F)
        end = size
        if first & 0x10:
            if offset + 4 > size:
                self.dropped += 1
                return
            offset += 4 + 4 * int.from_bytes(data[offset + 2 : offset + 4], "big")
        if offset > size:
            self.dropped += 1
            return
        if first & 0x20:
            padding = data[-1]
            if padding == 0 or offset + padding > size:
                self.dropped += 1
                return
            end = size - padding
        self.received += 1
        self._jitter.push(sequence, data[offset:end][:FRAME_SAMPLES])

    def pull(self, out: bytearray | memoryview | None, row: int) -> float:
        payload = self._jitter.pop()
        if payload is None:
            return -1.0
        if out is None:
            return 0.0
        start = row * FRAME_BYTES
        if row < 0 or start + FRAME_BYTES > len(out):
            raise ValueError("row out of range")
        payload = payload.ljust(FRAME_SAMPLES, b"\xff")  # short payloads: pad with silence
        pcm = codec.decode(self.payload_type, payload)
        out[start : start + FRAME_BYTES] = pcm
        return float(int(codec.rms(pcm)))

    # sending --------------------------------------------------------------------------

    def _transmit(self, payload: bytes) -> None:
        second = self.payload_type | (0x80 if self._marker_next else 0)
        header = _HEADER.pack(0x80, second, self._sequence, self._timestamp, self._ssrc)
        self._marker_next = False
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._timestamp = (self._timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
        assert self._remote is not None
        try:
            self._socket.sendto(header + payload, self._remote)
        except OSError:
            return
        self.sent += 1

    def send_pcm(self, pcm: BytesLike, row: int = 0) -> None:
        if self._remote is None or self.payload_type < 0:
            return
        start = row * FRAME_BYTES
        if row < 0 or start + FRAME_BYTES > len(pcm):
            raise ValueError("row out of range")
        self._transmit(
            codec.encode(self.payload_type, memoryview(pcm)[start : start + FRAME_BYTES])
        )

    def send_payload(self, payload: BytesLike) -> None:
        if self._remote is None or self.payload_type < 0:
            return
        if len(payload) != FRAME_SAMPLES:
            raise ValueError("a payload is 160 bytes")
        self._transmit(bytes(payload))

    def skip(self) -> None:
        self._timestamp = (self._timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
        self._marker_next = True
