"""Garbage never hangs or crashes the parser; it raises EslProtocolError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.protocols import esl


def feed_all(chunks: list[bytes], parser: esl.EslParser | None = None) -> None:
    parser = parser or esl.EslParser(max_header_bytes=4096, max_body_bytes=65536)
    for chunk in chunks:
        parser.feed(chunk)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_random_bytes_only_raise_protocol_errors(chunks: list[bytes]) -> None:
    with contextlib.suppress(esl.EslProtocolError):
        feed_all(chunks)


_LINE = st.sampled_from(
    [
        b"Content-Type: text/event-plain",
        b"Content-Type: text/event-json",
        b"Content-Type: text/event-xml",
        b"Content-Type: api/response",
        b"Content-Type: command/reply",
        b"Content-Length: 5",
        b"Content-Length: 40",
        b"Content-Length: x",
        b"Event-Name: CUSTOM",
        b"Reply-Text: +OK",
        b'{"a": [1, {"b": 2}]}',
        b"<event><headers><A>%zz</A></headers></event>",
        b"[1, 2]",
        b"%FF%00",
        b"",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=30))
def test_esl_shaped_garbage_only_raises_protocol_errors(lines: list[bytes]) -> None:
    with contextlib.suppress(esl.EslProtocolError):
        feed_all([b"\n".join(lines) + b"\n\n"])


def test_header_block_without_end_is_refused_not_buffered() -> None:
    parser = esl.EslParser(max_header_bytes=1024)
    with pytest.raises(esl.EslProtocolError, match="header block"):
        for _ in range(100):
            parser.feed(b"X-Header: " + b"a" * 50 + b"\n")


def test_huge_content_length_is_refused() -> None:
    with pytest.raises(esl.EslProtocolError, match="exceeds"):
        esl.EslParser().feed(b"Content-Type: api/response\nContent-Length: 99999999999\n\n")


@pytest.mark.parametrize(
    "frame",
    [
        b"no colon here\n\n",
        b"Content-Length: -1\n\n",
        b"Content-Type: text/event-json\nContent-Length: 3\n\n[1]",
        b"Content-Type: text/event-json\nContent-Length: 2\n\n{}",  # no Event-Name
        b"Content-Type: text/event-xml\nContent-Length: 9\n\n<event/>x",
        b"Content-Type: text/event-plain\nContent-Length: 40\n\n"
        b"Event-Name: X\nContent-Length: 99\n\nshort\n",
    ],
)
def test_malformed_frames(frame: bytes) -> None:
    with pytest.raises(esl.EslProtocolError):
        esl.EslParser().feed(frame)


def test_xml_declarations_are_refused() -> None:
    body = b'<!DOCTYPE e [<!ENTITY a "b">]><event><headers><A>&a;</A></headers></event>'
    frame = b"Content-Type: text/event-xml\nContent-Length: %d\n\n%s" % (len(body), body)
    with pytest.raises(esl.EslProtocolError, match="declaration"):
        esl.EslParser().feed(frame)


def test_rude_rejection_and_unknown_types_are_typed() -> None:
    body = b"Access Denied, go away.\n"
    out = esl.EslParser().feed(
        b"Content-Type: text/rude-rejection\nContent-Length: %d\n\n%s" % (len(body), body)
        + b"Content-Type: log/data\nContent-Length: 2\n\nhi"
    )
    assert out == [
        esl.RudeRejection(body=body.decode()),
        esl.OtherMessage(content_type="log/data", headers=out[1].headers, body="hi"),  # type: ignore[union-attr]
    ]
