"""A TCP proxy the fault tests can cut: the bridge's AMI connection goes through it.

``cut()`` drops every open connection and refuses new ones (accepted, then closed at
once, as a dead peer would look); ``restore()`` lets connections through again.
``swallow = True`` drops what the client writes (a command in flight that never arrives);
``deaf = True`` drops what the server answers (a command carried out, its answer lost).
"""

from __future__ import annotations

import asyncio
import contextlib


class CuttableProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.blocked = False
        self.swallow = False
        self.deaf = False
        self.accepted = 0
        self.sent = bytearray()  # everything the client wrote upstream, for the tests
        self.swallowed = bytearray()  # what it wrote while `swallow` was set
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        self.blocked = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.blocked = self.swallow = self.deaf = False

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer, self.sent),
            self._pipe(up_reader, writer, None),
            return_exceptions=True,
        )

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: bytearray | None,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if record is not None:
                    if self.swallow:
                        self.swallowed += data
                        continue
                    record += data
                elif self.deaf:
                    continue
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
