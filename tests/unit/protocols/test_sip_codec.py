"""SIP message codec: parsing, serialization and building, on SIPp-shaped traffic."""

from __future__ import annotations

import pytest

from bridge.protocols.safe import UnsafeValueError
from bridge.protocols.sip import (
    MAX_HEADERS,
    MAX_MESSAGE_SIZE,
    Headers,
    SipBuildError,
    SipParseError,
    SipRequest,
    SipResponse,
    SipStreamParser,
    build_ack_for_failure,
    build_cancel,
    build_request,
    build_response,
    caller_address,
    is_keepalive,
    local_via,
    parse_message,
    parse_name_addr,
    parse_uri,
    parse_via,
    target_uri,
)

# The shapes of SIPp 3.6's built-in "uac" scenario, its fields filled in as SIPp does.
SDP = (
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)
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
ACK = (
    b"ACK sip:1234@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-5\r\n"
    b"From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001\r\n"
    b"To: 1234 <sip:1234@127.0.0.1:5060>;tag=bridge1\r\n"
    b"Call-ID: 1-4242@127.0.0.1\r\n"
    b"CSeq: 1 ACK\r\n"
    b"Contact: sip:sipp@127.0.0.1:5061\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Length: 0\r\n\r\n"
)
BYE = (
    b"BYE sip:1234@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-7\r\n"
    b"From: sipp  <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001\r\n"
    b"To: 1234  <sip:1234@127.0.0.1:5060>;tag=bridge1\r\n"
    b"Call-ID: 1-4242@127.0.0.1\r\n"
    b"CSeq: 2 BYE\r\n"
    b"Contact: sip:sipp@127.0.0.1:5061\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def request(data: bytes) -> SipRequest:
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message


def test_sipp_invite_parses_every_field() -> None:
    invite = request(INVITE)
    assert invite.method == "INVITE"
    assert (invite.uri.user, invite.uri.host, invite.uri.port) == ("1234", "127.0.0.1", 5060)
    via = invite.top_via
    assert (via.transport, via.host, via.port) == ("UDP", "127.0.0.1", 5061)
    assert via.branch == "z9hG4bK-4242-1-0"
    assert invite.from_addr.display_name == "sipp"
    assert invite.from_addr.tag == "4242SIPpTag001"
    assert invite.to_addr.tag is None
    assert invite.call_id == "1-4242@127.0.0.1"
    assert (invite.cseq.seq, invite.cseq.method) == (1, "INVITE")
    assert [str(c.uri) for c in invite.contacts] == ["sip:sipp@127.0.0.1:5061"]
    assert invite.content_type == "application/sdp"
    assert invite.body == SDP


def test_sipp_ack_and_bye_parse() -> None:
    ack = request(ACK)
    assert ack.method == "ACK" and ack.to_addr.tag == "bridge1" and ack.body == b""
    bye = request(BYE)
    assert bye.method == "BYE" and bye.cseq.seq == 2
    assert bye.from_addr.display_name == "sipp" and bye.to_addr.tag == "bridge1"


def test_round_trip_keeps_meaning() -> None:
    invite = request(INVITE)
    again = request(invite.to_bytes())
    assert again.to_bytes() == invite.to_bytes()
    assert again.body == SDP and again.from_addr.tag == invite.from_addr.tag


def test_compact_forms_are_expanded() -> None:
    data = (
        b"OPTIONS sip:bridge@10.0.0.1 SIP/2.0\r\n"
        b"v: SIP/2.0/TCP 10.0.0.2:5060;branch=z9hG4bKabc\r\n"
        b"f: <sip:a@10.0.0.2>;tag=1\r\n"
        b"t: <sip:bridge@10.0.0.1>\r\n"
        b"i: opt-1\r\n"
        b"CSeq: 7 OPTIONS\r\n"
        b"m: <sip:a@10.0.0.2>\r\n"
        b"k: timer\r\n"
        b"s: hello\r\n"
        b"c: text/plain\r\n"
        b"l: 2\r\n\r\nhi"
    )
    options = request(data)
    assert options.call_id == "opt-1"
    assert options.headers.get("Supported") == "timer"
    assert options.headers.get("subject") == "hello"
    assert options.content_type == "text/plain"
    assert options.body == b"hi"
    assert options.top_via.transport == "TCP"
    text = options.to_bytes().decode()
    assert "\r\nCall-ID: opt-1\r\n" in text and "\r\nContent-Length: 2\r\n" in text


def test_folded_header_lines_are_joined() -> None:
    data = INVITE.replace(b"Subject: Performance Test", b"Subject: Performance\r\n \t Test")
    assert request(data).headers.get("Subject") == "Performance Test"


def test_multi_valued_headers_are_split_in_order() -> None:
    data = INVITE.replace(
        b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-0\r\n",
        b"Via: SIP/2.0/UDP proxy.example.org;branch=z9hG4bKp1;received=10.0.0.9;rport=5070, "
        b"SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-0\r\n"
        b"Record-Route: <sip:p1.example.org;lr>, <sip:p2.example.org;lr>\r\n"
        b"Record-Route: <sip:p3.example.org;lr>\r\n",
    )
    invite = request(data)
    vias = invite.vias
    assert [v.host for v in vias] == ["proxy.example.org", "127.0.0.1"]
    assert vias[0].params == {"branch": "z9hG4bKp1", "received": "10.0.0.9", "rport": "5070"}
    assert invite.headers.get_all("Record-Route") == [
        "<sip:p1.example.org;lr>",
        "<sip:p2.example.org;lr>",
        "<sip:p3.example.org;lr>",
    ]


def test_quoted_display_name_with_comma_is_one_contact() -> None:
    data = INVITE.replace(
        b"Contact: sip:sipp@127.0.0.1:5061",
        b'Contact: "Doe, \\"J\\"" <sip:j@10.0.0.3>;expires=60, <sip:k@10.0.0.4>',
    )
    contacts = request(data).contacts
    assert [c.display_name for c in contacts] == ['Doe, "J"', None]
    assert contacts[0].params == {"expires": "60"}


def test_uri_forms() -> None:
    uri = parse_uri("sip:+1555;phone-context=x@Example.ORG:5080;transport=tcp;lr?subject=hi")
    assert uri.user == "+1555;phone-context=x"
    assert (uri.host, uri.port) == ("example.org", 5080)
    assert uri.params == {"transport": "tcp", "lr": None}
    assert uri.headers == "subject=hi"
    v6 = parse_uri("sips:alice:secret@[2001:db8::1]:5061")
    assert (v6.scheme, v6.user, v6.password, v6.host, v6.port) == (
        "sips",
        "alice",
        "secret",
        "[2001:db8::1]",
        5061,
    )
    assert str(parse_uri("sip:example.org")) == "sip:example.org"
    for bad in ("tel:+1555", "sip:", "sip:a@", "sip:a b@host", "sip:host:99999", "sip:host:0"):
        with pytest.raises(SipParseError):
            parse_uri(bad)


def test_name_addr_forms() -> None:
    plain = parse_name_addr("sip:alice@example.org;tag=abc")
    assert plain.tag == "abc" and plain.uri.params == {}
    angle = parse_name_addr("Alice Smith <sip:alice@example.org;transport=udp>;tag=x")
    assert angle.display_name == "Alice Smith" and angle.uri.params == {"transport": "udp"}
    assert str(angle.with_tag("y")) == '"Alice Smith" <sip:alice@example.org;transport=udp>;tag=y'
    for bad in ("<sip:alice@example.org", '"open <sip:a@b>', "sip:a@b?x=1", "<sip:a@b> junk"):
        with pytest.raises(SipParseError):
            parse_name_addr(bad)


def test_via_with_spaces_and_ipv6() -> None:
    via = parse_via("SIP / 2.0 / udp [2001:db8::2]:5060 ;branch=z9hG4bK1;rport")
    assert via.transport == "UDP" and via.host == "[2001:db8::2]" and via.params["rport"] is None
    with pytest.raises(SipParseError):
        parse_via("SIP/3.0/UDP host")


def test_response_status_line() -> None:
    response = parse_message(
        b"SIP/2.0 180 Ringing\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n"
        b"From: <sip:a@10.0.0.1>;tag=1\r\nTo: <sip:b@10.0.0.2>;tag=2\r\n"
        b"Call-ID: c\r\nCSeq: 1 INVITE\r\n\r\n"
    )
    assert isinstance(response, SipResponse)
    assert (response.status, response.reason) == (180, "Ringing")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\n\r\n",  # no mandatory headers
        INVITE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1),
        INVITE.replace(b"INVITE sip:", b"INVITE  sip:", 1),
        INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"),
        INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE"),
        INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 99999999999 INVITE"),
        INVITE.replace(b"Call-ID: 1-4242@127.0.0.1", b"Call-ID: "),
        INVITE.replace(b"Content-Length: ", b"Content-Length: -"),
        INVITE.replace(b"Content-Length: 1", b"Content-Length: 9"),  # longer than the body
        INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: many"),
        INVITE.replace(b"From: sipp <sip:", b"From: sipp <"),
        INVITE.replace(b"Via: SIP/2.0/UDP 127.0.0.1:5061;", b"Via: ;"),
        INVITE.replace(b"Subject: Performance", b"Subject\x00: Performance"),
        INVITE.replace(b"Subject: Performance", b"Subject: Perf\rormance"),
        INVITE.replace(b"Subject: Performance", b"Subject Performance"),
        b"\xff\xfeINVITE sip:a@b SIP/2.0\r\n\r\n",
        b"SIP/2.0 99 Low\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n",
    ],
)
def test_malformed_messages_raise_parse_error(data: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(data)


def test_limits() -> None:
    with pytest.raises(SipParseError, match="too large"):
        parse_message(INVITE + b"x" * MAX_MESSAGE_SIZE)
    many = INVITE.replace(b"Subject: Performance Test\r\n", b"X-A: 1\r\n" * (MAX_HEADERS + 1))
    with pytest.raises(SipParseError, match="too many headers"):
        parse_message(many)


def test_body_longer_than_content_length_is_cut() -> None:
    assert request(INVITE + b"trailing junk").body == SDP


def test_bare_lf_messages_are_accepted() -> None:
    head, _, body = INVITE.partition(b"\r\n\r\n")
    invite = request(head.replace(b"\r\n", b"\n") + b"\n\n" + body)
    assert invite.call_id == "1-4242@127.0.0.1" and invite.body == SDP
    with pytest.raises(SipParseError, match="bare"):
        parse_message(head.replace(b"\r\n", b"\n", 1) + b"\r\n\r\n" + body)


def test_keepalive() -> None:
    assert is_keepalive(b"\r\n\r\n") and is_keepalive(b"\r\n")
    assert not is_keepalive(b"") and not is_keepalive(INVITE)


def test_stream_parser_frames_by_content_length() -> None:
    stream = b"\r\n\r\n" + INVITE + ACK + BYE
    parser = SipStreamParser()
    messages = []
    for i in range(0, len(stream), 7):  # worst case: tiny segments
        messages.extend(parser.feed(stream[i : i + 7]))
    assert [m.method for m in messages if isinstance(m, SipRequest)] == ["INVITE", "ACK", "BYE"]
    assert messages[0].body == SDP


def test_stream_parser_needs_content_length_and_bounds_the_buffer() -> None:
    with pytest.raises(SipParseError, match="mandatory"):
        SipStreamParser().feed(ACK.replace(b"Content-Length: 0\r\n", b""))
    parser = SipStreamParser(max_message_size=1000)
    with pytest.raises(SipParseError, match="too large"):
        for _ in range(20):
            parser.feed(b"X-Long: " + b"a" * 100)


def test_build_response_copies_the_transaction_headers() -> None:
    data = INVITE.replace(b"Max-Forwards", b"Record-Route: <sip:p1;lr>\r\nMax-Forwards")
    invite = request(data)
    ok = build_response(
        invite,
        200,
        to_tag="bridge1",
        headers=[("Contact", "<sip:bridge@127.0.0.1:5060>")],
        body=b"v=0\r\n",
        content_type="application/sdp",
    )
    again = parse_message(ok.to_bytes())
    assert isinstance(again, SipResponse)
    assert (again.status, again.reason) == (200, "OK")
    assert again.headers.get_all("Via") == invite.headers.get_all("Via")
    assert again.from_addr.tag == "4242SIPpTag001" and again.to_addr.tag == "bridge1"
    assert again.call_id == invite.call_id and str(again.cseq) == "1 INVITE"
    assert again.headers.get_all("Record-Route") == ["<sip:p1;lr>"]
    assert again.body == b"v=0\r\n"
    trying = build_response(invite, 100, to_tag="bridge1")
    assert trying.to_addr.tag is None and "Record-Route" not in trying.headers


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (486, "Busy Here"),
        (302, "Moved Temporarily"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (503, "Service Unavailable"),
        (488, "Not Acceptable Here"),
        (487, "Request Terminated"),
    ],
)
def test_rejections_carry_the_standard_reason(status: int, reason: str) -> None:
    response = build_response(request(INVITE), status, to_tag="t")
    assert (response.status, response.reason) == (status, reason)


def test_redirect_for_divert() -> None:
    invite = request(INVITE)
    target = target_uri("alice@pbx.example.org", "bridge.local")
    moved = build_response(invite, 302, to_tag="t", headers=[("Contact", f"<{target}>")])
    assert parse_message(moved.to_bytes()).contacts[0].uri.user == "alice"
    assert str(target_uri("1001", "10.0.0.1")) == "sip:1001@10.0.0.1"
    assert str(target_uri("sip:bob@h:5080", "x")) == "sip:bob@h:5080"


@pytest.mark.parametrize("target", ["bob\r\nX-Evil: 1", "bob@h;transport=tcp", "<sip:x>", ""])
def test_unsafe_targets_are_refused(target: str) -> None:
    with pytest.raises((UnsafeValueError, SipBuildError)):
        target_uri(target, "10.0.0.1")


def test_outbound_invite_built_from_validated_values() -> None:
    via = local_via("udp", "10.0.0.1", 5060)
    from_addr = caller_address("+15551234567", "10.0.0.1", "Conf Bridge").with_tag("ft")
    to_addr = parse_name_addr(f"<{target_uri('alice@pbx.example.org', 'x')}>")
    invite = build_request(
        "INVITE",
        to_addr.uri,
        via=via,
        from_addr=from_addr,
        to_addr=to_addr,
        call_id="abc@10.0.0.1",
        cseq=1,
        contact=caller_address("bridge", "10.0.0.1"),
        body=SDP,
        content_type="application/sdp",
    )
    parsed = request(invite.to_bytes())
    assert parsed.top_via.branch is not None and parsed.top_via.branch.startswith("z9hG4bK")
    assert "rport" in parsed.top_via.params
    assert parsed.from_addr.display_name == "Conf Bridge"
    assert parsed.from_addr.uri.user == "+15551234567"
    assert parsed.headers.get("Max-Forwards") == "70" and parsed.body == SDP
    with pytest.raises(UnsafeValueError):
        caller_address("evil\r\nVia: x", "10.0.0.1")
    with pytest.raises(UnsafeValueError):
        caller_address("1001", "10.0.0.1", 'name"\nX')


def test_cancel_and_failure_ack_reuse_the_invite_branch() -> None:
    invite = request(INVITE)
    cancel = build_cancel(invite)
    assert cancel.method == "CANCEL" and str(cancel.cseq) == "1 CANCEL"
    assert cancel.top_via.branch == invite.top_via.branch and cancel.uri == invite.uri
    busy = build_response(invite, 486, to_tag="b")
    ack = build_ack_for_failure(invite, busy)
    assert str(ack.cseq) == "1 ACK" and ack.to_addr.tag == "b"
    assert ack.top_via.branch == invite.top_via.branch
    request(cancel.to_bytes())
    request(ack.to_bytes())


def test_headers_refuse_injection() -> None:
    headers = Headers()
    with pytest.raises(SipBuildError):
        headers.add("Subject", "hi\r\nVia: evil")
    with pytest.raises(SipBuildError):
        headers.add("Bad Name", "x")
    headers.add("X-A", "1")
    headers.add("x-a", "2")
    headers.add("X-B", "3")
    headers.set("X-A", "9")
    assert list(headers) == [("X-A", "9"), ("X-B", "3")]
    headers.remove("x-b")
    assert "X-B" not in headers and len(headers) == 1
    with pytest.raises(UnsafeValueError):
        build_response(request(INVITE), 486, "Busy\r\nX: y")
