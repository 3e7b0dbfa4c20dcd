"""SIP transactions (RFC 3261 17, with RFC 6026's Accepted state for INVITE servers).

Each of the four machines is a table, as h11's `_state.py` is: (state, input) -> handler,
drawn beside it. An input is a message class (a provisional, a 2xx or a failure response; a
retransmitted request; an ACK) or a timer firing. A pair that is not in a table is absorbed
without effect: a late retransmission, a response to a transaction that is done, a timer
the current state has no use for. Handlers change the state, arm or stop timers and return
effects (`Send`, `Deliver`, `TimedOut`); the IO side calls `on_timer` at `next_deadline`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, TypeVar

from bridge.protocols.sip.build import build_ack_for_failure, build_response
from bridge.protocols.sip.message import SipMessage, SipRequest, SipResponse
from bridge.protocols.sip.syntax import BRANCH_MAGIC, T1, T2, T4


def server_transaction_key(request: SipRequest) -> tuple[str, str, str]:
    """Key matching a request to its server transaction (RFC 3261 17.2.3); ACK maps to INVITE."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    if not branch.startswith(BRANCH_MAGIC):
        # RFC 2543 peers: fall back on the fields that identify the request
        branch = f"2543:{request.call_id}:{request.cseq.seq}:{request.from_addr.tag}"
    return (branch, via.sent_by, method)


def client_transaction_key(message: SipMessage) -> tuple[str, str]:
    """Key matching a response (or our request) to a client transaction (RFC 3261 17.1.3)."""
    method = message.cseq.method
    if method == "ACK":
        method = "INVITE"
    return (message.top_via.branch or "", method)


# ---------------------------------------------------------------------------
# States, inputs, effects


class TxState(Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class Timer(Enum):
    """RFC 3261 table 4 (and RFC 6026's L); what each one is for, where it is armed."""

    A = "A"  # client INVITE: retransmit the request (unreliable transports)
    B = "B"  # client INVITE: give up waiting for any response
    D = "D"  # client INVITE: absorb retransmitted failures after our ACK
    E = "E"  # client non-INVITE: retransmit the request
    F = "F"  # client non-INVITE: give up
    K = "K"  # client non-INVITE: absorb retransmitted final responses
    G = "G"  # server INVITE: retransmit the failure response until the ACK
    G2XX = "G2xx"  # server INVITE: retransmit the 2xx until its ACK (RFC 3261 13.3.1.4)
    H = "H"  # server INVITE: give up waiting for the ACK of a failure
    I = "I"  # noqa: E741 - RFC 3261's name; server INVITE: absorb ACK retransmissions
    J = "J"  # server non-INVITE: absorb request retransmissions
    L = "L"  # server INVITE (RFC 6026): how long the Accepted state lasts


class Input(Enum):
    """What reached the transaction, besides a timer."""

    PROVISIONAL = "1xx"  # a response, or the TU's response, 100-199
    SUCCESS = "2xx"
    FAILURE = "3xx-6xx"
    REQUEST = "request"  # the request again (a retransmission)
    ACK = "ACK"  # the ACK of a failure (same branch as the INVITE)
    ACK_2XX = "ACK of a 2xx"  # its own branch; the TU matched it and says so with `on_ack`
    TRANSPORT_ERROR = "transport error"  # a send failed (RFC 3261 8.1.3.1, 17.1.4)


def response_input(status: int) -> Input:
    if status < 200:
        return Input.PROVISIONAL
    return Input.SUCCESS if status < 300 else Input.FAILURE


@dataclass(frozen=True, slots=True)
class Send:
    """Send this message to the transaction's peer."""

    message: SipMessage


@dataclass(frozen=True, slots=True)
class Deliver:
    """Hand this message to the transaction user."""

    message: SipMessage


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The transaction gave up (Timer B, F or H, or no ACK for a 2xx)."""

    reason: str


Effect = Send | Deliver | TimedOut

_Tx = TypeVar("_Tx", bound="_Transaction")
# (state, input) -> handler(transaction, message or None for a timer, now)
Table = Mapping[tuple[TxState, Input | Timer], Callable[[_Tx, Any, float], list[Effect]]]


def _step(
    tx: _Tx, table: Table[_Tx], what: Input | Timer, message: Any, now: float
) -> list[Effect]:
    handler = table.get((tx.state, what))
    return [] if handler is None else handler(tx, message, now)


class _Transaction:
    """Shared timer bookkeeping: deadlines per timer, the earliest exposed to the IO loop."""

    def __init__(self, request: SipRequest, state: TxState, reliable: bool) -> None:
        self.request = request
        self.state = state
        self.reliable = reliable
        self._deadlines: dict[Timer, float] = {}
        self._intervals: dict[Timer, float] = {}

    @property
    def next_deadline(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    @property
    def terminated(self) -> bool:
        return self.state is TxState.TERMINATED

    def _arm(self, timer: Timer, now: float, interval: float) -> None:
        self._intervals[timer] = interval
        self._deadlines[timer] = now + interval

    def _rearm_doubled(self, timer: Timer, now: float, cap: float | None = None) -> None:
        interval = self._intervals[timer] * 2
        self._arm(timer, now, interval if cap is None else min(interval, cap))

    def _stop(self, *timers: Timer) -> None:
        for timer in timers:
            self._deadlines.pop(timer, None)

    def _wait(self, timer: Timer, now: float, unreliable: float) -> None:
        """A wait timer: zero on a reliable transport, where nothing is retransmitted."""
        self._arm(timer, now, 0.0 if self.reliable else unreliable)

    def _terminate(self, *_: Any) -> list[Effect]:
        self.state = TxState.TERMINATED
        self._deadlines.clear()
        return []

    def on_timer(self, now: float) -> list[Effect]:
        """Fire every timer due at ``now``, earliest first."""
        effects: list[Effect] = []
        for timer, deadline in sorted(self._deadlines.items(), key=lambda item: item[1]):
            if deadline <= now and self._deadlines.get(timer) == deadline:
                del self._deadlines[timer]
                effects.extend(self._fire(timer, now))
        return effects

    def _fire(self, timer: Timer, now: float) -> list[Effect]:
        raise NotImplementedError


S, I = TxState, Input  # noqa: E741 - short names keep the tables readable

# ---------------------------------------------------------------------------
# Client INVITE (RFC 3261 17.1.1, figure 5)
#
#                 |INVITE sent, A (unreliable) and B armed
#                 v
#             CALLING ---- A: resend, A doubled
#                 |   \--- B: TimedOut
#             1xx |    \
#                 v     \
#            PROCEEDING  \--- 2xx: Deliver (the TU ACKs 2xx itself) --> TERMINATED
#                 |  \------- 2xx: Deliver ----------------------------> TERMINATED
#     300-699     |
#     (from CALLING too): Send ACK, Deliver, arm D
#                 v
#             COMPLETED ---- 300-699 again: Send ACK
#                 |
#               D |
#                 v
#            TERMINATED
#   CALLING, PROCEEDING: a transport error is a TimedOut too; COMPLETED: it just ends


class ClientInviteTransaction(_Transaction):
    """RFC 3261 17.1.1: INVITE client transaction."""

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False) -> None:
        super().__init__(request, S.CALLING, reliable)
        self._ack: SipRequest | None = None
        self.provisional_received = False
        self.timer_b_fired = False
        if not reliable:
            self._arm(Timer.A, now, T1)
        self._arm(Timer.B, now, 64 * T1)

    def start(self) -> list[Effect]:
        return [Send(self.request)]

    def abandon(self) -> None:
        """The TU wants no more of this call but may not CANCEL it yet (RFC 3261 9.1: no
        CANCEL before a provisional response): stop retransmitting the INVITE. Timer B still
        ends the transaction; a late response is still delivered (the TU then CANCELs after
        a provisional one, or ACKs and BYEs a 2xx)."""
        if self.state is S.CALLING:
            self._stop(Timer.A)

    def on_response(self, response: SipResponse, now: float) -> list[Effect]:
        return _step(self, CLIENT_INVITE, response_input(response.status), response, now)

    def _fire(self, timer: Timer, now: float) -> list[Effect]:
        return _step(self, CLIENT_INVITE, timer, None, now)

    def _provisional(self, response: SipResponse, now: float) -> list[Effect]:
        self.state = S.PROCEEDING
        self.provisional_received = True
        self._stop(Timer.A, Timer.B)
        return [Deliver(response)]

    def _success(self, response: SipResponse, now: float) -> list[Effect]:
        self._terminate()
        return [Deliver(response)]

    def _failure(self, response: SipResponse, now: float) -> list[Effect]:
        self.state = S.COMPLETED
        self._deadlines.clear()
        self._ack = build_ack_for_failure(self.request, response)
        self._wait(Timer.D, now, 32.0)
        return [Send(self._ack), Deliver(response)]

    def _failure_again(self, response: SipResponse, now: float) -> list[Effect]:
        return [] if self._ack is None else [Send(self._ack)]

    def _resend(self, _: None, now: float) -> list[Effect]:
        self._rearm_doubled(Timer.A, now)
        return [Send(self.request)]

    def _give_up(self, _: None, now: float) -> list[Effect]:
        self._terminate()
        self.timer_b_fired = True
        return [TimedOut("Timer B")]

    def transport_failed(self, now: float) -> list[Effect]:
        return _step(self, CLIENT_INVITE, I.TRANSPORT_ERROR, None, now)

    def _unreachable(self, _: None, now: float) -> list[Effect]:
        self._terminate()
        return [TimedOut("transport error")]


CLIENT_INVITE: Final[Table[ClientInviteTransaction]] = {
    (S.CALLING, I.PROVISIONAL): ClientInviteTransaction._provisional,
    (S.CALLING, I.SUCCESS): ClientInviteTransaction._success,
    (S.CALLING, I.FAILURE): ClientInviteTransaction._failure,
    (S.CALLING, Timer.A): ClientInviteTransaction._resend,
    (S.CALLING, Timer.B): ClientInviteTransaction._give_up,
    (S.CALLING, I.TRANSPORT_ERROR): ClientInviteTransaction._unreachable,
    (S.PROCEEDING, I.TRANSPORT_ERROR): ClientInviteTransaction._unreachable,
    (S.COMPLETED, I.TRANSPORT_ERROR): ClientInviteTransaction._terminate,  # the ACK was lost
    (S.PROCEEDING, I.PROVISIONAL): ClientInviteTransaction._provisional,
    (S.PROCEEDING, I.SUCCESS): ClientInviteTransaction._success,
    (S.PROCEEDING, I.FAILURE): ClientInviteTransaction._failure,
    (S.COMPLETED, I.FAILURE): ClientInviteTransaction._failure_again,
    (S.COMPLETED, Timer.D): ClientInviteTransaction._terminate,
}

# ---------------------------------------------------------------------------
# Client non-INVITE (RFC 3261 17.1.2, figure 6)
#
#                 |request sent, E (unreliable) and F armed
#                 v
#              TRYING ------ E: resend, E doubled up to T2
#                 |   \----- F: TimedOut --------------------> TERMINATED
#             1xx |    \---- 200-699: Deliver, arm K --+
#                 v                                      |
#            PROCEEDING ---- E: resend, E = T2           |
#                 |   \----- F: TimedOut -> TERMINATED  |
#         200-699 |                                      |
#                 v                                      |
#             COMPLETED <-------------------------------+
#                 | K
#                 v
#            TERMINATED
#   TRYING, PROCEEDING: a transport error is a TimedOut too


class ClientNonInviteTransaction(_Transaction):
    """RFC 3261 17.1.2: non-INVITE client transaction (BYE, CANCEL, OPTIONS)."""

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False) -> None:
        super().__init__(request, S.TRYING, reliable)
        if not reliable:
            self._arm(Timer.E, now, T1)
        self._arm(Timer.F, now, 64 * T1)

    def start(self) -> list[Effect]:
        return [Send(self.request)]

    def on_response(self, response: SipResponse, now: float) -> list[Effect]:
        return _step(self, CLIENT_NON_INVITE, response_input(response.status), response, now)

    def _fire(self, timer: Timer, now: float) -> list[Effect]:
        return _step(self, CLIENT_NON_INVITE, timer, None, now)

    def _provisional(self, response: SipResponse, now: float) -> list[Effect]:
        self.state = S.PROCEEDING
        return [Deliver(response)]

    def _final(self, response: SipResponse, now: float) -> list[Effect]:
        self.state = S.COMPLETED
        self._deadlines.clear()
        self._wait(Timer.K, now, T4)
        return [Deliver(response)]

    def _resend(self, _: None, now: float) -> list[Effect]:
        self._rearm_doubled(Timer.E, now, cap=T2)
        return [Send(self.request)]

    def _resend_proceeding(self, _: None, now: float) -> list[Effect]:
        self._arm(Timer.E, now, T2)
        return [Send(self.request)]

    def _give_up(self, _: None, now: float) -> list[Effect]:
        self._terminate()
        return [TimedOut("Timer F")]

    def transport_failed(self, now: float) -> list[Effect]:
        return _step(self, CLIENT_NON_INVITE, I.TRANSPORT_ERROR, None, now)

    def _unreachable(self, _: None, now: float) -> list[Effect]:
        self._terminate()
        return [TimedOut("transport error")]


CLIENT_NON_INVITE: Final[Table[ClientNonInviteTransaction]] = {
    (S.TRYING, I.PROVISIONAL): ClientNonInviteTransaction._provisional,
    (S.TRYING, I.SUCCESS): ClientNonInviteTransaction._final,
    (S.TRYING, I.FAILURE): ClientNonInviteTransaction._final,
    (S.TRYING, Timer.E): ClientNonInviteTransaction._resend,
    (S.TRYING, Timer.F): ClientNonInviteTransaction._give_up,
    (S.TRYING, I.TRANSPORT_ERROR): ClientNonInviteTransaction._unreachable,
    (S.PROCEEDING, I.TRANSPORT_ERROR): ClientNonInviteTransaction._unreachable,
    (S.PROCEEDING, I.PROVISIONAL): ClientNonInviteTransaction._provisional,
    (S.PROCEEDING, I.SUCCESS): ClientNonInviteTransaction._final,
    (S.PROCEEDING, I.FAILURE): ClientNonInviteTransaction._final,
    (S.PROCEEDING, Timer.E): ClientNonInviteTransaction._resend_proceeding,
    (S.PROCEEDING, Timer.F): ClientNonInviteTransaction._give_up,
    (S.COMPLETED, Timer.K): ClientNonInviteTransaction._terminate,
}

# ---------------------------------------------------------------------------
# Server INVITE (RFC 3261 17.2.1, figure 7, with RFC 6026's ACCEPTED)
#
#                 |INVITE received: 100 Trying (unless the TU answers at once), Deliver
#                 v
#            PROCEEDING ---- TU 1xx: Send;  INVITE again: Send the last response
#               |     \
#      TU 2xx:  |      \--- TU 300-699: Send, arm G (unreliable) and H
#   Send, arm   |                 v
#   G2xx, L     |             COMPLETED --- G: resend, doubled up to T2
#               v                 |    \--- H: TimedOut --------------> TERMINATED
#           ACCEPTED              | ACK: arm I      INVITE again: Send the last response
#   G2xx: resend the 2xx          v
#   TU 2xx again: Send        CONFIRMED
#   ACK of the 2xx (the TU       | I
#     has it): stop G2xx          v
#   L: TimedOut unless ACKed  TERMINATED
#               |
#               v
#           TERMINATED


class ServerInviteTransaction(_Transaction):
    """RFC 3261 17.2.1 with RFC 6026: INVITE server transaction.

    After a 2xx it stays ``ACCEPTED`` for 64*T1, retransmitting the 2xx until the
    ACK arrives (RFC 3261 13.3.1.4; the ACK has its own branch, so the caller
    routes it here with :meth:`on_ack`) and absorbing retransmitted INVITEs.
    """

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False) -> None:
        super().__init__(request, S.PROCEEDING, reliable)
        self.acked = False
        self._last: SipResponse | None = None

    def start(self, trying: bool = True) -> list[Effect]:
        """Deliver the INVITE to the TU, after a 100 Trying unless the TU answers at once."""
        effects: list[Effect] = []
        if trying:
            self._last = build_response(self.request, 100)
            effects.append(Send(self._last))
        effects.append(Deliver(self.request))
        return effects

    def respond(self, response: SipResponse, now: float) -> list[Effect]:
        """The TU's response."""
        return _step(self, SERVER_INVITE, response_input(response.status), response, now)

    def on_request(self, request: SipRequest, now: float) -> list[Effect]:
        """A retransmitted INVITE, or the ACK for a non-2xx final response."""
        what = I.ACK if request.method == "ACK" else I.REQUEST
        return _step(self, SERVER_INVITE, what, request, now)

    def on_ack(self, ack: SipRequest, now: float) -> list[Effect]:
        """The TU received the ACK for our 2xx: stop retransmitting it."""
        return _step(self, SERVER_INVITE, I.ACK_2XX, ack, now)

    def _fire(self, timer: Timer, now: float) -> list[Effect]:
        return _step(self, SERVER_INVITE, timer, None, now)

    def _provisional(self, response: SipResponse, now: float) -> list[Effect]:
        self._last = response
        return [Send(response)]

    def _success(self, response: SipResponse, now: float) -> list[Effect]:
        self._last = response
        self.state = S.ACCEPTED
        if not self.reliable:
            self._arm(Timer.G2XX, now, T1)
        self._arm(Timer.L, now, 64 * T1)
        return [Send(response)]

    def _success_again(self, response: SipResponse, now: float) -> list[Effect]:
        return [Send(response)]  # the TU may resend its 2xx; pass it through

    def _failure(self, response: SipResponse, now: float) -> list[Effect]:
        self._last = response
        self.state = S.COMPLETED
        if not self.reliable:
            self._arm(Timer.G, now, T1)
        self._arm(Timer.H, now, 64 * T1)
        return [Send(response)]

    def _retransmitted(self, request: SipRequest, now: float) -> list[Effect]:
        return [] if self._last is None else [Send(self._last)]

    def _confirmed(self, ack: SipRequest, now: float) -> list[Effect]:
        self.state = S.CONFIRMED
        self._stop(Timer.G, Timer.H)
        self._wait(Timer.I, now, T4)
        return []

    def _acked(self, ack: SipRequest, now: float) -> list[Effect]:
        self.acked = True  # the TU has the ACK already: nothing to deliver
        self._stop(Timer.G2XX)
        return []

    def _resend_failure(self, _: None, now: float) -> list[Effect]:
        self._rearm_doubled(Timer.G, now, cap=T2)
        return self._retransmitted(self.request, now)

    def _resend_success(self, _: None, now: float) -> list[Effect]:
        self._rearm_doubled(Timer.G2XX, now, cap=T2)
        return self._retransmitted(self.request, now)

    def _no_ack(self, _: None, now: float) -> list[Effect]:
        self._terminate()
        return [TimedOut("Timer H")]

    def _accepted_over(self, _: None, now: float) -> list[Effect]:
        acked = self.acked
        self._terminate()
        return [] if acked else [TimedOut("no ACK for 2xx")]


SERVER_INVITE: Final[Table[ServerInviteTransaction]] = {
    (S.PROCEEDING, I.PROVISIONAL): ServerInviteTransaction._provisional,
    (S.PROCEEDING, I.SUCCESS): ServerInviteTransaction._success,
    (S.PROCEEDING, I.FAILURE): ServerInviteTransaction._failure,
    (S.PROCEEDING, I.REQUEST): ServerInviteTransaction._retransmitted,
    (S.ACCEPTED, I.SUCCESS): ServerInviteTransaction._success_again,
    (S.ACCEPTED, I.ACK_2XX): ServerInviteTransaction._acked,
    (S.ACCEPTED, Timer.G2XX): ServerInviteTransaction._resend_success,
    (S.ACCEPTED, Timer.L): ServerInviteTransaction._accepted_over,
    (S.COMPLETED, I.REQUEST): ServerInviteTransaction._retransmitted,
    (S.COMPLETED, I.ACK): ServerInviteTransaction._confirmed,
    (S.COMPLETED, Timer.G): ServerInviteTransaction._resend_failure,
    (S.COMPLETED, Timer.H): ServerInviteTransaction._no_ack,
    (S.CONFIRMED, Timer.I): ServerInviteTransaction._terminate,
}

# ---------------------------------------------------------------------------
# Server non-INVITE (RFC 3261 17.2.2, figure 8)
#
#                 |request received: Deliver
#                 v
#              TRYING ------ TU 200-699: Send, arm J --------+
#                 |                                           |
#          TU 1xx |  Send                                     |
#                 v                                           |
#            PROCEEDING ---- TU 1xx: Send; request again: Send the last response
#                 |                                           |
#     TU 200-699  |  Send, arm J                              |
#                 v                                           |
#             COMPLETED <-------------------------------------+
#                 |  request again: Send the final response
#               J |
#                 v
#            TERMINATED


class ServerNonInviteTransaction(_Transaction):
    """RFC 3261 17.2.2: non-INVITE server transaction."""

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False) -> None:
        super().__init__(request, S.TRYING, reliable)
        self._last: SipResponse | None = None

    def start(self) -> list[Effect]:
        return [Deliver(self.request)]

    def respond(self, response: SipResponse, now: float) -> list[Effect]:
        """The TU's response."""
        return _step(self, SERVER_NON_INVITE, response_input(response.status), response, now)

    def on_request(self, request: SipRequest, now: float) -> list[Effect]:
        """The request again: the last response answers it."""
        return _step(self, SERVER_NON_INVITE, I.REQUEST, request, now)

    def _fire(self, timer: Timer, now: float) -> list[Effect]:
        return _step(self, SERVER_NON_INVITE, timer, None, now)

    def _provisional(self, response: SipResponse, now: float) -> list[Effect]:
        self._last = response
        self.state = S.PROCEEDING
        return [Send(response)]

    def _final(self, response: SipResponse, now: float) -> list[Effect]:
        self._last = response
        self.state = S.COMPLETED
        self._wait(Timer.J, now, 64 * T1)
        return [Send(response)]

    def _retransmitted(self, request: SipRequest, now: float) -> list[Effect]:
        return [] if self._last is None else [Send(self._last)]


SERVER_NON_INVITE: Final[Table[ServerNonInviteTransaction]] = {
    (S.TRYING, I.PROVISIONAL): ServerNonInviteTransaction._provisional,
    (S.TRYING, I.SUCCESS): ServerNonInviteTransaction._final,
    (S.TRYING, I.FAILURE): ServerNonInviteTransaction._final,
    (S.PROCEEDING, I.PROVISIONAL): ServerNonInviteTransaction._provisional,
    (S.PROCEEDING, I.SUCCESS): ServerNonInviteTransaction._final,
    (S.PROCEEDING, I.FAILURE): ServerNonInviteTransaction._final,
    (S.PROCEEDING, I.REQUEST): ServerNonInviteTransaction._retransmitted,
    (S.COMPLETED, I.REQUEST): ServerNonInviteTransaction._retransmitted,
    (S.COMPLETED, Timer.J): ServerNonInviteTransaction._terminate,
}
