"""The sans-IO transaction layer: messages and peers in, effects and one deadline out."""

from __future__ import annotations

from bridge.protocols.sip import (
    ServerInviteTransaction,
    SipRequest,
    build_request,
    build_response,
    caller_address,
    local_via,
    parse_name_addr,
)
from bridge.protocols.sip.layer import (
    AckIn,
    ClientEnded,
    LayerEffect,
    Peer,
    RequestIn,
    ResponseIn,
    ServerTimedOut,
    StrayResponse,
    TransactionLayer,
    Transmit,
)

PHONE = Peer("127.0.0.1", 5062)


def request(method: str, branch: str = "z9hG4bKlayer1", cseq: int = 1) -> SipRequest:
    target = parse_name_addr("<sip:bridge@127.0.0.1>")
    return build_request(
        method,
        target.uri,
        via=local_via("UDP", "127.0.0.1", 5062, branch=branch),
        from_addr=caller_address("alice", "127.0.0.1").with_tag("a"),
        to_addr=target,
        call_id="layer-1@127.0.0.1",
        cseq=cseq,
        contact=caller_address("alice", "127.0.0.1"),
    )


def kinds(effects: list[LayerEffect]) -> list[str]:
    return [type(e).__name__ for e in effects]


def test_a_new_invite_is_tried_and_delivered_and_its_copy_answered_by_the_layer() -> None:
    layer = TransactionLayer()
    invite = request("INVITE")
    effects = layer.receive(invite, PHONE, 0.0)
    assert kinds(effects) == ["Transmit", "RequestIn"]
    first = effects[1]
    assert isinstance(first, RequestIn) and first.peer == PHONE
    trying = effects[0]
    assert isinstance(trying, Transmit) and trying.message.to_bytes().startswith(b"SIP/2.0 100")
    again = layer.receive(invite, PHONE, 0.3)  # a retransmission: the TU never sees it
    assert kinds(again) == ["Transmit"]
    assert layer.transactions == 1


def test_a_2xx_is_retransmitted_on_the_layers_deadline_until_its_ack_arrives() -> None:
    layer = TransactionLayer()
    invite = request("INVITE")
    tx = layer.receive(invite, PHONE, 0.0)[1]
    assert isinstance(tx, RequestIn)
    ok = build_response(invite, 200, to_tag="b")
    assert kinds(layer.respond(tx.tx, ok, 1.0)) == ["Transmit"]
    assert layer.next_deadline == 1.5
    assert kinds(layer.on_timer(1.5)) == ["Transmit"]
    assert layer.next_deadline == 2.5
    stranger = request("ACK", branch="z9hG4bKack")  # no To tag: not the ACK of this 2xx
    assert layer.receive(stranger, PHONE, 2.0) == [AckIn(stranger, PHONE)]
    assert layer.next_deadline == 2.5, "a foreign ACK does not stop the retransmissions"
    ack = request("ACK", branch="z9hG4bKack")  # its own branch, matched by Call-ID, CSeq, tags
    ack.headers.set("To", str(parse_name_addr("<sip:bridge@127.0.0.1>").with_tag("b")))
    effects = layer.receive(ack, PHONE, 2.0)
    assert effects == [AckIn(ack, PHONE)]  # on to the TU, for its dialog
    assert isinstance(tx.tx, ServerInviteTransaction) and tx.tx.acked
    assert layer.next_deadline == 33.0  # only timer L is left
    assert layer.on_timer(33.0) == [] and layer.transactions == 0


def test_no_ack_for_a_failure_times_the_server_transaction_out() -> None:
    layer = TransactionLayer()
    invite = request("INVITE")
    tx = layer.receive(invite, PHONE, 0.0)[1]
    assert isinstance(tx, RequestIn)
    layer.respond(tx.tx, build_response(invite, 486, to_tag="b"), 0.0)
    fired: list[LayerEffect] = []
    while (deadline := layer.next_deadline) is not None:
        fired += layer.on_timer(deadline)
    assert fired[-1] == ServerTimedOut(tx.tx)
    assert kinds(fired).count("Transmit") == 10  # G at 0.5, 1.5, 3.5, 7.5, then every 4 s
    assert layer.transactions == 0


def test_a_client_transaction_delivers_responses_then_ends() -> None:
    layer = TransactionLayer()
    bye = request("BYE", branch="z9hG4bKbye", cseq=2)
    tx, effects = layer.request(bye, PHONE, 0.0)
    assert kinds(effects) == ["Transmit"]
    ok = build_response(bye, 200, to_tag="b")
    assert layer.receive(ok, PHONE, 0.1) == [ResponseIn(tx, ok)]
    assert layer.on_timer(0.1 + 5.0) == [ClientEnded(tx, timed_out=False)]
    assert layer.receive(ok, PHONE, 6.0) == [StrayResponse(ok, PHONE)]


def test_a_client_transaction_ends_timed_out_at_its_timer_or_on_a_failed_send() -> None:
    layer = TransactionLayer()
    tx, _ = layer.request(request("OPTIONS", branch="z9hG4bKopt"), PHONE, 0.0)
    effects: list[LayerEffect] = []
    while (deadline := layer.next_deadline) is not None:
        effects += layer.on_timer(deadline)
    assert effects[-1] == ClientEnded(tx, timed_out=True)
    assert kinds(effects).count("Transmit") == 10  # E: 0.5, 1.5, 3.5, 7.5, then every 4 s
    tcp = Peer("127.0.0.1", 5062, "TCP")
    tx, _ = layer.request(request("INVITE", branch="z9hG4bKtcp"), tcp, 0.0)
    assert layer.transport_failed(tx, 0.0) == [ClientEnded(tx, timed_out=True)]
    assert layer.transactions == 0 and layer.next_deadline is None


def test_new_transactions_beyond_the_limit_are_refused() -> None:
    layer = TransactionLayer(max_transactions=2)
    for n in range(3):
        layer.receive(request("OPTIONS", branch=f"z9hG4bKflood{n}"), PHONE, 0.0)
    assert layer.transactions == 2
