"""The inbound ESL connection to one FreeSWITCH node.

All socket IO happens in ONE dedicated thread; the asyncio side only creates
futures and hands bytes over. The thread parses with our sans-IO ``EslParser``
over a plain socket and hands results back with ``loop.call_soon_threadsafe``.

Why not greenswitch (0.0.19, the version the reference traffic was recorded
with)? Reproduced against the recorded bytes (the last two are pinned in
tests/freeswitch/test_greenswitch_findings.py):
- its reader busy-loops forever when the peer closes inside a body
  (``_read_socket`` never yields to the gevent hub), so no ``gevent.Timeout`` can
  fire and the thread can never be stopped;
- it cannot read a ``BACKGROUND_JOB`` result: the event body is merged into the
  ``Content-Length`` header or turned into a header of its own, so ``bgapi``
  results are lost;
- ``event json``/``event xml`` crash its reader greenlet.
The thread / timeout / reconnect contract the design asks of it is kept here.

Contract:
- every command has a timeout (``EslCommandTimeout``); replies are matched FIFO and a
  late reply is still consumed by the command it belongs to, so the queue stays aligned;
- ``bgapi`` sends our own Job-UUID; the result arrives as an asyncio future;
- events are released in Event-Sequence order (``EventOrderer``) and delivered to
  ``on_event`` on the loop, in that order;
- after a drop: pending commands fail with ``EslDisconnected``, then reconnect with
  jittered exponential backoff, re-authenticate and re-subscribe;
- a bad password or ``text/rude-rejection`` is fatal (``EslAuthError``), no retries.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
import random
import selectors
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from bridge.protocols import esl
from bridge.protocols.esl_events import BackgroundJob, EventOrderer, background_job

log = logging.getLogger(__name__)

State = Literal["connecting", "connected", "disconnected", "failed", "stopped"]
_RECV_BYTES: Final = 65536
_EXIT_GRACE: Final = 1.0  # how long stop() waits for "+OK bye"


class EslError(Exception):
    """Base of every error this connection raises."""


class EslAuthError(EslError):
    """Wrong password or ACL rejection: retrying will not help."""


class EslDisconnected(EslError):
    """The connection dropped (or was stopped) before the reply came."""


class EslCommandTimeout(EslError, TimeoutError):
    """No reply within the command's timeout."""


class EslCommandError(EslError):
    """FreeSWITCH answered ``-ERR`` to a command (not to an ``api``, whose body says so)."""


@dataclass(slots=True)
class _Request:
    data: bytes
    future: asyncio.Future[esl.EslMessage]


class _Dropped(Exception):
    """Internal: the current socket is gone; reconnect."""


class EslConnection:
    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        loop: asyncio.AbstractEventLoop,
        on_event: Callable[[esl.Event], None],
        on_state: Callable[[State], None],
        *,
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        order_hold: float = 0.02,
    ) -> None:
        self._host = host
        self._port = port
        self._password = password
        self._loop = loop
        self._on_event = on_event
        self._on_state = on_state
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._order_hold = order_hold
        self._subscriptions: list[str] = []  # re-sent after every reconnect
        self._outbox: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._jobs: dict[str, asyncio.Future[BackgroundJob]] = {}
        self._jobs_lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._first: asyncio.Future[None] | None = None
        self._done: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ asyncio side

    async def start(self) -> None:
        """Connect; returns once authenticated. Raises EslAuthError on a bad password.

        Network failures are retried with backoff, so bound this with asyncio.timeout()
        if the caller must not wait for a node that is down.
        """
        if self._thread is not None:
            raise RuntimeError("EslConnection already started")
        self._first = self._loop.create_future()
        self._done = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._run, name=f"esl-{self._host}:{self._port}", daemon=True
        )
        self._thread.start()
        await self._first

    async def api(
        self,
        cmd: esl.ApiCommand,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> esl.ApiResponse:
        # an explicit per-command timeout is the contract: the thread cannot be cancelled
        reply = await self._command(esl.api(cmd), timeout)
        if not isinstance(reply, esl.ApiResponse):
            raise EslCommandError(f"api {cmd.command}: unexpected reply {reply!r}")
        return reply

    async def bgapi(
        self,
        cmd: esl.ApiCommand,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> BackgroundJob:
        """Run ``cmd`` in the background; ``timeout`` covers the reply and the result."""
        budget = self._command_timeout if timeout is None else timeout
        deadline = self._loop.time() + budget
        if "BACKGROUND_JOB" not in self._subscriptions and "ALL" not in self._subscriptions:
            await self.subscribe("BACKGROUND_JOB", timeout=budget)
        job_uuid = str(uuid.uuid4())
        result: asyncio.Future[BackgroundJob] = self._loop.create_future()
        with self._jobs_lock:
            self._jobs[job_uuid] = result
        try:
            left = max(deadline - self._loop.time(), 0.0)
            reply = await self._command(esl.bgapi(cmd, job_uuid), left)
            if not isinstance(reply, esl.CommandReply) or not reply.ok:
                raise EslCommandError(f"bgapi {cmd.command}: {reply!r}")
            left = max(deadline - self._loop.time(), 0.0)
            try:
                return await asyncio.wait_for(result, left)
            except TimeoutError:
                raise EslCommandTimeout(f"bgapi {cmd.command}: no result in {budget}s") from None
        finally:
            with self._jobs_lock:
                self._jobs.pop(job_uuid, None)

    async def subscribe(self, *names: str, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """``event plain <names>``; remembered and re-sent after a reconnect."""
        new = [n for n in names if n not in self._subscriptions]
        if not new:
            return
        reply = await self._command(esl.event("plain", *new), timeout)
        if not isinstance(reply, esl.CommandReply) or not reply.ok:
            raise EslCommandError(f"event plain {' '.join(new)}: {reply!r}")
        self._subscriptions.extend(new)

    async def stop(self) -> None:
        """Say ``exit``, close the socket, fail what is pending, and join the thread."""
        if self._thread is None or self._done is None:
            return
        self._stopping.set()
        self._wake()
        await self._done
        self._thread.join()
        self._wake_r.close()
        self._wake_w.close()

    async def _command(self, data: bytes, timeout: float | None) -> esl.EslMessage:  # noqa: ASYNC109
        if self._stopping.is_set() or self._thread is None:
            raise EslDisconnected("connection stopped")
        budget = self._command_timeout if timeout is None else timeout
        future: asyncio.Future[esl.EslMessage] = self._loop.create_future()
        self._outbox.put(_Request(data, future))
        self._wake()
        try:
            return await asyncio.wait_for(future, budget)
        except TimeoutError:
            first = data.split(b"\n", 1)[0].decode(errors="replace")
            raise EslCommandTimeout(f"no reply to {first!r} within {budget}s") from None

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # ------------------------------------------------------------------ thread side

    def _call(self, fn: Callable[..., object], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(fn, *args)

    def _settle(
        self,
        future: asyncio.Future[Any],
        result: object = None,
        exc: BaseException | None = None,
    ) -> None:
        def apply() -> None:
            if future.done():
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(result)

        self._call(apply)

    def _state(self, state: State) -> None:
        self._call(self._on_state, state)

    def _deliver(self, events: list[esl.Event]) -> None:
        for event in events:
            try:
                self._on_event(event)
            except Exception:
                log.exception("ESL event handler failed on %s", event.name)

    def _run(self) -> None:
        delay = self._backoff_initial
        try:
            while not self._stopping.is_set():
                self._state("connecting")
                try:
                    sock, parser, leftover = self._open()
                except EslAuthError as exc:
                    self._fail_first(exc)
                    self._state("failed")
                    return
                except (OSError, _Dropped, esl.EslProtocolError) as exc:
                    log.warning("ESL connect to %s:%s failed: %s", self._host, self._port, exc)
                else:
                    delay = self._backoff_initial
                    if self._first is not None:
                        self._settle(self._first)
                    self._state("connected")
                    reason = self._serve(sock, parser, leftover)
                    log.warning("ESL %s:%s closed: %s", self._host, self._port, reason)
                    if self._stopping.is_set():
                        break
                    self._state("disconnected")
                self._fail_outbox(EslDisconnected("not connected"))
                self._pause(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._backoff_max)
        finally:
            self._fail_outbox(EslDisconnected("connection stopped"))
            self._fail_first(EslDisconnected("connection stopped"))
            self._state("stopped")
            if self._done is not None:
                self._settle(self._done)

    def _fail_first(self, exc: BaseException) -> None:
        if self._first is not None:
            self._settle(self._first, exc=exc)

    def _pause(self, seconds: float) -> None:
        """Back off, but wake at once for stop()."""
        self._stopping.wait(seconds)

    def _open(self) -> tuple[socket.socket, esl.EslParser, list[esl.EslMessage]]:
        """Connect, authenticate and re-subscribe, each step bounded by connect_timeout."""
        deadline = time.monotonic() + self._connect_timeout
        sock = socket.create_connection((self._host, self._port), timeout=self._connect_timeout)
        try:
            parser = esl.EslParser()
            backlog: collections.deque[esl.EslMessage] = collections.deque()
            first = self._read_one(sock, parser, backlog, deadline)
            if isinstance(first, esl.RudeRejection):
                raise EslAuthError(f"rejected by FreeSWITCH: {first.body.strip()}")
            if not isinstance(first, esl.AuthRequest):
                raise _Dropped(f"expected auth/request, got {first!r}")
            sock.sendall(esl.auth(self._password))
            reply = self._read_one(sock, parser, backlog, deadline)
            if not isinstance(reply, esl.CommandReply) or not reply.ok:
                raise EslAuthError(f"authentication failed: {getattr(reply, 'text', reply)!r}")
            if self._subscriptions:
                sock.sendall(esl.event("plain", *self._subscriptions))
                reply = self._read_one(sock, parser, backlog, deadline)
                if not isinstance(reply, esl.CommandReply) or not reply.ok:
                    raise _Dropped(f"re-subscribe refused: {reply!r}")
        except BaseException:
            sock.close()
            raise
        return sock, parser, list(backlog)

    def _read_one(
        self,
        sock: socket.socket,
        parser: esl.EslParser,
        backlog: collections.deque[esl.EslMessage],
        deadline: float,
    ) -> esl.EslMessage:
        """The next reply-ish message during the handshake; events wait in ``backlog``."""
        while True:
            for i, msg in enumerate(backlog):
                if not isinstance(msg, esl.Event):
                    del backlog[i]
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Dropped("handshake timed out")
            sock.settimeout(left)
            try:
                data = sock.recv(_RECV_BYTES)
            except TimeoutError:
                raise _Dropped("handshake timed out") from None
            if not data:
                raise _Dropped("EOF during handshake")
            backlog.extend(parser.feed(data))

    def _serve(
        self, sock: socket.socket, parser: esl.EslParser, leftover: list[esl.EslMessage]
    ) -> str:
        """Pump one authenticated socket until it drops or stop(); return why it ended."""
        pending: collections.deque[_Request] = collections.deque()
        orderer = EventOrderer(hold=self._order_hold)
        sock.settimeout(self._command_timeout)  # bounds sendall() only
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ, "sock")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            self._handle(leftover, pending, orderer)
            while not self._stopping.is_set():
                deadline = orderer.next_deadline()
                wait = 1.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
                for key, _ in sel.select(wait):
                    if key.data == "wake":
                        self._drain_wake()
                        self._send_outbox(sock, pending)
                    else:
                        data = sock.recv(_RECV_BYTES)
                        if not data:
                            where = " inside a frame" if parser.mid_frame else ""
                            raise _Dropped(f"EOF{where}")
                        self._handle(parser.feed(data), pending, orderer)
                self._flush(orderer.poll(time.monotonic()))
            self._say_exit(sock, parser, pending)
            return "stopped"
        except (_Dropped, OSError, esl.EslProtocolError) as exc:
            return str(exc) or type(exc).__name__
        finally:
            self._flush(orderer.reset())
            sel.close()
            sock.close()
            for request in pending:
                self._settle(request.future, exc=EslDisconnected("connection dropped"))
            self._fail_jobs()

    def _handle(
        self,
        messages: list[esl.EslMessage],
        pending: collections.deque[_Request],
        orderer: EventOrderer,
    ) -> None:
        now = time.monotonic()
        for msg in messages:
            if isinstance(msg, esl.Event):
                job = background_job(msg)
                with self._jobs_lock:
                    future = self._jobs.get(job.job_uuid) if job is not None else None
                if future is not None:
                    self._settle(future, job)
                else:
                    self._flush(orderer.push(msg, now))
            elif isinstance(msg, esl.CommandReply | esl.ApiResponse):
                if pending:
                    self._settle(pending.popleft().future, msg)
                else:
                    log.warning("ESL reply with no command waiting: %r", msg)
            elif isinstance(msg, esl.DisconnectNotice):
                if not msg.linger:
                    raise _Dropped("disconnect-notice from FreeSWITCH")
            elif isinstance(msg, esl.RudeRejection):
                raise _Dropped("rude-rejection from FreeSWITCH")

    def _flush(self, events: list[esl.Event]) -> None:
        if events:
            self._call(self._deliver, events)

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass

    def _send_outbox(self, sock: socket.socket, pending: collections.deque[_Request]) -> None:
        while True:
            try:
                request = self._outbox.get_nowait()
            except queue.Empty:
                return
            if request.future.done():  # timed out or cancelled before it went out
                continue
            pending.append(request)
            sock.sendall(request.data)

    def _fail_outbox(self, exc: EslError) -> None:
        while True:
            try:
                request = self._outbox.get_nowait()
            except queue.Empty:
                return
            self._settle(request.future, exc=exc)

    def _fail_jobs(self) -> None:
        with self._jobs_lock:
            futures = list(self._jobs.values())
        for future in futures:
            self._settle(future, exc=EslDisconnected("connection dropped before the result"))

    def _say_exit(
        self, sock: socket.socket, parser: esl.EslParser, pending: collections.deque[_Request]
    ) -> None:
        """Best effort ``exit``: wait briefly for the goodbye, never for long."""
        deadline = time.monotonic() + _EXIT_GRACE
        with contextlib.suppress(OSError, esl.EslProtocolError):
            sock.sendall(esl.exit_command())
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                data = sock.recv(_RECV_BYTES)
                if not data:
                    return
                for msg in parser.feed(data):
                    if isinstance(msg, esl.DisconnectNotice):
                        return
