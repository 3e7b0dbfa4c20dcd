"""The SIP transaction layer (RFC 3261 17), sans-IO, as pjsip's `sip_transaction.c` is a layer
between the transport and the transaction user.

It holds every live transaction, matches what arrives to one of them (17.1.3, 17.2.3),
creates server transactions for new requests, and keeps their timers in one heap. Input:
a message and the peer it came from, the TU's responses and requests, a failed send, and
the time. Output: effects for the IO side (`Transmit`) and for the TU (the others), and
`next_deadline`, when `on_timer` must be called again. It never touches a socket or a clock.

    transport --receive(message, peer, now)--> TransactionLayer --RequestIn / AckIn /
              <--Transmit(message, peer)------                     ResponseIn / ...--> TU
    IO loop   --on_timer(now) at next_deadline-->
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import NamedTuple

from bridge.protocols.sip.message import SipMessage, SipRequest, SipResponse
from bridge.protocols.sip.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Deliver,
    Effect,
    Send,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    client_transaction_key,
    server_transaction_key,
)

Address = tuple[str, int]
ServerTx = ServerInviteTransaction | ServerNonInviteTransaction
ClientTx = ClientInviteTransaction | ClientNonInviteTransaction
Transaction = ServerTx | ClientTx
MAX_TRANSACTIONS = 20_000  # a flood of new transactions is refused beyond this


class Peer(NamedTuple):
    """Where a message came from or goes to: address and transport ("UDP" or "TCP")."""

    host: str
    port: int
    transport: str = "UDP"

    @property
    def addr(self) -> Address:
        return (self.host, self.port)

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"


# effects --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transmit:
    """For the IO side: send `message` to `peer`; a failure goes back as `transport_failed(tx)`."""

    message: SipMessage
    peer: Peer
    tx: Transaction


@dataclass(frozen=True, slots=True)
class RequestIn:
    """A new request, with the server transaction that will carry its response."""

    request: SipRequest
    tx: ServerTx
    peer: Peer


@dataclass(frozen=True, slots=True)
class AckIn:
    """The ACK of a 2xx: it has its own branch (17.1.1.3), so the layer matches it to the
    INVITE it acknowledges by Call-ID, CSeq and tags, stops that 2xx's retransmissions, and
    hands it on; the TU matches its dialog."""

    ack: SipRequest
    peer: Peer


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response that matches no client transaction (a retransmitted 2xx, say)."""

    response: SipResponse
    peer: Peer


@dataclass(frozen=True, slots=True)
class ResponseIn:
    """A response to one of the TU's requests."""

    tx: ClientTx
    response: SipResponse


@dataclass(frozen=True, slots=True)
class ClientEnded:
    """The client transaction is over; `timed_out` if no final response will ever come."""

    tx: ClientTx
    timed_out: bool


@dataclass(frozen=True, slots=True)
class ServerTimedOut:
    """A server transaction gave up (no ACK for our final response)."""

    tx: ServerTx


LayerEffect = (
    Transmit | RequestIn | AckIn | StrayResponse | ResponseIn | ClientEnded | ServerTimedOut
)


class TransactionLayer:
    def __init__(self, max_transactions: int = MAX_TRANSACTIONS) -> None:
        self.max_transactions = max_transactions
        self._server: dict[tuple[str, str, str], tuple[ServerTx, Peer]] = {}
        self._client: dict[tuple[str, str], tuple[ClientTx, Peer]] = {}
        self._timers: list[tuple[float, int, Transaction]] = []  # a heap, entries may be stale
        self._due: dict[Transaction, float] = {}  # each transaction's one live timer entry
        self._order = itertools.count()
        # INVITEs answered with a 2xx, by what its ACK carries (RFC 3261 13.3.1.4)
        self._accepted: dict[AckKey, ServerInviteTransaction] = {}
        self._accepted_keys: dict[ServerInviteTransaction, AckKey] = {}

    @property
    def transactions(self) -> int:
        return len(self._server) + len(self._client)

    @property
    def next_deadline(self) -> float | None:
        while self._timers:
            deadline, _, tx = self._timers[0]
            if self._due.get(tx) == deadline:
                return deadline
            heapq.heappop(self._timers)  # superseded or forgotten
        return None

    def server_transaction(self, key: tuple[str, str, str]) -> ServerTx | None:
        entry = self._server.get(key)
        return None if entry is None else entry[0]

    # input ------------------------------------------------------------------------

    def receive(self, message: SipMessage, peer: Peer, now: float) -> list[LayerEffect]:
        if isinstance(message, SipRequest):
            return self._request(message, peer, now)
        entry = self._client.get(client_transaction_key(message))
        if entry is None:
            return [StrayResponse(message, peer)]
        tx, target = entry
        return self._run(tx, tx.on_response(message, now), target)

    def _request(self, request: SipRequest, peer: Peer, now: float) -> list[LayerEffect]:
        known = self._server.get(server_transaction_key(request))
        if known is not None:  # a retransmission, or the ACK of a failure (same branch)
            return self._run(known[0], known[0].on_request(request, now), peer)
        if request.method == "ACK":
            return self._ack_of_2xx(request, peer, now)
        if self.transactions >= self.max_transactions:
            return []
        tx: ServerTx
        if request.method == "INVITE":
            tx = ServerInviteTransaction(request, now, reliable=peer.reliable)
        else:
            tx = ServerNonInviteTransaction(request, now, reliable=peer.reliable)
        self._server[server_transaction_key(request)] = (tx, peer)
        return self._run(tx, tx.start(), peer)

    def respond(self, tx: ServerTx, response: SipResponse, now: float) -> list[LayerEffect]:
        peer = self._peer(tx)
        if peer is None:
            return []  # the transaction is over (e.g. a CANCEL answered the INVITE first)
        out = self._run(tx, tx.respond(response, now), peer)
        if (
            isinstance(tx, ServerInviteTransaction)
            and 200 <= response.status < 300
            and not tx.terminated
            and tx not in self._accepted_keys
        ):  # its ACK will come on its own branch: note what it will carry
            key = _ack_key(response)
            self._accepted[key] = tx
            self._accepted_keys[tx] = key
        return out

    def _ack_of_2xx(self, ack: SipRequest, peer: Peer, now: float) -> list[LayerEffect]:
        tx = self._accepted.get(_ack_key(ack))
        target = None if tx is None else self._peer(tx)
        if tx is None or target is None:
            return [AckIn(ack, peer)]  # late (after timer L) or unknown: the TU decides
        return [*self._run(tx, tx.on_ack(ack, now), target), AckIn(ack, peer)]

    def request(
        self, request: SipRequest, peer: Peer, now: float
    ) -> tuple[ClientTx, list[LayerEffect]]:
        """Start a client transaction for the TU's `request`."""
        tx: ClientTx
        if request.method == "INVITE":
            tx = ClientInviteTransaction(request, now, reliable=peer.reliable)
        else:
            tx = ClientNonInviteTransaction(request, now, reliable=peer.reliable)
        self._client[client_transaction_key(request)] = (tx, peer)
        return tx, self._run(tx, tx.start(), peer)

    def abandon(self, tx: ClientInviteTransaction, now: float) -> list[LayerEffect]:
        """Stop retransmitting an INVITE nobody answered yet (`ClientInviteTransaction.abandon`)."""
        peer = self._peer(tx)
        if peer is None:
            return []
        tx.abandon()
        return self._run(tx, [], peer)

    def transport_failed(self, tx: Transaction, now: float) -> list[LayerEffect]:
        """A send for `tx` failed (RFC 3261 8.1.3.1: to a client, like a timeout)."""
        peer = self._peer(tx)
        if peer is None or isinstance(tx, (ServerInviteTransaction, ServerNonInviteTransaction)):
            return []  # a server transaction retransmits or times out on its own
        return self._run(tx, tx.transport_failed(now), peer)

    def on_timer(self, now: float) -> list[LayerEffect]:
        """Fire every transaction whose deadline is due at `now`."""
        effects: list[LayerEffect] = []
        while (deadline := self.next_deadline) is not None and deadline <= now:
            _, _, tx = heapq.heappop(self._timers)
            del self._due[tx]
            peer = self._peer(tx)
            if peer is not None:
                effects.extend(self._run(tx, tx.on_timer(now), peer))
        return effects

    # bookkeeping ------------------------------------------------------------------

    def _peer(self, tx: Transaction) -> Peer | None:
        if isinstance(tx, (ServerInviteTransaction, ServerNonInviteTransaction)):
            server = self._server.get(server_transaction_key(tx.request))
            return server[1] if server is not None and server[0] is tx else None
        client = self._client.get(client_transaction_key(tx.request))
        return client[1] if client is not None and client[0] is tx else None

    def _run(self, tx: Transaction, effects: list[Effect], peer: Peer) -> list[LayerEffect]:
        if isinstance(tx, (ServerInviteTransaction, ServerNonInviteTransaction)):
            out = [e for effect in effects if (e := _server_effect(tx, effect, peer))]
        else:
            out = [e for effect in effects if (e := _client_effect(tx, effect, peer))]
        if tx.terminated:
            self._forget(tx, out)
            return out
        deadline = tx.next_deadline
        if deadline is None:
            self._due.pop(tx, None)
        elif self._due.get(tx) != deadline:
            self._due[tx] = deadline
            heapq.heappush(self._timers, (deadline, next(self._order), tx))
        return out

    def _forget(self, tx: Transaction, out: list[LayerEffect]) -> None:
        self._due.pop(tx, None)
        if isinstance(tx, (ServerInviteTransaction, ServerNonInviteTransaction)):
            key = server_transaction_key(tx.request)
            if (entry := self._server.get(key)) is not None and entry[0] is tx:
                del self._server[key]
            if isinstance(tx, ServerInviteTransaction):
                ack_key = self._accepted_keys.pop(tx, None)
                if ack_key is not None and self._accepted.get(ack_key) is tx:
                    del self._accepted[ack_key]
            return
        client_key = client_transaction_key(tx.request)
        if (found := self._client.get(client_key)) is not None and found[0] is tx:
            del self._client[client_key]
            if not any(isinstance(e, ClientEnded) for e in out):
                out.append(ClientEnded(tx, timed_out=False))


AckKey = tuple[str, int, str, str]  # Call-ID, CSeq number, From tag, To tag


def _ack_key(message: SipMessage) -> AckKey:
    """What a 2xx and its ACK share: the dialog's Call-ID and tags, the INVITE's CSeq."""
    return (
        message.call_id,
        message.cseq.seq,
        message.from_addr.tag or "",
        message.to_addr.tag or "",
    )


def _server_effect(tx: ServerTx, effect: Effect, peer: Peer) -> LayerEffect | None:
    if isinstance(effect, Send):
        return Transmit(effect.message, peer, tx)
    if isinstance(effect, Deliver):
        return (
            RequestIn(effect.message, tx, peer) if isinstance(effect.message, SipRequest) else None
        )
    return ServerTimedOut(tx)


def _client_effect(tx: ClientTx, effect: Effect, peer: Peer) -> LayerEffect | None:
    if isinstance(effect, Send):
        return Transmit(effect.message, peer, tx)
    if isinstance(effect, Deliver):
        return ResponseIn(tx, effect.message) if isinstance(effect.message, SipResponse) else None
    return ClientEnded(tx, timed_out=True)
