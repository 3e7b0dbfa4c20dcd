"""Hostile input: random and mutated SIP never raises anything but SipParseError.

Inputs are bounded (a datagram is at most 64 KiB); the pathological cases at the
end are shapes that make naive parsers backtrack or rescan, at full size. A
super-linear parser turns them into a hang, which the run would show.
"""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.protocols.sip import (
    MAX_MESSAGE_SIZE,
    SipParseError,
    SipRequest,
    SipStreamParser,
    build_response,
    parse_message,
)

SDP = b"v=0\r\no=user1 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
INVITE = (
    b"INVITE sip:1234@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-0;rport\r\n"
    b'From: "sipp" <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001\r\n'
    b"To: 1234 <sip:1234@127.0.0.1:5060>\r\n"
    b"Call-ID: 1-4242@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: sip:sipp@127.0.0.1:5061\r\n"
    b"Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)
INTERESTING = list(b' \t\r\n:;,<>"\\@=/?0123456789az\x00\x7f\xff')


def check(data: bytes) -> None:
    """Parse; when it parses, it must re-serialize, re-parse and be answerable."""
    try:
        message = parse_message(data)
    except SipParseError:
        return
    again = parse_message(message.to_bytes())
    assert again.to_bytes() == message.to_bytes()
    if isinstance(message, SipRequest):
        with contextlib.suppress(SipParseError):
            build_response(message, 486, to_tag="t").to_bytes()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    check(data)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('INVITE sip:@;<>,"\\\r\n:/SIP2.0 =')), max_size=400))
def test_random_sip_alphabet(text: str) -> None:
    check(b"INVITE sip:a@b SIP/2.0\r\n" + text.encode())


@settings(max_examples=1000, deadline=None)
@given(st.data())
def test_mutated_invite(data: st.DataObject) -> None:
    raw = bytearray(INVITE)
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["set", "insert", "delete", "duplicate"]))
        i = data.draw(st.integers(0, len(raw) - 1))
        if op == "set":
            raw[i] = data.draw(st.sampled_from(INTERESTING))
        elif op == "insert":
            raw[i:i] = bytes([data.draw(st.sampled_from(INTERESTING))])
        elif op == "delete":
            del raw[i : i + data.draw(st.integers(1, 20))]
        else:
            j = data.draw(st.integers(i, min(len(raw), i + 60)))
            raw[i:i] = raw[i:j]
    check(bytes(raw))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 200), min_size=1, max_size=40))
def test_stream_chunking_does_not_change_messages(cuts: list[int]) -> None:
    stream = INVITE * 3
    parser = SipStreamParser()
    got = []
    start = 0
    for cut in cuts:
        got.extend(parser.feed(stream[start : start + cut]))
        start += cut
    got.extend(parser.feed(stream[start:]))
    assert [m.to_bytes() for m in got] == [parse_message(INVITE).to_bytes()] * 3


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=10))
def test_stream_of_random_bytes(chunks: list[bytes]) -> None:
    parser = SipStreamParser()
    with contextlib.suppress(SipParseError):
        for chunk in chunks:
            parser.feed(chunk)


def fill(prefix: bytes, unit: bytes, suffix: bytes = b"") -> bytes:
    room = MAX_MESSAGE_SIZE - len(prefix) - len(suffix)
    return prefix + unit * (room // len(unit)) + suffix


PATHOLOGICAL = [
    fill(b"INVITE sip:", b"a", b" SIP/2.0\r\n\r\n"),
    fill(b"INVITE sip:h", b";a", b" SIP/2.0\r\n\r\n"),
    fill(b"INVITE sip:", b"a;", b"@ SIP/2.0\r\n\r\n"),
    fill(INVITE.replace(b"CSeq", b"X-Pad: ", 1), b" "),
    INVITE.replace(b"Via: SIP/2.0/UDP ", b"Via: SIP/2.0/UDP " + b" " * 30000),
    INVITE.replace(b"127.0.0.1:5061;branch", b"127.0.0.1:5061" + b" " * 30000 + b"x;branch", 1),
    fill(INVITE.replace(b"Record-Route: ", b"Record-Route: "), b"<sip:p;lr>,", b"\r\n"),
    fill(INVITE.replace(b"Call-ID", b'X-Q: "', 1), b"\\\\"),
    fill(INVITE.replace(b"From: ", b"From: <", 1), b"<"),
    fill(INVITE.replace(b"To: ", b'To: "', 1), b'\\"'),
    fill(INVITE.replace(b"tag=4242SIPpTag001", b"tag=4242SIPpTag001", 1), b"\r\n "),
    fill(INVITE.split(b"\r\n\r\n")[0] + b"\r\n", b"X: y\r\n"),
    fill(b"SIP/2.0 200 ", b"x"),
    fill(INVITE.replace(b"branch=z9hG4bK-4242-1-0", b"branch=z9hG4bK-4242-1-0", 1), b";rport"),
    b"\r\n" * (MAX_MESSAGE_SIZE // 2),
]


def test_pathological_inputs_finish() -> None:
    for data in PATHOLOGICAL:
        assert len(data) <= MAX_MESSAGE_SIZE
        check(data)


def test_pathological_stream_input_finishes() -> None:
    parser = SipStreamParser()
    with contextlib.suppress(SipParseError):
        for _ in range(MAX_MESSAGE_SIZE // 16 + 2):
            parser.feed(b"X-Header: 12345\n")  # never a CRLF CRLF: must be cut off, not rescanned
