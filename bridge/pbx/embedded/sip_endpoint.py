"""SIP over UDP and TCP on asyncio: bytes in and out, one timer, nothing decided here.

The sans-IO `TransactionLayer` (`bridge.protocols.sip.layer`) matches messages to
transactions, runs their tables and timers and answers with effects; this endpoint only
moves bytes (UDP datagrams, or `sip_tcp` connections), performs those effects (a
`Transmit` is a send; the others go to the transaction user, `SipHandler`) and keeps one
`call_at` for the layer's `next_deadline`, on the loop's clock. Datagrams that do not
parse are counted and dropped: a datagram can never crash the loop.

Over TCP, responses go back on the connection the request came on, and transactions are
reliable: the layer then arms no retransmission timers (A, E, G) and zero-length wait timers
(D, I, J, K). A send that fails (no TCP connection to the peer) goes back to the layer as
`transport_failed`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol, cast

from bridge.pbx.embedded.sip_tcp import SipTcp
from bridge.protocols.sip import (
    ClientInviteTransaction,
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    is_keepalive,
    parse_message,
)
from bridge.protocols.sip.layer import (
    AckIn,
    ClientEnded,
    ClientTx,
    LayerEffect,
    Peer,
    RequestIn,
    ResponseIn,
    ServerTimedOut,
    ServerTx,
    StrayResponse,
    TransactionLayer,
    Transmit,
)

__all__ = ["ClientCallback", "Peer", "ServerTx", "SipEndpoint", "SipHandler"]

log = logging.getLogger(__name__)

ClientCallback = Callable[[SipResponse | None], None]  # None: the transaction timed out


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
        self.layer = TransactionLayer()
        self._callbacks: dict[ClientTx, ClientCallback] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
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
        self._received(message, Peer(str(addr[0]), int(addr[1])))

    async def listen_tcp(self, host: str, port: int) -> int:
        """Accept SIP over TCP on `port` (the UDP one); returns the port bound."""
        tcp = SipTcp(
            lambda message, addr: self._received(message, Peer(*addr, "TCP")),
            on_malformed=self._count_malformed,
            keep_open=lambda addr: self.handler.holds_connection(Peer(*addr, "TCP")),
        )
        await tcp.listen(host, port)
        self.tcp = tcp
        return tcp.port

    def _count_malformed(self) -> None:
        self.malformed += 1

    def _received(self, message: SipMessage, peer: Peer) -> None:
        try:
            self._perform(self.layer.receive(message, peer, self.now))
        except SipParseError:
            self.malformed += 1  # a header only looked at now (a lazily parsed view) was bad
        except Exception:
            log.exception("SIP message from %s could not be handled", peer)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_at = None
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
        return self.layer.transactions

    # the transaction user's calls ---------------------------------------------------

    def respond(self, tx: ServerTx, response: SipResponse) -> None:
        self._perform(self.layer.respond(tx, response, self.now))

    def server_transaction(self, key: tuple[str, str, str]) -> ServerTx | None:
        return self.layer.server_transaction(key)

    def request(self, request: SipRequest, addr: Peer, on_response: ClientCallback) -> ClientTx:
        """Start a client transaction; `on_response` gets each response, or None on timeout
        (or when a TCP connection to the peer cannot be opened)."""
        tx, effects = self.layer.request(request, addr, self.now)
        self._callbacks[tx] = on_response
        self._perform(effects)
        return tx

    def abandon(self, tx: ClientInviteTransaction) -> None:
        """Stop retransmitting an INVITE nobody answered yet (see `abandon` there)."""
        self._perform(self.layer.abandon(tx, self.now))

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

    # effects and the one timer ------------------------------------------------------

    def _perform(self, effects: list[LayerEffect]) -> None:
        for effect in effects:
            match effect:
                case Transmit(message, peer, tx):
                    self.send(message, peer, functools.partial(self._transport_failed, tx))
                case RequestIn(request, tx, peer):
                    self.handler.on_request(request, tx, peer)
                case AckIn(ack, peer):
                    self.handler.on_ack(ack, peer)
                case StrayResponse(response, peer):
                    self.handler.on_stray_response(response, peer)
                case ResponseIn(tx, response):
                    if (callback := self._callbacks.get(tx)) is not None:
                        callback(response)
                case ClientEnded(tx, timed_out):
                    callback = self._callbacks.pop(tx, None)
                    if timed_out and callback is not None:
                        callback(None)
                case ServerTimedOut(tx):
                    self.handler.on_server_timeout(tx)
        self._arm()

    def _transport_failed(self, tx: ServerTx | ClientTx) -> None:
        self._perform(self.layer.transport_failed(tx, self.now))

    def _arm(self) -> None:
        deadline = self.layer.next_deadline
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None if deadline is None else self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        # asyncio may run a timer up to its clock resolution early: it is due all the same
        now = max(self.now, self._timer_at or 0.0)
        self._timer = self._timer_at = None
        try:
            self._perform(self.layer.on_timer(now))
        except Exception:
            log.exception("SIP timer failed")
            self._arm()
