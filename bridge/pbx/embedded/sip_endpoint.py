"""SIP over UDP and TCP on asyncio: messages in, sans-IO transactions driven, effects out.

The transaction state machines in `bridge.protocols.sip` decide what to (re)send and when
they give up; this endpoint owns the socket and the timers (one `call_at` per transaction,
re-armed to the transaction's next deadline after every step, on the loop's clock).
New requests and the ACKs of 2xx responses go to the transaction user (`SipHandler`).
Datagrams that do not parse are counted and dropped: a datagram can never crash the loop.

Every message is tied to a `Peer` (address and transport). Over TCP (`sip_tcp`) responses
go back on the connection the request came on, and transactions are reliable: the core
then arms no retransmission timers (A, E, G) and zero-length wait timers (D, I, J, K).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, cast

from bridge.pbx.embedded.sip_tcp import SipTcp
from bridge.protocols.sip import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Deliver,
    Effect,
    Send,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    TimedOut,
    TxState,
    client_transaction_key,
    is_keepalive,
    parse_message,
    server_transaction_key,
)

log = logging.getLogger(__name__)

Address = tuple[str, int]


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


ServerTx = ServerInviteTransaction | ServerNonInviteTransaction
ClientTx = ClientInviteTransaction | ClientNonInviteTransaction
Transaction = ServerTx | ClientTx
ClientCallback = Callable[[SipResponse | None], None]  # None: the transaction timed out
MAX_TRANSACTIONS = 20_000  # a flood of new transactions is refused beyond this


class SipHandler(Protocol):
    def on_request(self, request: SipRequest, tx: ServerTx, peer: Peer) -> None: ...

    def on_ack(self, ack: SipRequest, peer: Peer) -> None: ...

    def on_stray_response(self, response: SipResponse, peer: Peer) -> None: ...

    def on_server_timeout(self, tx: ServerTx) -> None: ...

    def holds_connection(self, peer: Peer) -> bool:
        """Whether a call or registration still relies on this TCP connection."""
        ...


class SipEndpoint(asyncio.DatagramProtocol):
    def __init__(self, handler: SipHandler) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None
        self.malformed = 0
        self.tcp: SipTcp | None = None
        self._server: dict[tuple[str, str, str], tuple[ServerTx, Peer]] = {}
        self._client: dict[tuple[str, str], tuple[ClientTx, Peer, ClientCallback]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._loop = asyncio.get_event_loop()

    # asyncio ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport
        self.transport = cast(asyncio.DatagramTransport, transport)
        self._loop = asyncio.get_running_loop()

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors for a peer that went away; transactions time out on their own

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if is_keepalive(data):
            return
        try:
            message = parse_message(data)
        except SipParseError:
            self.malformed += 1
            return
        self._dispatch(message, Peer(str(addr[0]), int(addr[1])))

    async def listen_tcp(self, host: str, port: int) -> int:
        """Accept SIP over TCP on `port` (the UDP one); returns the port bound."""
        tcp = SipTcp(
            lambda message, addr: self._dispatch(message, Peer(*addr, "TCP")),
            on_malformed=self._count_malformed,
            keep_open=lambda addr: self.handler.holds_connection(Peer(*addr, "TCP")),
        )
        await tcp.listen(host, port)
        self.tcp = tcp
        return tcp.port

    def _count_malformed(self) -> None:
        self.malformed += 1

    def _dispatch(self, message: SipMessage, peer: Peer) -> None:
        try:
            if isinstance(message, SipRequest):
                self._request(message, peer)
            else:
                self._response(message, peer)
        except SipParseError:
            self.malformed += 1  # a header only looked at now (a lazily parsed view) was bad
        except Exception:
            log.exception("SIP message from %s could not be handled", peer)

    def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self.transport is not None:
            self.transport.close()
        if self.tcp is not None:
            self.tcp.close()

    def connected(self, peer: Peer) -> bool:
        """Whether `peer` can be reached now: always over UDP, over TCP if still connected."""
        return not peer.reliable or (self.tcp is not None and peer.addr in self.tcp.connections)

    @property
    def now(self) -> float:
        return self._loop.time()

    @property
    def transactions(self) -> int:
        return len(self._server) + len(self._client)

    # incoming -----------------------------------------------------------------------

    def _request(self, request: SipRequest, addr: Peer) -> None:
        key = server_transaction_key(request)
        known = self._server.get(key)
        if request.method == "ACK":
            if known is not None:  # ACK of a non-2xx final response: same branch as the INVITE
                self._run(known[0], known[0].on_request(request, self.now), addr)
            else:
                self.handler.on_ack(request, addr)
            return
        if known is not None:  # a retransmission: the transaction answers it
            self._run(known[0], known[0].on_request(request, self.now), addr)
            return
        if self.transactions >= MAX_TRANSACTIONS:
            return
        tx: ServerTx
        if request.method == "INVITE":
            tx = ServerInviteTransaction(request, self.now, reliable=addr.reliable)
        else:
            tx = ServerNonInviteTransaction(request, self.now, reliable=addr.reliable)
        self._server[key] = (tx, addr)
        self._run(tx, tx.start(), addr)

    def _response(self, response: SipResponse, addr: Peer) -> None:
        entry = self._client.get(client_transaction_key(response))
        if entry is None:
            self.handler.on_stray_response(response, addr)
            return
        tx, target, _ = entry
        self._run(tx, tx.on_response(response, self.now), target)

    # outgoing -----------------------------------------------------------------------

    def respond(self, tx: ServerTx, response: SipResponse) -> None:
        entry = self._server.get(server_transaction_key(tx.request))
        if entry is None or entry[0] is not tx:
            return  # the transaction is over (e.g. a CANCEL answered the INVITE first)
        self._run(tx, tx.respond(response, self.now), entry[1])

    def ack_received(self, tx: ServerInviteTransaction, ack: SipRequest) -> None:
        entry = self._server.get(server_transaction_key(tx.request))
        if entry is not None and entry[0] is tx:
            self._run(tx, tx.on_ack(ack, self.now), entry[1])

    def server_transaction(self, key: tuple[str, str, str]) -> ServerTx | None:
        entry = self._server.get(key)
        return None if entry is None else entry[0]

    def request(self, request: SipRequest, addr: Peer, on_response: ClientCallback) -> ClientTx:
        """Start a client transaction; `on_response` gets each response, or None on timeout
        (or when a TCP connection to the peer cannot be opened)."""
        tx: ClientTx
        if request.method == "INVITE":
            tx = ClientInviteTransaction(request, self.now, reliable=addr.reliable)
        else:
            tx = ClientNonInviteTransaction(request, self.now, reliable=addr.reliable)
        self._client[client_transaction_key(request)] = (tx, addr, on_response)
        self._run(tx, tx.start(), addr)
        return tx

    def abandon(self, tx: ClientInviteTransaction) -> None:
        """Stop retransmitting an INVITE nobody answered yet (see `abandon` there)."""
        tx.abandon()
        self._schedule(tx)

    def send(
        self, message: SipMessage, addr: Peer, on_error: Callable[[], None] | None = None
    ) -> None:
        """Send (also outside any transaction: the ACK of a 2xx, RFC 3261 13.2.2.4).

        Over TCP a response goes only on an open connection; a request opens one if needed
        and `on_error` runs if that fails.
        """
        if not addr.reliable:
            if self.transport is not None:
                self.transport.sendto(message.to_bytes(), addr.addr)
            return
        if self.tcp is None:
            return
        if isinstance(message, SipResponse):
            self.tcp.send(message.to_bytes(), addr.addr)  # the phone closed it: nothing to do
        else:
            self.tcp.send_or_connect(message.to_bytes(), addr.addr, on_error or (lambda: None))

    # effects and timers -------------------------------------------------------------

    def _run(self, tx: Transaction, effects: list[Effect], addr: Peer) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self.send(effect.message, addr, lambda: self._transport_failed(tx))
            elif isinstance(effect, Deliver):
                self._deliver(tx, effect.message, addr)
            elif isinstance(effect, TimedOut):
                self._timed_out(tx)
        self._schedule(tx)

    def _deliver(self, tx: Transaction, message: SipMessage, addr: Peer) -> None:
        if isinstance(tx, (ServerInviteTransaction, ServerNonInviteTransaction)):
            if isinstance(message, SipRequest) and message.method != "ACK":
                self.handler.on_request(message, tx, addr)
            return
        entry = self._client.get(client_transaction_key(tx.request))
        if entry is not None and isinstance(message, SipResponse):
            entry[2](message)

    def _transport_failed(self, tx: Transaction) -> None:
        """RFC 3261 8.1.3.1: a transport error ends a client transaction like a timeout."""
        if isinstance(tx, (ClientInviteTransaction, ClientNonInviteTransaction)) and not (
            tx.terminated
        ):
            tx.state = TxState.TERMINATED
            self._timed_out(tx)
            self._schedule(tx)

    def _timed_out(self, tx: Transaction) -> None:
        if isinstance(tx, (ServerInviteTransaction, ServerNonInviteTransaction)):
            self.handler.on_server_timeout(tx)
            return
        entry = self._client.get(client_transaction_key(tx.request))
        if entry is not None:
            entry[2](None)

    def _schedule(self, tx: Transaction) -> None:
        handle = self._timers.pop(id(tx), None)
        if handle is not None:
            handle.cancel()
        if tx.terminated:
            self._forget(tx)
            return
        deadline = tx.next_deadline
        if deadline is not None:
            self._timers[id(tx)] = self._loop.call_at(deadline, self._fire, tx)

    def _fire(self, tx: Transaction) -> None:
        self._timers.pop(id(tx), None)
        try:
            addr = self._address_of(tx)
            if addr is not None:
                self._run(tx, tx.on_timer(self.now), addr)
        except Exception:
            log.exception("SIP timer failed")

    def _address_of(self, tx: Transaction) -> Peer | None:
        if isinstance(tx, (ServerInviteTransaction, ServerNonInviteTransaction)):
            server = self._server.get(server_transaction_key(tx.request))
            return server[1] if server is not None else None
        client = self._client.get(client_transaction_key(tx.request))
        return client[1] if client is not None else None

    def _forget(self, tx: Transaction) -> None:
        if isinstance(tx, (ServerInviteTransaction, ServerNonInviteTransaction)):
            key = server_transaction_key(tx.request)
            if (entry := self._server.get(key)) is not None and entry[0] is tx:
                del self._server[key]
        else:
            client_key = client_transaction_key(tx.request)
            if (found := self._client.get(client_key)) is not None and found[0] is tx:
                del self._client[client_key]
