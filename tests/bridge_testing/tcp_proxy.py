"""A TCP proxy the fault tests can cut: the bridge's AMI or ESL connection to the real
PBX goes through it.

``cut()`` drops every open connection and refuses new ones (accepted, then closed at
once, as a dead peer would look); ``restore()`` lets connections through again.
``swallow = True`` drops what the client writes (a command in flight that never arrives);
``deaf = True`` drops what the server answers (a command carried out, its answer lost).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from bridge_testing.loopback import LoopbackServer


@dataclass
class CuttableProxy(LoopbackServer):
    target_host: str = "127.0.0.1"
    target_port: int = 0
    blocked: bool = False
    swallow: bool = False
    deaf: bool = False
    accepted: int = 0
    sent: bytearray = field(default_factory=bytearray)  # all the client wrote upstream
    swallowed: bytearray = field(default_factory=bytearray)  # what it wrote while `swallow`

    async def close(self) -> None:
        self.cut()
        await super().close()

    def cut(self) -> None:
        self.blocked = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.blocked = self.swallow = self.deaf = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        self._writers.add(up_writer)
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
