"""The RTP hot path's twins (Cython `_rtp_core` and pure `rtp_core_py`) over real sockets.

Hypothesis plays the same datagrams (in order, reordered, duplicated, malformed, of other
payload types, RTCP) into one core of each kind, interleaved with ticks; both must report
the same levels, decode the same frames, hand the same stray packets to `on_stray` as
they are drained and count the same. Sending must put the same bytes on the wire. The pure
twin alone is checked against the header rules (RFC 3550) and the jitter buffer it is built on.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import struct
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from arrival_clock import Packet, hold_back, talkspurts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.media import FRAME_BYTES, FRAME_SAMPLES, g711, tones
from bridge.media.jitter import JitterBuffer
from bridge.pbx.embedded import rtp_core, rtp_core_py
from bridge.pbx.embedded.rtp_core import IMPLEMENTATION

BUILT = importlib.util.find_spec("bridge.pbx.embedded._rtp_core") is not None
needs_extension = pytest.mark.skipif(not BUILT, reason="Cython extension not built")
PCMU, PCMA, EVENTS = 0, 8, 101


def _cython_core() -> type[rtp_core_py.RtpCore]:
    from bridge.pbx.embedded import _rtp_core  # type: ignore[attr-defined]

    core: type[rtp_core_py.RtpCore] = _rtp_core.RtpCore
    return core


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


@contextmanager
def _sockets(n: int) -> Iterator[list[socket.socket]]:
    made = [_udp() for _ in range(n)]
    try:
        yield made
    finally:
        for sock in made:
            sock.close()


def _rtp(pt: int, seq: int, payload: bytes, *, first: int = 0x80, ts: int = 0) -> bytes:
    return struct.pack("!BBHII", first, pt, seq & 0xFFFF, ts, 0x1234) + payload


def _drain(core: rtp_core_py.RtpCore, sock: socket.socket) -> None:
    """Receive until the socket is empty (a receive reads at most DRAIN_LIMIT datagrams)."""
    for _ in range(100):
        core.receive()
        try:
            sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return
    raise AssertionError("socket never drained")


payloads = st.binary(min_size=0, max_size=200)
datagrams = st.one_of(
    st.tuples(st.just(PCMU), st.integers(0, 65535), payloads).map(lambda t: _rtp(t[0], t[1], t[2])),
    st.tuples(st.integers(0, 127), st.integers(0, 65535), payloads).map(
        lambda t: _rtp(t[0], t[1], t[2])
    ),
    st.binary(min_size=0, max_size=40),  # junk, RTCP-looking bytes, truncated headers
    # CSRC count, extension and padding bits with whatever follows
    st.tuples(st.integers(0x80, 0xBF), st.integers(0, 65535), payloads).map(
        lambda t: _rtp(PCMU, t[1], t[2], first=t[0])
    ),
)
# a session: runs of consecutive sequence numbers from a random start, sometimes shuffled
steps = st.lists(
    st.one_of(
        st.tuples(st.just("send"), datagrams),
        # (first sequence number, packets, payload bytes: 160 is 20 ms, others are cut/padded)
        st.tuples(
            st.just("run"),
            st.tuples(st.integers(0, 65535), st.integers(1, 8), st.sampled_from([160, 80, 240])),
        ),
        st.tuples(st.just("tick"), st.integers(1, 4)),
        # long enough for a grown playout depth to come back down
        st.tuples(st.just("tick"), st.integers(20, 70)),
    ),
    max_size=40,
)


@needs_extension
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps, law=st.sampled_from([PCMU, PCMA]))
def test_twins_receive_alike(steps: list[tuple[str, object]], law: int) -> None:
    with _sockets(3) as (sender, a_sock, b_sock):
        strays: tuple[list[bytes], list[bytes]] = ([], [])
        a = rtp_core_py.RtpCore(a_sock, strays[0].append)
        b = _cython_core()(b_sock, strays[1].append)
        for core in (a, b):
            core.set_audio(law, 1, 2, 3)
        frame = tones.frames_of(tones.tone_pcm([440.0], 20, 5000))[0]
        tone = g711.encode(law, frame)
        for kind, arg in steps:
            if kind == "send" or kind == "run":
                if kind == "send":
                    assert isinstance(arg, bytes)
                    packets = [arg]
                else:
                    match arg:
                        case (int() as start, int() as count, int() as size):
                            packets = [
                                _rtp(law, start + i, (tone * 2)[:size]) for i in range(count)
                            ]
                        case _:
                            raise AssertionError(f"a run step is (start, count, size): {arg!r}")
                for data in packets:
                    for sock in (a_sock, b_sock):
                        sender.sendto(data, sock.getsockname())
                continue
            assert isinstance(arg, int)
            _drain(a, a_sock)
            _drain(b, b_sock)
            for _ in range(arg):
                out_a, out_b = bytearray(2 * FRAME_BYTES), bytearray(2 * FRAME_BYTES)
                assert a.pull(out_a, 1) == b.pull(out_b, 1)
                assert out_a == out_b
                assert a.playout_depth == b.playout_depth
            assert strays[0] == strays[1]
            assert a.stray == b.stray == len(strays[0])
            assert (a.received, a.dropped) == (b.received, b.dropped)


@needs_extension
@given(frames=st.lists(st.binary(min_size=FRAME_BYTES, max_size=FRAME_BYTES), max_size=6))
@settings(max_examples=60, deadline=None)
def test_twins_send_the_same_bytes(frames: list[bytes]) -> None:
    with _sockets(3) as (a_sock, b_sock, peer):
        cores = [rtp_core_py.RtpCore(a_sock), _cython_core()(b_sock)]
        wire: list[list[bytes]] = [[], []]
        for core in cores:
            core.set_audio(PCMA, 0xDEADBEEF, 65534, 0xFFFFFF00)
            core.set_remote("127.0.0.1", peer.getsockname()[1])
        for index, core in enumerate(cores):
            for i, frame in enumerate(frames):
                if i == 2:
                    core.skip()
                core.send_pcm(frame)
                core.send_payload(b"\xd5" * FRAME_SAMPLES)
            wire[index] = [peer.recv(2000) for _ in range(2 * len(frames))]
        assert wire[0] == wire[1]
        assert cores[0].sent == cores[1].sent == 2 * len(frames)


@pytest.mark.parametrize("core_type", ["python", "cython"])
def test_headers_follow_rfc3550(core_type: str) -> None:
    if core_type == "cython" and not BUILT:
        pytest.skip("Cython extension not built")
    make = rtp_core_py.RtpCore if core_type == "python" else _cython_core()
    with _sockets(2) as (sock, peer):
        core = make(sock)
        core.set_audio(PCMU, 7, 65535, 0xFFFFFFFF - 100)
        core.set_remote("127.0.0.1", peer.getsockname()[1])
        silence = bytes(FRAME_BYTES)
        core.send_pcm(silence)
        core.send_pcm(silence)
        core.skip()
        core.send_pcm(silence)
        headers = [struct.unpack("!BBHII", peer.recv(2000)[:12]) for _ in range(3)]
    assert headers == [
        (0x80, 0x80 | PCMU, 65535, 0xFFFFFFFF - 100, 7),  # the first packet is marked
        (0x80, PCMU, 0, (0xFFFFFFFF - 100 + 160) & 0xFFFFFFFF, 7),  # both counters wrap
        (0x80, 0x80 | PCMU, 1, (0xFFFFFFFF - 100 + 480) & 0xFFFFFFFF, 7),  # after a gap
    ]


def test_pure_twin_plays_what_the_jitter_buffer_plays() -> None:
    order = [10, 12, 11, 11, 9, 13, 200, 14, 15]
    reference = JitterBuffer(
        depth=rtp_core_py.JITTER_DEPTH, capacity=64, max_depth=rtp_core_py.JITTER_MAX_DEPTH
    )
    with _sockets(2) as (sender, sock):
        core = rtp_core_py.RtpCore(sock)
        core.set_audio(PCMU, 1, 2, 3)
        played, expected = [], []
        for seq in order:
            payload = bytes([seq % 256]) * FRAME_SAMPLES
            sender.sendto(_rtp(PCMU, seq, payload), sock.getsockname())
            reference.push(seq, payload)
            _drain(core, sock)
            out = bytearray(FRAME_BYTES)
            played.append(core.pull(out, 0) >= 0 and bytes(out))
            got = reference.pop()
            expected.append(got is not None and g711.ulaw_decode(got))
    assert played == expected


def _traffic() -> list[Packet]:
    """Talk restarting at the tick, bursts of late packets, a stall longer than the bound."""
    runs = talkspurts(30, 10, 5, phase=-0.5, spread=1.0, seed=11, start_seq=65400)
    talk = [p for run in runs for p in run]
    offset = 30 * 15 * 20.0
    steady = [
        Packet((p.seq + 500) & 0xFFFF, p.spoken + offset, p.arrives + offset)
        for p in talkspurts(1, 500, 0, phase=7.0, spread=3.0, seed=12)[0]
    ]
    for first, held in ((20, 150.0), (40, 150.0), (200, 1000.0), (400, 60.0)):
        steady = hold_back(steady, first, held)
    return talk + steady


@needs_extension
def test_twins_and_the_jitter_buffer_play_bursts_and_restarts_alike() -> None:
    """The same arrival clock into both cores over real sockets and into JitterBuffer: the
    same frame, level and playout depth at every tick."""
    packets = sorted(_traffic(), key=lambda p: p.arrives)
    reference = JitterBuffer(
        depth=rtp_core_py.JITTER_DEPTH,
        capacity=rtp_core_py.JITTER_CAPACITY,
        max_depth=rtp_core_py.JITTER_MAX_DEPTH,
    )
    depths = set()
    with _sockets(3) as (sender, a_sock, b_sock):
        a, b = rtp_core_py.RtpCore(a_sock), _cython_core()(b_sock)
        for core in (a, b):
            core.set_audio(PCMU, 1, 2, 3)
        index = 0
        for k in range(int(packets[-1].arrives // 20) + 20):
            while index < len(packets) and packets[index].arrives < k * 20:
                seq = packets[index].seq
                payload = bytes([seq % 251]) * FRAME_SAMPLES
                for sock in (a_sock, b_sock):
                    sender.sendto(_rtp(PCMU, seq, payload), sock.getsockname())
                reference.push(seq, payload)
                index += 1
            _drain(a, a_sock)
            _drain(b, b_sock)
            out_a, out_b = bytearray(FRAME_BYTES), bytearray(FRAME_BYTES)
            level = a.pull(out_a, 0)
            assert level == b.pull(out_b, 0), f"tick {k}"
            assert out_a == out_b, f"tick {k}"
            expected = reference.pop()
            assert (level >= 0) == (expected is not None), f"tick {k}"
            assert expected is None or bytes(out_a) == g711.ulaw_decode(expected)
            assert a.playout_depth == b.playout_depth == reference.depth, f"tick {k}"
            depths.add(reference.depth)
    assert reference.stats.discarded > 0 and reference.stats.underflows > 30
    assert depths == set(range(rtp_core_py.JITTER_DEPTH, rtp_core_py.JITTER_MAX_DEPTH + 1))


class _SinkFailed(Exception):
    pass


@needs_extension
def test_twins_hand_strays_over_as_they_drain_and_propagate_what_the_sink_raises() -> None:
    """`on_stray` runs inside `receive`, in arrival order among the audio; an exception
    it raises leaves `receive` at once on both twins, the rest stays queued for the next."""
    with _sockets(3) as (sender, a_sock, b_sock):
        seen: tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]] = ([], [])
        cores: list[rtp_core_py.RtpCore] = []

        def sink(index: int) -> Callable[[bytes], None]:
            def on_stray(data: bytes) -> None:
                seen[index].append((cores[index].received, data))
                if data[12:] == b"boom":
                    raise _SinkFailed

            return on_stray

        cores.extend([rtp_core_py.RtpCore(a_sock, sink(0)), _cython_core()(b_sock, sink(1))])
        for core in cores:
            core.set_audio(PCMU, 1, 2, 3)
        datagrams = [
            _rtp(PCMU, 1, b"\xff" * FRAME_SAMPLES),
            _rtp(EVENTS, 1, b"\x01\x0a\x00\xa0"),
            _rtp(EVENTS, 2, b"boom"),
            _rtp(PCMU, 2, b"\xff" * FRAME_SAMPLES),
        ]
        for data in datagrams:
            for sock in (a_sock, b_sock):
                sender.sendto(data, sock.getsockname())
        for core in cores:
            with pytest.raises(_SinkFailed):
                core.receive()
            assert (core.received, core.stray) == (1, 2)
            core.receive()  # the audio after the failed stray was left in the socket
            assert (core.received, core.stray) == (2, 2)
        assert seen[0] == seen[1] == [(1, datagrams[1]), (1, datagrams[2])]


def test_unsupported_codec_and_addresses_are_refused() -> None:
    with _sockets(1) as (sock,):
        core = rtp_core_py.RtpCore(sock)
        with pytest.raises(ValueError):
            core.set_audio(18, 1, 2, 3)  # G.729 was never negotiated
        with pytest.raises(ValueError):
            core.set_remote("::1", 4000)
        with pytest.raises(ValueError):
            core.set_remote("127.0.0.1", 0)


def test_running_implementation_follows_the_environment() -> None:
    if os.environ.get("BRIDGE_NO_EXTENSIONS") == "1":
        assert IMPLEMENTATION == "python"
    elif os.environ.get("BRIDGE_REQUIRE_EXTENSIONS") == "1" or BUILT:
        assert IMPLEMENTATION == "cython"


class _OlderCore:
    """An extension class built from an older `_rtp_core.pyx`: no `on_stray`."""


def test_an_extension_built_from_older_source_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stale = types.ModuleType(rtp_core.EXTENSION_MODULE)
    stale.RtpCore = _OlderCore  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, rtp_core.EXTENSION_MODULE, stale)
    assert rtp_core.select_implementation({}) == (rtp_core_py.RtpCore, "python")
    with pytest.raises(ImportError, match="older source"):
        rtp_core.select_implementation({"BRIDGE_REQUIRE_EXTENSIONS": "1"})
