"""Throughput of the sans-IO SIP and RTP codecs. Prints figures; asserts none.

Run: pytest tests/benchmarks/bench_sip.py -m benchmark -s
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pytest

from bridge.protocols.rtp import DtmfReceiver, RtpSender, parse_rtp
from bridge.protocols.sdp import answer_offer, parse_sdp
from bridge.protocols.sip import (
    MAX_MESSAGE_SIZE,
    SipParseError,
    SipRequest,
    SipStreamParser,
    build_response,
    parse_message,
)

pytestmark = pytest.mark.benchmark

SDP = (
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)
# SIPp 3.6 built-in uac scenario INVITE
INVITE = (
    b"INVITE sip:1234@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-0\r\n"
    b"From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001\r\n"
    b"To: 1234 <sip:1234@127.0.0.1:5060>\r\n"
    b"Call-ID: 1-4242@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: sip:sipp@127.0.0.1:5061\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)


def rate(label: str, fn: Callable[[], object], seconds: float = 1.0) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (best of three runs)."""
    batch = 200
    best = 0.0
    for _ in range(3):
        calls = 0
        start = time.process_time()
        while (elapsed := time.process_time() - start) < seconds / 3:
            for _ in range(batch):
                fn()
            calls += batch
        best = max(best, calls / elapsed)
    print(f"{label:<48} {best:>12,.0f} /s")
    return best


def test_sip_parse_rates() -> None:
    print()
    rate("SIP INVITE parse (SIPp uac, with SDP)", lambda: parse_message(INVITE))
    invite = parse_message(INVITE)
    assert isinstance(invite, SipRequest)
    rate("SIP INVITE -> 200 OK build + serialize", lambda: _answer(invite))
    rate("SDP offer parse + answer", lambda: _sdp_answer(invite.body))

    def stream() -> None:
        SipStreamParser().feed(INVITE * 10)

    per_call = rate("SIP stream framing, 10 INVITEs per call", stream)
    print(f"{'  = INVITEs framed and parsed':<48} {per_call * 10:>12,.0f} /s")


def _answer(invite: SipRequest) -> bytes:
    return build_response(
        invite, 200, to_tag="abc", headers=[("Contact", "<sip:b@127.0.0.1>")]
    ).to_bytes()


def _sdp_answer(body: bytes) -> bytes:
    sdp, _ = answer_offer(
        parse_sdp(body),
        local_address="127.0.0.1",
        local_port=20000,
        session_id=1,
        session_version=1,
    )
    return sdp.to_bytes()


def test_rtp_rates() -> None:
    print()
    sender = RtpSender(0, ssrc=1, sequence=0, timestamp=0)
    packet = sender.audio(b"\xff" * 160).to_bytes()
    rate("RTP header parse (PCMU, 20 ms)", lambda: parse_rtp(packet))
    rate("RTP audio packet build + serialize", lambda: sender.audio(b"\xff" * 160).to_bytes())
    events = [p.to_bytes() for p in sender.dtmf("5", 101)]
    receiver = DtmfReceiver(101)
    rate("RTP telephone-event parse + DtmfReceiver", lambda: receiver.feed(parse_rtp(events[2])))


def test_hostile_input_scales_linearly() -> None:
    """Time per byte must stay flat as hostile inputs double in size."""
    print()
    shapes: dict[str, Callable[[int], bytes]] = {
        "quoted backslashes": lambda n: INVITE.replace(b"Subject: ", b'Subject: "' + b"\\\\" * n),
        "commas in Route": lambda n: INVITE.replace(b"Subject", b"Route: " + b"<sip:p;lr>," * n),
        "params in URI": lambda n: INVITE.replace(b"sip:1234@", b"sip:1234;a" * n + b"@", 1),
        "spaces in Via": lambda n: INVITE.replace(b"UDP ", b"UDP " + b" " * (n * 8), 1),
    }
    for label, make in shapes.items():
        figures = []
        for n in (500, 1000, 2000, 4000):
            data = make(n)[:MAX_MESSAGE_SIZE]
            start = time.process_time()
            for _ in range(20):
                with contextlib.suppress(SipParseError):
                    parse_message(data)
            figures.append(f"{(time.process_time() - start) / 20 / len(data) * 1e9:6.1f}")
        print(f"{label:<24} ns/byte at 4 doubling sizes: {' '.join(figures)}")
