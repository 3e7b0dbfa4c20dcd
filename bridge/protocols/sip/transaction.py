"""SIP transactions (RFC 3261 17, RFC 6026)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

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
# Transactions (RFC 3261 17, with RFC 6026's Accepted state for INVITE servers)


class TxState(Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


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


class _Transaction:
    """Shared timer bookkeeping: named deadlines, earliest one exposed to the IO loop."""

    def __init__(self, reliable: bool) -> None:
        self.reliable = reliable
        self.state = TxState.TRYING
        self._deadlines: dict[str, float] = {}
        self._intervals: dict[str, float] = {}

    @property
    def next_deadline(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    @property
    def terminated(self) -> bool:
        return self.state is TxState.TERMINATED

    def _arm(self, name: str, now: float, interval: float) -> None:
        self._intervals[name] = interval
        self._deadlines[name] = now + interval

    def _stop(self, *names: str) -> None:
        for name in names:
            self._deadlines.pop(name, None)

    def _terminate(self) -> None:
        self.state = TxState.TERMINATED
        self._deadlines.clear()

    def on_timer(self, now: float) -> list[Effect]:
        """Fire every timer due at ``now``, earliest first."""
        effects: list[Effect] = []
        for name, deadline in sorted(self._deadlines.items(), key=lambda item: item[1]):
            if deadline <= now and self._deadlines.get(name) == deadline:
                del self._deadlines[name]
                effects.extend(self._fire(name, now))
        return effects

    def _fire(self, name: str, now: float) -> list[Effect]:
        raise NotImplementedError


class ClientInviteTransaction(_Transaction):
    """RFC 3261 17.1.1: INVITE client transaction."""

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False) -> None:
        super().__init__(reliable)
        self.request = request
        self.state = TxState.CALLING
        self._ack: SipRequest | None = None
        if not reliable:
            self._arm("A", now, T1)
        self._arm("B", now, 64 * T1)

    def start(self) -> list[Effect]:
        return [Send(self.request)]

    def on_response(self, response: SipResponse, now: float) -> list[Effect]:
        status = response.status
        if self.state in (TxState.CALLING, TxState.PROCEEDING):
            if status < 200:
                self.state = TxState.PROCEEDING
                self._stop("A", "B")
                return [Deliver(response)]
            if status < 300:
                # The TU ACKs 2xx itself and absorbs their retransmissions (13.2.2.4).
                self._terminate()
                return [Deliver(response)]
            self.state = TxState.COMPLETED
            self._deadlines.clear()
            self._ack = build_ack_for_failure(self.request, response)
            self._arm("D", now, 0.0 if self.reliable else 32.0)
            return [Send(self._ack), Deliver(response)]
        if self.state is TxState.COMPLETED and status >= 300 and self._ack is not None:
            return [Send(self._ack)]
        return []

    def _fire(self, name: str, now: float) -> list[Effect]:
        if name == "A" and self.state is TxState.CALLING:
            self._arm("A", now, self._intervals["A"] * 2)
            return [Send(self.request)]
        if name == "B" and self.state is TxState.CALLING:
            self._terminate()
            return [TimedOut("Timer B")]
        if name == "D":
            self._terminate()
        return []


class ClientNonInviteTransaction(_Transaction):
    """RFC 3261 17.1.2: non-INVITE client transaction (BYE, CANCEL, OPTIONS)."""

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False) -> None:
        super().__init__(reliable)
        self.request = request
        if not reliable:
            self._arm("E", now, T1)
        self._arm("F", now, 64 * T1)

    def start(self) -> list[Effect]:
        return [Send(self.request)]

    def on_response(self, response: SipResponse, now: float) -> list[Effect]:
        if self.state not in (TxState.TRYING, TxState.PROCEEDING):
            return []
        if response.status < 200:
            self.state = TxState.PROCEEDING
            return [Deliver(response)]
        self.state = TxState.COMPLETED
        self._deadlines.clear()
        self._arm("K", now, 0.0 if self.reliable else T4)
        return [Deliver(response)]

    def _fire(self, name: str, now: float) -> list[Effect]:
        if name == "E" and self.state in (TxState.TRYING, TxState.PROCEEDING):
            interval = T2 if self.state is TxState.PROCEEDING else self._intervals["E"] * 2
            self._arm("E", now, min(interval, T2))
            return [Send(self.request)]
        if name == "F":
            self._terminate()
            return [TimedOut("Timer F")]
        if name == "K":
            self._terminate()
        return []


class ServerInviteTransaction(_Transaction):
    """RFC 3261 17.2.1 with RFC 6026: INVITE server transaction.

    After a 2xx it stays ``ACCEPTED`` for 64*T1, retransmitting the 2xx until the
    ACK arrives (RFC 3261 13.3.1.4; the ACK has its own branch, so the caller
    routes it here with :meth:`on_ack`) and absorbing retransmitted INVITEs.
    """

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False) -> None:
        super().__init__(reliable)
        self.request = request
        self.state = TxState.PROCEEDING
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
        if self.state is TxState.ACCEPTED and 200 <= response.status < 300:
            return [Send(response)]  # the TU may resend its 2xx; pass it through
        if self.state is not TxState.PROCEEDING:
            return []
        self._last = response
        if response.status < 200:
            return [Send(response)]
        if response.status < 300:
            self.state = TxState.ACCEPTED
            if not self.reliable:
                self._arm("G2xx", now, T1)
            self._arm("L", now, 64 * T1)
            return [Send(response)]
        self.state = TxState.COMPLETED
        if not self.reliable:
            self._arm("G", now, T1)
        self._arm("H", now, 64 * T1)
        return [Send(response)]

    def on_request(self, request: SipRequest, now: float) -> list[Effect]:
        """A retransmitted INVITE, or the ACK for a non-2xx final response."""
        if request.method == "ACK":
            if self.state is TxState.COMPLETED:
                self.state = TxState.CONFIRMED
                self._stop("G", "H")
                self._arm("I", now, 0.0 if self.reliable else T4)
            return []
        if self.state in (TxState.PROCEEDING, TxState.COMPLETED) and self._last is not None:
            return [Send(self._last)]
        return []

    def on_ack(self, ack: SipRequest, now: float) -> list[Effect]:
        """The ACK for our 2xx: stop retransmitting; the first one goes to the TU."""
        if self.state is not TxState.ACCEPTED or self.acked:
            return []
        self.acked = True
        self._stop("G2xx")
        return [Deliver(ack)]

    def _fire(self, name: str, now: float) -> list[Effect]:
        if name in ("G", "G2xx") and self._last is not None:
            self._arm(name, now, min(self._intervals[name] * 2, T2))
            return [Send(self._last)]
        if name == "H":
            self._terminate()
            return [TimedOut("Timer H")]
        if name == "L":
            acked = self.acked
            self._terminate()
            return [] if acked else [TimedOut("no ACK for 2xx")]
        if name == "I":
            self._terminate()
        return []


class ServerNonInviteTransaction(_Transaction):
    """RFC 3261 17.2.2: non-INVITE server transaction."""

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False) -> None:
        super().__init__(reliable)
        self.request = request
        self._last: SipResponse | None = None

    def start(self) -> list[Effect]:
        return [Deliver(self.request)]

    def respond(self, response: SipResponse, now: float) -> list[Effect]:
        if self.state not in (TxState.TRYING, TxState.PROCEEDING):
            return []
        self._last = response
        if response.status < 200:
            self.state = TxState.PROCEEDING
        else:
            self.state = TxState.COMPLETED
            self._arm("J", now, 0.0 if self.reliable else 64 * T1)
        return [Send(response)]

    def on_request(self, request: SipRequest, now: float) -> list[Effect]:
        if self._last is not None and self.state is not TxState.TERMINATED:
            return [Send(self._last)]
        return []

    def _fire(self, name: str, now: float) -> list[Effect]:
        if name == "J":
            self._terminate()
        return []
