"""Malformed SIP, SDP and RTP, fuzzed with hypothesis at the datagram level against the
running engine, never crash or hang it: afterwards a normal call still works."""

from __future__ import annotations

import asyncio
import socket

import pytest
from bridge_testing.embedded import HEARD, Engine, joined, new_phone
from bridge_testing.phone import SipPhone, amplitude
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.embedded

SDP = (
    "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
)


def invite(body: str, user: str = "9100") -> bytes:
    return (
        f"INVITE sip:{user}@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKfuzz\r\n"
        "From: <sip:f@127.0.0.1>;tag=a\r\nTo: <sip:9100@127.0.0.1>\r\n"
        "Call-ID: fuzz@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:f@127.0.0.1:5999>\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def mutate(data: bytes, cuts: list[tuple[int, bytes]]) -> bytes:
    out = bytearray(data)
    for position, junk in cuts:
        at = position % (len(out) + 1)
        out[at : at + len(junk)] = junk
    return bytes(out)


cuts = st.lists(st.tuples(st.integers(0, 2000), st.binary(min_size=1, max_size=8)), max_size=4)
datagrams = st.one_of(
    st.binary(max_size=1500),
    st.builds(mutate, st.just(invite(SDP)), cuts),
    st.builds(lambda text: invite(text), st.text(max_size=300)),  # SDP bodies of any shape
    st.builds(mutate, st.just(b"\x80\x00\x00\x01" + bytes(8) + b"\xff" * 160), cuts),  # RTP
    st.builds(lambda pt, tail: bytes([0x80, pt]) + tail, st.integers(0, 255), st.binary()),
)


def fuzz_batches(count: int) -> list[list[bytes]]:
    """`count` batches of datagrams drawn by hypothesis (its generator, outside a test run)."""
    drawn: list[list[bytes]] = []

    @settings(max_examples=count, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(batch=st.lists(datagrams, min_size=1, max_size=10))
    def draw(batch: list[bytes]) -> None:
        drawn.append(batch)

    draw()
    return drawn


async def test_fuzzed_datagrams_then_a_normal_call(engine: Engine, phones: list[SipPhone]) -> None:
    cid = await engine.conference("9100", play_beep="never")
    a = await new_phone(phones, "a", 500.0)
    assert await a.call(engine.sip, "9100") == 200
    await joined(engine, cid, 1)
    rtp_port = next(iter(engine.backend.ua.ports.in_use))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for batch in fuzz_batches(300):
            for i, data in enumerate(batch):
                target = engine.sip if i % 2 == 0 else ("127.0.0.1", rtp_port)
                sock.sendto(data[:1400], target)
            await asyncio.sleep(0)  # a yield so the engine takes them as they come
        for junk in (b"", b"\x80", b"\x80\x00" + bytes(10), b"\xff" * 1400, SDP.encode()):
            sock.sendto(junk, ("127.0.0.1", rtp_port))
        for junk in (b"INVITE", invite("v=0\r\n"), invite(SDP, user="x;y"), b"\r\n\r\n"):
            sock.sendto(junk, engine.sip)
    b = await new_phone(phones, "b", 700.0)
    assert await b.call(engine.sip, "9100") == 200
    await joined(engine, cid, 2)
    assert amplitude(await a.listen(1.0), 700.0) > HEARD
    assert amplitude(await b.listen(1.0), 500.0) > HEARD
    health = engine.backend.health()
    assert health["malformed_sip"] >= 1 and health["calls"] >= 2  # fuzzed INVITEs may be up too
