"""Dialogs (RFC 3261 12): creation on both sides, in-dialog requests, routing, hold re-INVITE."""

from __future__ import annotations

from bridge.protocols.sip import (
    Dialog,
    SipRequest,
    SipResponse,
    build_request,
    build_response,
    caller_address,
    local_via,
    parse_message,
    parse_name_addr,
    server_transaction_key,
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
    b"Content-Length: 0\r\n\r\n"
)
CONTACT = parse_name_addr("<sip:bridge@127.0.0.1:5060>")


def parse_request(data: bytes) -> SipRequest:
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message


def parse_response(data: bytes) -> SipResponse:
    message = parse_message(data)
    assert isinstance(message, SipResponse)
    return message


def test_uas_dialog_from_sipp_invite_and_our_bye() -> None:
    invite = parse_request(INVITE)
    dialog = Dialog.as_uas(invite, "bridge1", CONTACT, local_seq=100)
    assert dialog.key == ("1-4242@127.0.0.1", "bridge1", "4242SIPpTag001")
    assert str(dialog.remote_target) == "sip:sipp@127.0.0.1:5061"
    bye = parse_request(
        dialog.create_request("BYE", local_via("UDP", "127.0.0.1", 5060)).to_bytes()
    )
    assert str(bye.uri) == "sip:sipp@127.0.0.1:5061"
    assert bye.from_addr.tag == "bridge1" and bye.to_addr.tag == "4242SIPpTag001"
    assert str(bye.cseq) == "101 BYE" and "Route" not in bye.headers
    assert bye.contacts == []
    # the response to our BYE comes back with the tags in the same places
    ok = build_response(bye, 200)
    assert dialog.matches(ok, incoming=False)


def test_sipp_bye_matches_the_dialog_and_others_do_not() -> None:
    dialog = Dialog.as_uas(parse_request(INVITE), "bridge1", CONTACT)
    bye = INVITE.replace(b"INVITE sip", b"BYE sip").replace(b"1 INVITE", b"2 BYE")
    bye = bye.replace(
        b"To: 1234 <sip:1234@127.0.0.1:5060>", b"To: <sip:1234@127.0.0.1>;tag=bridge1"
    )
    assert dialog.matches(parse_request(bye))
    assert not dialog.matches(parse_request(bye.replace(b"tag=bridge1", b"tag=other")))
    assert not dialog.matches(parse_request(bye.replace(b"Call-ID: 1-", b"Call-ID: 9-")))


def test_loose_route_set_is_kept_in_order_for_the_uas() -> None:
    data = INVITE.replace(
        b"Max-Forwards",
        b"Record-Route: <sip:p1.example.org;lr>, <sip:p2.example.org;lr>\r\nMax-Forwards",
    )
    dialog = Dialog.as_uas(parse_request(data), "b", CONTACT)
    bye = dialog.create_request("BYE", local_via("UDP", "127.0.0.1", 5060))
    assert str(bye.uri) == "sip:sipp@127.0.0.1:5061"
    assert bye.headers.get_all("Route") == ["<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>"]


def test_strict_route_puts_the_first_hop_in_the_request_uri() -> None:
    data = INVITE.replace(
        b"Max-Forwards", b"Record-Route: <sip:strict.example.org>\r\nMax-Forwards"
    )
    dialog = Dialog.as_uas(parse_request(data), "b", CONTACT)
    bye = dialog.create_request("BYE", local_via("UDP", "127.0.0.1", 5060))
    assert str(bye.uri) == "sip:strict.example.org"
    assert bye.headers.get_all("Route") == ["<sip:sipp@127.0.0.1:5061>"]


def outbound_invite() -> SipRequest:
    target = parse_name_addr("<sip:alice@pbx.example.org>")
    return build_request(
        "INVITE",
        target.uri,
        via=local_via("UDP", "10.0.0.1", 5060),
        from_addr=caller_address("bridge", "10.0.0.1").with_tag("ours"),
        to_addr=target,
        call_id="out-1@10.0.0.1",
        cseq=1,
        contact=caller_address("bridge", "10.0.0.1"),
    )


def test_uac_dialog_reverses_record_route_and_acks_with_the_invite_cseq() -> None:
    invite = outbound_invite()
    ok = build_response(
        invite,
        200,
        to_tag="theirs",
        headers=[
            ("Record-Route", "<sip:p2.example.org;lr>"),
            ("Record-Route", "<sip:p1.example.org;lr>"),
            ("Contact", "<sip:alice@10.0.0.7:5062>"),
        ],
    )
    dialog = Dialog.as_uac(invite, parse_response(ok.to_bytes()))
    assert dialog.key == ("out-1@10.0.0.1", "ours", "theirs")
    assert dialog.route_set == ["<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>"]
    via = local_via("UDP", "10.0.0.1", 5060)
    ack = parse_request(dialog.create_ack(1, via).to_bytes())
    assert str(ack.cseq) == "1 ACK" and str(ack.uri) == "sip:alice@10.0.0.7:5062"
    assert ack.top_via.branch != invite.top_via.branch
    assert ack.headers.get_all("Route")[0] == "<sip:p1.example.org;lr>"
    bye = dialog.create_request("BYE", via)
    assert str(bye.cseq) == "2 BYE"
    assert dialog.matches(build_response(bye, 200), incoming=False)


def test_hold_reinvite_is_in_dialog_refreshes_target_and_checks_cseq() -> None:
    dialog = Dialog.as_uas(parse_request(INVITE), "bridge1", CONTACT)
    reinvite = parse_request(
        INVITE.replace(
            b"To: 1234 <sip:1234@127.0.0.1:5060>", b"To: <sip:1234@127.0.0.1>;tag=bridge1"
        )
        .replace(b"1 INVITE", b"2 INVITE")
        .replace(b"branch=z9hG4bK-4242-1-0", b"branch=z9hG4bK-4242-1-9")
        .replace(b"Contact: sip:sipp@127.0.0.1:5061", b"Contact: <sip:sipp@10.9.9.9:5061>")
    )
    assert dialog.matches(reinvite)
    assert dialog.accept_remote_cseq(reinvite.cseq.seq)
    dialog.refresh_target(reinvite)
    assert dialog.remote_target.host == "10.9.9.9"
    assert not dialog.accept_remote_cseq(1)  # out of order: answer 500
    assert server_transaction_key(reinvite) != server_transaction_key(parse_request(INVITE))


def test_transaction_keys_match_ack_and_retransmissions() -> None:
    invite = parse_request(INVITE)
    ack = build_response(invite, 486, to_tag="t")  # stand-in: keys come from Via and CSeq
    assert ack.top_via.branch == invite.top_via.branch
    non2xx_ack = parse_request(
        INVITE.replace(b"INVITE sip", b"ACK sip").replace(b"1 INVITE", b"1 ACK")
    )
    assert server_transaction_key(non2xx_ack) == server_transaction_key(invite)
    cancel = parse_request(
        INVITE.replace(b"INVITE sip", b"CANCEL sip").replace(b"1 INVITE", b"1 CANCEL")
    )
    assert server_transaction_key(cancel)[:2] == server_transaction_key(invite)[:2]
    assert server_transaction_key(cancel)[2] == "CANCEL"
    old = parse_request(INVITE.replace(b"branch=z9hG4bK-4242-1-0", b"branch=1"))
    assert server_transaction_key(old)[0].startswith("2543:")
