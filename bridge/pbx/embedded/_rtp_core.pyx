# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Cython twin of `bridge.pbx.embedded.rtp_core_py.RtpCore`: one call's RTP hot path in C.

Same contract, same bytes on the wire and the same counters as the pure twin; see that
module for what each method does. Here a tick's work for one call (drain the socket, file
packets in the jitter buffer, decode one frame, measure it, encode and send one frame) runs
without creating a Python object, which is what makes a caller cheap.
"""

from libc.errno cimport EINTR, errno
from libc.math cimport sqrt
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy, memset


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    struct sockaddr:
        pass
    ssize_t recv(int fd, void* buf, size_t n, int flags)
    ssize_t sendto(
        int fd, const void* buf, size_t n, int flags, const sockaddr* to, socklen_t tolen
    )
    int MSG_DONTWAIT

cdef extern from "<netinet/in.h>" nogil:
    ctypedef uint32_t in_addr_t
    struct in_addr:
        in_addr_t s_addr
    struct sockaddr_in:
        unsigned short sin_family
        uint16_t sin_port
        in_addr sin_addr
    int AF_INET
    uint16_t htons(uint16_t)

cdef extern from "<arpa/inet.h>" nogil:
    int inet_pton(int af, const char* src, void* dst)


from bridge.media import g711
from bridge.pbx.embedded import codec as _codec
from bridge.pbx.embedded.rtp_core_py import (
    DRAIN_LIMIT,
    JITTER_CAPACITY,
    JITTER_DEPTH,
    JITTER_HOLD_TICKS,
    JITTER_MAX_DEPTH,
    JITTER_STEP_TICKS,
)

cdef enum:
    FRAME_SAMPLES = 160
    RTP_HEADER = 12
    MAX_PACKET = 1500
    SLOTS = 256  # > 2 * JITTER_CAPACITY + 1: every stored sequence number has its own slot
    SLOT_MASK = 255
    PCMU = 0
    PCMA = 8

# G.711 as tables built from the reference codec (bit-identical with the pure twin by
# construction): 256 codes -> sample, and 65536 samples -> code for each law.
cdef int16_t _ULAW_DECODE[256]
cdef int16_t _ALAW_DECODE[256]
cdef uint8_t _ULAW_ENCODE[65536]
cdef uint8_t _ALAW_ENCODE[65536]


def _build_tables():
    cdef int i
    every_code = bytes(range(256))
    ulaw = memoryview(_codec.decode(g711.PCMU_PAYLOAD_TYPE, every_code)).cast("h")
    alaw = memoryview(_codec.decode(g711.PCMA_PAYLOAD_TYPE, every_code)).cast("h")
    for i in range(256):
        _ULAW_DECODE[i] = ulaw[i]
        _ALAW_DECODE[i] = alaw[i]
    every_sample = memoryview(bytearray(131072)).cast("h")
    for i in range(65536):
        every_sample[i] = i - 32768
    uenc = _codec.encode(g711.PCMU_PAYLOAD_TYPE, every_sample.cast("B"))
    aenc = _codec.encode(g711.PCMA_PAYLOAD_TYPE, every_sample.cast("B"))
    for i in range(65536):
        _ULAW_ENCODE[i] = uenc[i]
        _ALAW_ENCODE[i] = aenc[i]


_build_tables()

if JITTER_CAPACITY * 2 + 1 > SLOTS or not 1 <= JITTER_DEPTH <= JITTER_MAX_DEPTH <= JITTER_CAPACITY:
    raise ImportError("jitter buffer constants do not fit the C slot table")

# the playout policy's parameters (bridge.media.jitter.PlayoutPolicy), read once
cdef int MIN_DEPTH = JITTER_DEPTH
cdef int MAX_DEPTH = JITTER_MAX_DEPTH
cdef int HOLD_TICKS = JITTER_HOLD_TICKS
cdef int STEP_TICKS = JITTER_STEP_TICKS


cdef inline int _distance(uint32_t a, uint32_t b) noexcept nogil:
    """Signed a - b in 16-bit sequence space, in [-32768, 32767]."""
    return <int>((a - b + 32768) & 0xFFFF) - 32768


cdef class RtpCore:
    cdef int fd
    cdef readonly int payload_type
    cdef sockaddr_in remote
    cdef bint has_remote
    # sender
    cdef uint32_t ssrc
    cdef uint16_t sequence
    cdef uint32_t timestamp
    cdef bint marker_next
    # jitter buffer (see bridge.media.jitter.JitterBuffer: same rules)
    cdef uint8_t present[SLOTS]
    cdef uint16_t seqs[SLOTS]
    cdef uint8_t lengths[SLOTS]
    cdef uint8_t payloads[SLOTS][FRAME_SAMPLES]
    cdef int count
    cdef int next_seq  # -1 while priming
    cdef int last_played  # -1 before the first pop
    cdef int anchor  # -1 before the first push
    cdef int64_t now  # the tick of the next pop
    cdef int64_t since  # tick of the first packet while priming; -1: none
    # its playout policy (bridge.media.jitter.PlayoutPolicy: same arithmetic)
    cdef int depth
    cdef int64_t burst_tick
    cdef int burst
    cdef int hold
    cdef int over
    cdef uint8_t packet[MAX_PACKET + 1]
    cdef uint8_t out_packet[RTP_HEADER + FRAME_SAMPLES]
    cdef public long received
    cdef public long dropped
    cdef public long sent
    cdef public long stray
    cdef public object on_stray
    cdef object _socket

    def __cinit__(self, sock, on_stray=None):
        self._socket = sock  # its owner closes it; held so the descriptor stays valid
        self.on_stray = on_stray
        self.fd = sock.fileno()
        self.payload_type = -1
        self.has_remote = False
        self.marker_next = True
        self.stray = 0
        self._reset_jitter()

    def set_audio(self, int payload_type, uint32_t ssrc, uint32_t sequence, uint32_t timestamp):
        if payload_type != PCMU and payload_type != PCMA:
            raise ValueError(f"unsupported audio payload type {payload_type}")
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.sequence = sequence & 0xFFFF
        self.timestamp = timestamp
        self.marker_next = True

    def set_remote(self, host, int port):
        cdef sockaddr_in address
        if host is None:
            self.has_remote = False
            return
        if not 0 < port < 65536:
            raise ValueError(f"bad RTP port {port}")
        encoded = host.encode("ascii")
        memset(&address, 0, sizeof(address))
        if inet_pton(AF_INET, encoded, &address.sin_addr) != 1:
            raise ValueError(f"not an IPv4 address: {host!r}")
        address.sin_family = AF_INET
        address.sin_port = htons(<uint16_t>port)
        self.remote = address
        self.has_remote = True

    # receiving ------------------------------------------------------------------------

    @property
    def playout_depth(self):
        """The jitter buffer's current depth in packets (20 ms each)."""
        return self.depth

    cdef void _reset_jitter(self) noexcept:
        memset(self.present, 0, sizeof(self.present))
        self.count = 0
        self.next_seq = -1
        self.last_played = -1
        self.anchor = -1
        self.since = -1
        self.depth = MIN_DEPTH
        self.burst_tick = -1
        self.burst = 0
        self.hold = 0
        self.over = 0

    cdef void _arrived(self) noexcept:
        """PlayoutPolicy.arrived(now)."""
        if self.now != self.burst_tick:
            self.burst_tick = self.now
            self.burst = 0
        self.burst += 1
        if self.burst > self.depth:
            self.depth = self.burst if self.burst < MAX_DEPTH else MAX_DEPTH
            self.hold = HOLD_TICKS

    cdef int _policy_tick(self) noexcept:
        """PlayoutPolicy.tick(count): how many of the oldest packets to drop."""
        if self.hold > 0:
            self.hold -= 1
        elif self.depth > MIN_DEPTH:
            self.depth -= 1
            self.hold = STEP_TICKS
        if self.count > MAX_DEPTH:
            self.over = 0
            return self.count - MAX_DEPTH
        if self.count <= self.depth:
            self.over = 0
            return 0
        self.over += 1
        if self.over < STEP_TICKS:
            return 0
        self.over = 0
        return 1

    cdef void _discard_oldest(self) noexcept:
        cdef int seq = self._oldest()
        self.present[seq & SLOT_MASK] = 0
        self.count -= 1
        self.last_played = seq  # it, and anything before it, now counts as late
        if self.next_seq >= 0:
            self.next_seq = (seq + 1) & 0xFFFF

    cdef void _push(self, uint16_t seq, const uint8_t* payload, Py_ssize_t size) noexcept:
        cdef int reference = self.last_played if self.last_played >= 0 else self.anchor
        cdef int distance
        cdef int slot = seq & SLOT_MASK
        if reference >= 0:
            distance = _distance(seq, <uint32_t>reference)
            if distance > JITTER_CAPACITY or distance < -JITTER_CAPACITY:
                self._reset_jitter()
            elif distance <= 0 and self.last_played >= 0:
                return  # late
        if self.present[slot]:
            return  # duplicate (the slot can only hold this very sequence number)
        if self.anchor < 0:
            self.anchor = seq
        if self.next_seq < 0 and self.since < 0:
            self.since = self.now
        if size > FRAME_SAMPLES:
            size = FRAME_SAMPLES  # other ptimes: cut to 20 ms
        memcpy(self.payloads[slot], payload, size)
        self.lengths[slot] = <uint8_t>size
        self.seqs[slot] = seq
        self.present[slot] = 1
        self.count += 1
        self._arrived()

    cdef int _oldest(self) noexcept:
        cdef int reference = self.last_played if self.last_played >= 0 else self.anchor
        cdef int best = -1
        cdef int best_distance = 0
        cdef int slot, distance
        for slot in range(SLOTS):
            if self.present[slot]:
                distance = _distance(self.seqs[slot], <uint32_t>reference)
                if best < 0 or distance < best_distance:
                    best, best_distance = self.seqs[slot], distance
        return best

    cdef int _pop(self) noexcept:
        """The slot of this tick's payload, or -1 (priming, lost or not arrived)."""
        cdef int seq, slot, drop
        cdef int64_t now = self.now
        self.now += 1
        drop = self._policy_tick()
        while drop > 0:
            self._discard_oldest()
            drop -= 1
        if self.next_seq < 0:
            if self.since < 0 or (self.count < self.depth and now - self.since < self.depth - 1):
                return -1
            self.next_seq = self._oldest()
            self.since = -1
        elif self.count == 0:
            self.next_seq = -1  # underflow: prime again before playing on
            self.anchor = self.last_played
            return -1
        seq = self.next_seq
        slot = seq & SLOT_MASK
        self.last_played = seq
        self.next_seq = (seq + 1) & 0xFFFF
        if self.present[slot]:
            self.present[slot] = 0
            self.count -= 1
        else:
            slot = -1
        return slot

    cdef int _file(self, Py_ssize_t size) except -1:
        """One datagram: audio into the jitter buffer, other RTP to `on_stray` (whose
        exception propagates, as in the pure twin), junk counted."""
        cdef const uint8_t* p = self.packet
        cdef Py_ssize_t offset, end, padding
        if size >= 2 and (p[0] >> 6) == 2 and 192 <= p[1] <= 223:
            return 0  # RTCP (RFC 5761 mux): not used
        if size < RTP_HEADER or size > MAX_PACKET or (p[0] >> 6) != 2:
            self.dropped += 1
            return 0
        if (p[1] & 0x7F) != self.payload_type:
            self.stray += 1
            if self.on_stray is not None:
                self.on_stray((<const char*>p)[:size])
            return 0
        offset = RTP_HEADER + 4 * (p[0] & 0x0F)
        end = size
        if p[0] & 0x10:
            if offset + 4 > size:
                self.dropped += 1
                return 0
            offset += 4 + 4 * ((p[offset + 2] << 8) | p[offset + 3])
        if offset > size:
            self.dropped += 1
            return 0
        if p[0] & 0x20:
            padding = p[size - 1]
            if padding == 0 or offset + padding > size:
                self.dropped += 1
                return 0
            end = size - padding
        self.received += 1
        self._push((p[2] << 8) | p[3], p + offset, end - offset)
        return 0

    def receive(self):
        """Drain the socket (at most DRAIN_LIMIT datagrams); see the pure twin."""
        cdef ssize_t size
        cdef int n
        for n in range(DRAIN_LIMIT):
            with nogil:
                size = recv(self.fd, self.packet, MAX_PACKET + 1, MSG_DONTWAIT)
            if size < 0:
                if errno == EINTR:
                    continue
                return  # EAGAIN: drained; anything else (ICMP errors): the SIP side decides
            self._file(size)

    def pull(self, out, Py_ssize_t row):
        """Pop this tick's payload, decode it into row `row` of `out`; its RMS, or -1.0."""
        cdef int slot = self._pop()
        cdef unsigned char[::1] target
        cdef int16_t* pcm
        cdef const int16_t* table
        cdef const uint8_t* payload
        cdef int k, length
        cdef int64_t energy = 0
        cdef int32_t sample
        if slot < 0:
            return -1.0
        if out is None:
            return 0.0
        target = out
        if (row + 1) * 2 * FRAME_SAMPLES > target.shape[0] or row < 0:
            raise ValueError("row out of range")
        pcm = <int16_t*>&target[row * 2 * FRAME_SAMPLES]
        if self.payload_type == PCMU:
            table = &_ULAW_DECODE[0]
        else:
            table = &_ALAW_DECODE[0]
        payload = self.payloads[slot]
        length = self.lengths[slot]
        for k in range(FRAME_SAMPLES):
            sample = table[payload[k] if k < length else 0xFF]
            pcm[k] = <int16_t>sample
            energy += sample * sample
        return <double>(<unsigned int>sqrt(<double>energy / FRAME_SAMPLES))  # as audioop.rms

    # sending --------------------------------------------------------------------------

    cdef void _header(self) noexcept:
        cdef uint8_t* h = self.out_packet
        h[0] = 0x80
        h[1] = <uint8_t>(self.payload_type | (0x80 if self.marker_next else 0))
        h[2] = self.sequence >> 8
        h[3] = self.sequence & 0xFF
        h[4] = (self.timestamp >> 24) & 0xFF
        h[5] = (self.timestamp >> 16) & 0xFF
        h[6] = (self.timestamp >> 8) & 0xFF
        h[7] = self.timestamp & 0xFF
        h[8] = (self.ssrc >> 24) & 0xFF
        h[9] = (self.ssrc >> 16) & 0xFF
        h[10] = (self.ssrc >> 8) & 0xFF
        h[11] = self.ssrc & 0xFF
        self.marker_next = False
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = self.timestamp + FRAME_SAMPLES

    cdef void _transmit(self) noexcept:
        cdef ssize_t size
        with nogil:
            size = sendto(self.fd, self.out_packet, RTP_HEADER + FRAME_SAMPLES, MSG_DONTWAIT,
                          <sockaddr*>&self.remote, sizeof(self.remote))
        if size >= 0:
            self.sent += 1

    def send_pcm(self, pcm, Py_ssize_t row=0):
        """Encode row `row` of `pcm` (320-byte frames) and send it."""
        cdef const unsigned char[::1] source = pcm
        cdef const int16_t* samples
        cdef const uint8_t* table
        cdef int k
        if not self.has_remote or self.payload_type < 0:
            return
        if (row + 1) * 2 * FRAME_SAMPLES > source.shape[0] or row < 0:
            raise ValueError("row out of range")
        samples = <const int16_t*>&source[row * 2 * FRAME_SAMPLES]
        if self.payload_type == PCMU:
            table = &_ULAW_ENCODE[0]
        else:
            table = &_ALAW_ENCODE[0]
        for k in range(FRAME_SAMPLES):
            self.out_packet[RTP_HEADER + k] = table[<int>samples[k] + 32768]
        self._header()
        self._transmit()

    def send_payload(self, payload):
        """Send one already encoded 20 ms payload (160 bytes)."""
        cdef const unsigned char[::1] source = payload
        if not self.has_remote or self.payload_type < 0:
            return
        if source.shape[0] != FRAME_SAMPLES:
            raise ValueError("a payload is 160 bytes")
        memcpy(&self.out_packet[RTP_HEADER], &source[0], FRAME_SAMPLES)
        self._header()
        self._transmit()

    def skip(self):
        """A frame not sent (on hold): the timestamp moves on, the next packet is marked."""
        self.timestamp = self.timestamp + FRAME_SAMPLES
        self.marker_next = True
