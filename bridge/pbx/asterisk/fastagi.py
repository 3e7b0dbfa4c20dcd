"""Our FastAGI server: Asterisk's ``AGI(agi://host:port/script)`` connects here.

Written on :func:`asyncio.start_server` instead of panoramisk's handler, which
freezes the event loop when a client sends a partial header and disconnects.
Here every read is bounded (line length) and timed, the number of calls served
at once is capped, and a misbehaving client only ever costs its own task.

Routing is not decided here: the server hands each call, as an
:class:`AgiSession`, to a pluggable ``handler(session)``. When the handler
returns, the connection closes and the call continues in the dialplan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bridge.protocols import agi
from bridge.protocols.agi import AgiEnvironment, AgiHangup, AgiResponse, AgiResponseParser
from bridge.protocols.safe import Kind

log = logging.getLogger(__name__)

AgiHandler = Callable[["AgiSession"], Awaitable[None]]


class AgiSessionClosed(ConnectionError):
    """Asterisk closed the connection (the call ended or the AGI was torn down)."""


@dataclass(frozen=True)
class FastAgiLimits:
    max_line: int = 8192  # bytes per line, environment and responses alike
    header_timeout: float = 5.0  # seconds for the whole environment block
    command_timeout: float = 10.0  # seconds per command unless the call says otherwise
    max_sessions: int = 256  # calls served at once; further connections are closed


class AgiSession:
    """One FastAGI call: the environment and a way to run commands on the channel."""

    def __init__(
        self,
        env: AgiEnvironment,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limits: FastAgiLimits,
    ) -> None:
        self.env = env
        self._reader = reader
        self._writer = writer
        self._limits = limits
        self._parser = AgiResponseParser()
        self._lock = asyncio.Lock()
        self.hung_up = False

    async def command(self, line: bytes, *, seconds: float | None = None) -> AgiResponse:
        """Send one encoded command (see ``bridge.protocols.agi``) and return its reply.

        A ``HANGUP`` notification read on the way sets :attr:`hung_up`; the reply
        itself still follows (usually ``511`` on a dead channel).
        """
        deadline = self._limits.command_timeout if seconds is None else seconds
        async with self._lock:
            self._writer.write(line)
            async with asyncio.timeout(deadline):
                await self._writer.drain()
                while True:
                    reply = self._parser.feed_line(await self._read_line())
                    if isinstance(reply, AgiHangup):
                        self.hung_up = True
                    elif reply is not None:
                        return reply

    async def _read_line(self) -> str:
        try:
            raw = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            raise AgiSessionClosed("FastAGI peer closed the connection") from exc
        except asyncio.LimitOverrunError as exc:
            raise AgiSessionClosed("FastAGI line too long") from exc
        return raw.decode("utf-8", errors="replace")

    # Thin helpers over the codec, so handlers read like the dialplan they drive.
    async def answer(self) -> AgiResponse:
        return await self.command(agi.answer())

    async def set_variable(self, name: str, value: object, kind: Kind) -> AgiResponse:
        return await self.command(agi.set_variable(name, value, kind))

    async def get_variable(self, name: str) -> str | None:
        reply = await self.command(agi.get_variable(name))
        return reply.data if reply.result == 1 else None

    async def exec_app(
        self, application: str, *args: tuple[object, Kind], seconds: float | None = None
    ) -> AgiResponse:
        return await self.command(agi.exec_app(application, *args), seconds=seconds)

    async def get_data(
        self, file: str, *, timeout_ms: int = 5000, max_digits: int = 8
    ) -> AgiResponse:
        # The prompt plays before the digit timeout starts: allow for both.
        budget = self._limits.command_timeout + timeout_ms / 1000 * (max_digits + 1)
        return await self.command(
            agi.get_data(file, timeout_ms=timeout_ms, max_digits=max_digits), seconds=budget
        )

    async def verbose(self, message: str, level: int = 1) -> AgiResponse:
        return await self.command(agi.verbose(message, level))

    async def hangup(self) -> AgiResponse:
        return await self.command(agi.hangup())


def route_by_script(routes: Mapping[str, AgiHandler], fallback: AgiHandler) -> AgiHandler:
    """A handler that dispatches on the URL path (``agi://host/dialin`` → ``dialin``)."""

    async def handle(session: AgiSession) -> None:
        await routes.get(session.env.script, fallback)(session)

    return handle


class FastAgiServer:
    """``await server.start()``; ``server.port`` is the bound port (0 picks one)."""

    def __init__(
        self,
        handler: AgiHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        limits: FastAgiLimits | None = None,
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self.limits = limits or FastAgiLimits()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.active = 0
        self.rejected = 0

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("FastAGI server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connect, self._host, self._port, limit=self.limits.max_line
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            if self.active >= self.limits.max_sessions:
                # Refuse rather than queue: Asterisk sets AGISTATUS=FAILURE and the
                # dialplan goes on, instead of the caller waiting on a backlog.
                self.rejected += 1
                log.warning("FastAGI: %d calls active, refusing a new one", self.active)
                return
            self.active += 1
            try:
                await self._serve(reader, writer)
            finally:
                self.active -= 1
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(self.limits.header_timeout):
                env = await self._read_environment(reader)
        except (TimeoutError, AgiSessionClosed, agi.AgiProtocolError) as exc:
            log.info("FastAGI: dropped a connection before a full environment: %s", exc)
            return
        session = AgiSession(env, reader, writer, self.limits)
        try:
            await self._handler(session)
        except (AgiSessionClosed, TimeoutError, ConnectionError) as exc:
            log.info("FastAGI %s: connection ended: %r", env.channel, exc)
        except Exception:
            log.exception("FastAGI %s: handler failed", env.channel)

    async def _read_environment(self, reader: asyncio.StreamReader) -> AgiEnvironment:
        lines: list[str] = []
        while True:
            try:
                raw = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                raise AgiSessionClosed("closed inside the AGI environment") from exc
            except asyncio.LimitOverrunError as exc:
                raise AgiSessionClosed("AGI environment line too long") from exc
            line = raw.decode("utf-8", errors="replace")
            if not line.strip():
                return agi.parse_environment(lines)
            if len(lines) >= agi.MAX_ENV_LINES:
                raise agi.AgiProtocolError("AGI environment too long")
            lines.append(line)


__all__ = [
    "AgiHandler",
    "AgiSession",
    "AgiSessionClosed",
    "FastAgiLimits",
    "FastAgiServer",
    "route_by_script",
]
