"""SIP over TCP (RFC 3261 18): a listening socket and a table of connections, keyed by peer.

Each connection frames messages with `SipStreamParser` (Content-Length, bounded buffers)
and hands them up with the peer's address; the owner answers on the connection a request
came on by sending to that same address. Requests to a peer with no open connection open
one (dial-out, or a BYE after the phone closed its connection).

Guards against a bad peer: framing errors close the connection (framing is lost); a partial
message or a silent new connection is closed after `partial_timeout`; an idle one after
`idle_timeout` unless the owner still needs it (a call or a registration rides on it); a
peer that does not read its responses is cut off; at most `max_connections` are held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import cast

from bridge.protocols.sip import SipMessage, SipParseError, SipStreamParser

log = logging.getLogger(__name__)

Address = tuple[str, int]
IDLE_TIMEOUT = 300.0  # seconds without a byte before an unused connection is closed
PARTIAL_TIMEOUT = 30.0  # seconds a message may take to arrive completely
CONNECT_TIMEOUT = 5.0
MAX_CONNECTIONS = 2_000
MAX_WRITE_BUFFER = 256 * 1024  # bytes queued to a peer that does not read: cut it off


class SipTcp:
    def __init__(
        self,
        on_message: Callable[[SipMessage, Address], None],
        *,
        on_malformed: Callable[[], None] = lambda: None,
        keep_open: Callable[[Address], bool] = lambda addr: False,
    ) -> None:
        self.on_message = on_message
        self.on_malformed = on_malformed
        self.keep_open = keep_open
        self.idle_timeout = IDLE_TIMEOUT
        self.partial_timeout = PARTIAL_TIMEOUT
        self.max_connections = MAX_CONNECTIONS
        self.connections: dict[Address, SipConnection] = {}
        self.port = 0
        self._server: asyncio.Server | None = None
        self._waiting: dict[Address, list[tuple[bytes, Callable[[], None]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SipConnection(self), host, port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections.values()):
            connection.close()
        for task in self._tasks:
            task.cancel()

    def send(self, data: bytes, addr: Address) -> bool:
        """Write on the open connection with `addr`; False if there is none."""
        connection = self.connections.get(addr)
        if connection is None:
            return False
        connection.write(data)
        return True

    def send_or_connect(self, data: bytes, addr: Address, on_error: Callable[[], None]) -> None:
        """Write to `addr`, connecting first if needed; `on_error` if that cannot be done."""
        if self.send(data, addr):
            return
        waiting = self._waiting.get(addr)
        if waiting is not None:  # a connection to addr is being opened: queue behind it
            waiting.append((data, on_error))
            return
        self._waiting[addr] = [(data, on_error)]
        task = asyncio.get_running_loop().create_task(self._connect(addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, addr: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            if len(self.connections) >= self.max_connections:
                raise OSError("too many SIP/TCP connections")
            await asyncio.wait_for(
                loop.create_connection(lambda: SipConnection(self, outbound=True), *addr),
                CONNECT_TIMEOUT,
            )
        except (OSError, TimeoutError) as exc:
            log.info("SIP/TCP connection to %s failed: %s", addr, exc)
        queued = self._waiting.pop(addr, [])
        for data, on_error in queued:
            if not self.send(data, addr):
                on_error()

    # called by connections --------------------------------------------------------------

    def _opened(self, connection: SipConnection) -> bool:
        if len(self.connections) >= self.max_connections:
            return False
        old = self.connections.get(connection.peer)
        if old is not None:
            old.close()
        self.connections[connection.peer] = connection
        return True

    def _closed(self, connection: SipConnection) -> None:
        if self.connections.get(connection.peer) is connection:
            del self.connections[connection.peer]


class SipConnection(asyncio.Protocol):
    def __init__(self, owner: SipTcp, *, outbound: bool = False) -> None:
        self.owner = owner
        self.parser = SipStreamParser()
        self.peer: Address = ("", 0)
        self.transport: asyncio.Transport | None = None
        self.spoken = outbound  # a message has arrived (or we opened it): idle rules apply
        self._loop = asyncio.get_event_loop()
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        name = transport.get_extra_info("peername")
        self.peer = (str(name[0]), int(name[1]))
        self._loop = asyncio.get_running_loop()
        if not self.owner._opened(self):
            self.transport.abort()
            return
        self._last = self._loop.time()
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._last = self._loop.time()
        if data == b"\r\n\r\n" and self.parser.buffered == 0:
            self.write(b"\r\n")  # RFC 5626 4.4.1 keep-alive ping: pong
            return
        try:
            messages = self.parser.feed(data)
        except SipParseError:
            self.owner.on_malformed()
            self.close()  # framing is lost: nothing after this can be trusted
            return
        for message in messages:
            self.spoken = True
            try:
                self.owner.on_message(message, self.peer)
            except Exception:
                log.exception("SIP/TCP message from %s could not be handled", self.peer)
        self._arm()

    def eof_received(self) -> bool | None:
        return False  # half-closed: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.owner._closed(self)

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.transport.abort()  # the peer does not read what we send

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # timeouts: one timer, re-armed only when the deadline moves earlier ------------------

    def _timeout(self) -> float:
        waiting = self.parser.buffered > 0 or not self.spoken
        return self.owner.partial_timeout if waiting else self.owner.idle_timeout

    def _arm(self) -> None:
        deadline = self._last + self._timeout()
        if self._timer is not None and self._deadline <= deadline:
            return  # the timer fires first and re-arms itself to the real deadline
        if self._timer is not None:
            self._timer.cancel()
        self._deadline = deadline
        self._timer = self._loop.call_at(deadline, self._check)

    def _check(self) -> None:
        self._timer = None
        now = self._loop.time()
        partial = self.parser.buffered > 0 or not self.spoken
        if now < self._last + self._timeout() or (not partial and self._in_use()):
            if not partial and now >= self._last + self._timeout():
                self._last = now  # in use: look again after another idle period
            self._arm()
            return
        self.close()

    def _in_use(self) -> bool:
        with contextlib.suppress(Exception):
            return self.owner.keep_open(self.peer)
        return False
