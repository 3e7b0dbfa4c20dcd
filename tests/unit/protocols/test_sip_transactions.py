"""Transaction state machines (RFC 3261 17) driven by explicit clock values, and their tables
as data: any input in any order is absorbed or handled, terminated is final, every row is
reachable."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.protocols.sip import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Deliver,
    Effect,
    Send,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    SipRequest,
    TimedOut,
    TxState,
    build_request,
    build_response,
    caller_address,
    local_via,
    parse_name_addr,
)
from bridge.protocols.sip.transaction import (
    CLIENT_INVITE,
    CLIENT_NON_INVITE,
    SERVER_INVITE,
    SERVER_NON_INVITE,
)


def make_request(method: str) -> SipRequest:
    target = parse_name_addr("<sip:alice@pbx.example.org>")
    return build_request(
        method,
        target.uri,
        via=local_via("UDP", "10.0.0.1", 5060),
        from_addr=caller_address("bridge", "10.0.0.1").with_tag("ours"),
        to_addr=target,
        call_id="tx-1@10.0.0.1",
        cseq=1,
        contact=caller_address("bridge", "10.0.0.1"),
    )


Tx = ClientInviteTransaction | ClientNonInviteTransaction | ServerInviteTransaction
Tx2 = Tx | ServerNonInviteTransaction


def run_timers(tx: Tx2, until: float) -> list[tuple[float, list[Effect]]]:
    """Fire every deadline up to ``until``, as an IO loop would."""
    fired = []
    while (deadline := tx.next_deadline) is not None and deadline <= until:
        fired.append((deadline, tx.on_timer(deadline)))
    return fired


def sends(fired: list[tuple[float, list[Effect]]]) -> list[float]:
    return [at for at, effects in fired for e in effects if isinstance(e, Send)]


def test_client_invite_retransmits_with_doubling_until_timer_b() -> None:
    invite = make_request("INVITE")
    tx = ClientInviteTransaction(invite, 0.0)
    assert tx.start() == [Send(invite)]
    fired = run_timers(tx, 100.0)
    assert sends(fired) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert fired[-1] == (32.0, [TimedOut("Timer B")])
    assert tx.terminated and tx.next_deadline is None


def test_client_invite_provisional_stops_retransmission_and_2xx_terminates() -> None:
    invite = make_request("INVITE")
    tx = ClientInviteTransaction(invite, 0.0)
    ringing = build_response(invite, 180, to_tag="t")
    assert tx.on_response(ringing, 0.2) == [Deliver(ringing)]
    assert tx.state is TxState.PROCEEDING and tx.next_deadline is None
    ok = build_response(invite, 200, to_tag="t")
    assert tx.on_response(ok, 5.0) == [Deliver(ok)]
    assert tx.terminated


def test_client_invite_acks_failures_and_absorbs_their_retransmissions() -> None:
    invite = make_request("INVITE")
    tx = ClientInviteTransaction(invite, 0.0)
    busy = build_response(invite, 486, to_tag="t")
    effects = tx.on_response(busy, 1.0)
    assert isinstance(effects[0], Send) and effects[1] == Deliver(busy)
    ack = effects[0].message
    assert isinstance(ack, SipRequest) and ack.method == "ACK"
    assert ack.top_via.branch == invite.top_via.branch and ack.to_addr.tag == "t"
    assert tx.on_response(busy, 2.0) == [Send(ack)]  # no second delivery to the TU
    assert run_timers(tx, 100.0) == [(33.0, [])]
    assert tx.terminated


def test_client_invite_over_tcp_has_no_timer_a() -> None:
    tx = ClientInviteTransaction(make_request("INVITE"), 0.0, reliable=True)
    assert run_timers(tx, 100.0) == [(32.0, [TimedOut("Timer B")])]


def test_client_non_invite_caps_at_t2_and_times_out() -> None:
    bye = make_request("BYE")
    tx = ClientNonInviteTransaction(bye, 0.0)
    assert tx.start() == [Send(bye)]
    fired = run_timers(tx, 100.0)
    assert sends(fired) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert fired[-1] == (32.0, [TimedOut("Timer F")])


def test_client_non_invite_completes_then_lingers_for_timer_k() -> None:
    bye = make_request("BYE")
    tx = ClientNonInviteTransaction(bye, 0.0)
    trying = build_response(bye, 100)
    assert tx.on_response(trying, 0.1) == [Deliver(trying)]
    assert sends(run_timers(tx, 0.6)) == [0.5]
    assert tx.next_deadline == 4.5  # retransmits every T2 once proceeding
    ok = build_response(bye, 200)
    assert tx.on_response(ok, 1.0) == [Deliver(ok)]
    assert tx.on_response(ok, 1.5) == []
    assert run_timers(tx, 100.0) == [(6.0, [])]
    assert tx.terminated


def test_server_invite_sends_trying_and_retransmits_a_failure_until_ack() -> None:
    invite = make_request("INVITE")
    tx = ServerInviteTransaction(invite, 0.0)
    start = tx.start()
    assert isinstance(start[0], Send) and start[0].message.headers.get("CSeq") == "1 INVITE"
    assert start[1] == Deliver(invite)
    assert tx.on_request(invite, 0.1) == [start[0]]  # retransmitted INVITE: 100 again
    busy = build_response(invite, 486, to_tag="t")
    assert tx.respond(busy, 0.2) == [Send(busy)]
    assert sends(run_timers(tx, 12.0)) == [0.7, 1.7, 3.7, 7.7, 11.7]
    assert tx.on_request(invite, 12.1) == [Send(busy)]
    ack = make_request("ACK")
    assert tx.on_request(ack, 12.5) == []
    assert tx.state is TxState.CONFIRMED
    assert run_timers(tx, 100.0) == [(17.5, [])]
    assert tx.terminated


def test_server_invite_gives_up_without_ack_for_failure() -> None:
    invite = make_request("INVITE")
    tx = ServerInviteTransaction(invite, 0.0)
    tx.start(trying=False)
    tx.respond(build_response(invite, 503, to_tag="t"), 0.0)
    assert run_timers(tx, 100.0)[-1] == (32.0, [TimedOut("Timer H")])


def test_server_invite_retransmits_2xx_until_ack_and_absorbs_invite_copies() -> None:
    invite = make_request("INVITE")
    tx = ServerInviteTransaction(invite, 0.0)
    tx.start()
    ok = build_response(invite, 200, to_tag="t")
    assert tx.respond(ok, 1.0) == [Send(ok)]
    assert tx.state is TxState.ACCEPTED
    assert sends(run_timers(tx, 4.0)) == [1.5, 2.5]
    assert tx.on_request(invite, 4.1) == []  # RFC 6026: not a new call
    ack = make_request("ACK")
    assert tx.on_ack(ack, 4.2) == [] and tx.acked  # the TU has the ACK already
    assert tx.on_ack(ack, 4.3) == []
    assert run_timers(tx, 100.0) == [(33.0, [])]
    assert tx.terminated


def test_server_invite_reports_a_missing_ack_for_2xx() -> None:
    invite = make_request("INVITE")
    tx = ServerInviteTransaction(invite, 0.0)
    tx.start()
    tx.respond(build_response(invite, 200, to_tag="t"), 0.0)
    assert run_timers(tx, 100.0)[-1] == (32.0, [TimedOut("no ACK for 2xx")])


def test_server_non_invite_answers_retransmissions_until_timer_j() -> None:
    options = make_request("OPTIONS")
    tx = ServerNonInviteTransaction(options, 0.0)
    assert tx.start() == [Deliver(options)]
    assert tx.on_request(options, 0.1) == []  # nothing to repeat yet
    ok = build_response(options, 200, headers=[("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")])
    assert tx.respond(ok, 0.2) == [Send(ok)]
    assert tx.respond(build_response(options, 500), 0.3) == []
    assert tx.on_request(options, 1.0) == [Send(ok)]
    assert run_timers(tx, 100.0) == [(32.2, [])]
    assert tx.terminated and tx.on_request(options, 40.0) == []


def test_client_invite_abandoned_before_a_provisional_stops_retransmitting() -> None:
    """RFC 3261 9.1: no CANCEL before a provisional response, so a call given up while still
    Calling only stops retransmitting; Timer B ends it, and a late 1xx is still delivered."""
    invite = make_request("INVITE")
    tx = ClientInviteTransaction(invite, 0.0)
    tx.start()
    assert sends(run_timers(tx, 1.0)) == [0.5]
    tx.abandon()
    fired = run_timers(tx, 100.0)
    assert sends(fired) == []
    assert fired == [(32.0, [TimedOut("Timer B")])]
    assert tx.terminated and tx.timer_b_fired and not tx.provisional_received

    late = ClientInviteTransaction(invite, 0.0)
    late.abandon()
    ringing = build_response(invite, 180, to_tag="t")
    assert late.on_response(ringing, 5.0) == [Deliver(ringing)]
    assert late.provisional_received and not late.timer_b_fired


# the tables as data -------------------------------------------------------------

Machine = (
    ClientInviteTransaction
    | ClientNonInviteTransaction
    | ServerInviteTransaction
    | ServerNonInviteTransaction
)
KINDS = ["client_invite", "client_non_invite", "server_invite", "server_non_invite"]
STEPS = ["1xx", "2xx", "4xx", "request", "ack", "ack_2xx", "tick"]


def new(kind: str, reliable: bool) -> Machine:
    method = "INVITE" if kind.endswith("_invite") and "non" not in kind else "BYE"
    request = make_request(method)
    if kind == "client_invite":
        return ClientInviteTransaction(request, 0.0, reliable=reliable)
    if kind == "client_non_invite":
        return ClientNonInviteTransaction(request, 0.0, reliable=reliable)
    if kind == "server_invite":
        return ServerInviteTransaction(request, 0.0, reliable=reliable)
    return ServerNonInviteTransaction(request, 0.0, reliable=reliable)


def apply(tx: Machine, step: str, now: float) -> None:
    status = {"1xx": 180, "2xx": 200, "4xx": 486}.get(step)
    if status is not None:
        response = build_response(tx.request, status, to_tag="t")
        if isinstance(tx, (ClientInviteTransaction, ClientNonInviteTransaction)):
            tx.on_response(response, now)
        else:
            tx.respond(response, now)
    elif step == "tick":
        deadline = tx.next_deadline
        if deadline is not None:
            tx.on_timer(max(now, deadline))
    elif isinstance(tx, (ServerInviteTransaction, ServerNonInviteTransaction)):
        if step == "request":
            tx.on_request(tx.request, now)
        elif step == "ack" and isinstance(tx, ServerInviteTransaction):
            tx.on_request(make_request("ACK"), now)
        elif step == "ack_2xx" and isinstance(tx, ServerInviteTransaction):
            tx.on_ack(make_request("ACK"), now)


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    reliable=st.booleans(),
    steps=st.lists(st.sampled_from(STEPS), max_size=25),
)
def test_any_sequence_of_inputs_is_handled_and_terminated_is_final(
    kind: str, reliable: bool, steps: list[str]
) -> None:
    tx = new(kind, reliable)
    ended = False
    for i, step in enumerate(steps):
        apply(tx, step, float(i))
        if ended:
            assert tx.terminated and tx.next_deadline is None
        ended = tx.terminated
    # left alone, every transaction ends (no timer keeps it alive forever)
    for _ in range(40):
        apply(tx, "tick", 1e6)
    assert tx.terminated or (tx.next_deadline is None and tx.state is not TxState.TERMINATED)


def test_every_row_of_every_table_is_reachable() -> None:
    tables: dict[str, Any] = {
        "client_invite": CLIENT_INVITE,
        "client_non_invite": CLIENT_NON_INVITE,
        "server_invite": SERVER_INVITE,
        "server_non_invite": SERVER_NON_INVITE,
    }
    for kind, table in tables.items():
        reached: set[TxState] = set()
        for first in STEPS:
            for second in STEPS:
                for reliable in (False, True):
                    tx = new(kind, reliable)
                    reached.add(tx.state)
                    for step in (first, second):
                        apply(tx, step, 1.0)
                        reached.add(tx.state)
        states = {state for state, _ in table}
        assert states <= reached, (kind, states - reached)
