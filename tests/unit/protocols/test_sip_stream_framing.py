"""Framing SIP on a TCP stream: bounded buffers, one parse per header section, fuzzed."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bridge.protocols.sip.message as sip_message
from bridge.protocols.sip import (
    MAX_HEAD_SIZE,
    MAX_MESSAGE_SIZE,
    SipParseError,
    SipRequest,
    SipResponse,
    SipStreamParser,
    parse_message,
)

BODY = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


def message(method: str = "OPTIONS", body: bytes = b"", branch: str = "1") -> bytes:
    head = (
        f"{method} sip:9100@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK{branch}\r\n"
        "From: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:9100@127.0.0.1>\r\n"
        f"Call-ID: c{branch}@127.0.0.1\r\nCSeq: 1 {method}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def test_messages_keepalives_and_split_bodies() -> None:
    stream = b"\r\n\r\n" + message("INVITE", BODY, "1") + b"\r\n" + message("BYE", b"", "2")
    parser = SipStreamParser()
    got = []
    for i in range(len(stream)):  # one byte at a time: the worst split there is
        got.extend(parser.feed(stream[i : i + 1]))
    assert [(m.method, m.body) for m in got if isinstance(m, SipRequest)] == [
        ("INVITE", BODY),
        ("BYE", b""),
    ]
    assert parser.buffered == 0


def test_a_header_section_is_parsed_once_however_the_body_is_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bytes] = []
    real = sip_message._parse_head

    def counted(head: bytes) -> SipRequest | SipResponse:
        calls.append(head)
        return real(head)

    # the framer holds its own reference to the head parser
    monkeypatch.setattr("bridge.protocols.sip.framing._parse_head", counted)
    data = message("INVITE", b"x" * 5000)
    parser = SipStreamParser()
    for i in range(0, len(data), 3):
        parser.feed(data[i : i + 3])
    assert len(calls) == 1


def test_a_header_section_without_end_is_cut_at_the_head_limit() -> None:
    parser = SipStreamParser(max_head_size=1000)
    with pytest.raises(SipParseError, match="header section too large"):
        for _ in range(20):
            parser.feed(b"X-Long: " + b"a" * 100 + b"\r\n")
            assert parser.buffered <= 1000 + 110
    assert MAX_HEAD_SIZE < MAX_MESSAGE_SIZE


def test_a_declared_body_beyond_the_limit_is_refused_before_it_arrives() -> None:
    head = message("INVITE").replace(b"Content-Length: 0", b"Content-Length: 60000")
    parser = SipStreamParser(max_message_size=10_000)
    with pytest.raises(SipParseError, match="too large"):
        parser.feed(head)
    with pytest.raises(SipParseError, match="Content-Length"):
        SipStreamParser().feed(message().replace(b"Content-Length: 0", b"Content-Length: 99999"))


def test_a_bad_message_in_the_stream_raises() -> None:
    with pytest.raises(SipParseError):
        SipStreamParser().feed(b"NOT SIP AT ALL\r\n\r\n")
    with pytest.raises(SipParseError, match="mandatory"):
        SipStreamParser().feed(message().replace(b"Content-Length: 0\r\n", b""))


# fuzz: whatever arrives, in whatever pieces, feed() returns quickly or raises SipParseError,
# and never holds more than one message's worth of bytes

pieces = st.one_of(
    st.binary(max_size=400),
    st.just(b"\r\n\r\n"),
    st.sampled_from([message(), message("INVITE", BODY), message("BYE", b"", "9")]),
    st.builds(lambda n: b"X: " + b"y" * n, st.integers(0, 3000)),
    st.builds(
        lambda n: message().replace(b"Content-Length: 0", f"Content-Length: {n}".encode()),
        st.integers(0, 70_000),
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(pieces, max_size=30), st.integers(1, 700))
def test_fuzzed_stream_never_hangs_nor_buffers_unbounded(chunks: list[bytes], cut: int) -> None:
    parser = SipStreamParser(max_message_size=20_000, max_head_size=2_000)
    stream = b"".join(chunks)
    started = time.monotonic()
    try:
        for i in range(0, len(stream), cut):
            for got in parser.feed(stream[i : i + cut]):
                assert len(got.to_bytes()) <= 20_000 + 64  # re-serialized, same size class
            assert parser.buffered <= 20_000
    except SipParseError:
        pass
    assert time.monotonic() - started < 5.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=30))
def test_fuzzed_splits_give_the_same_messages(cuts: list[int]) -> None:
    stream = message("INVITE", BODY, "1") + b"\r\n\r\n" + message("OPTIONS", b"", "2")
    parser = SipStreamParser()
    got = []
    start = 0
    for cut in cuts:
        got.extend(parser.feed(stream[start : start + cut]))
        start += cut
    got.extend(parser.feed(stream[start:]))
    expected = [parse_message(message("INVITE", BODY, "1")), parse_message(message())]
    expected[1] = parse_message(message("OPTIONS", b"", "2"))
    assert [m.to_bytes() for m in got] == [m.to_bytes() for m in expected]
