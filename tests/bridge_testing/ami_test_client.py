"""A small asyncio AMI client for the tests, built on our sans-IO codec.

The production adapter lives in bridge/pbx/asterisk; this one exists so the
codec is exercised over a real socket against a real Asterisk, and so tests can
wait on events with a deadline instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable

from bridge.protocols import ami
from bridge.protocols.ami import ActionResult, ActionTracker, AmiAction, AmiEvent, AmiParser

_ids = itertools.count(1)


def next_action_id(prefix: str = "t") -> str:
    return f"{prefix}-{next(_ids)}"


class AmiTestClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = AmiParser()
        self._tracker = ActionTracker()
        self._futures: dict[str, asyncio.Future[ActionResult]] = {}
        self._changed = asyncio.Condition()
        self.events: list[AmiEvent] = []
        self.stamps: list[float] = []  # time.monotonic() each event arrived, by index
        self.banner: ami.AmiBanner | None = None
        self.received = bytearray()  # every byte read, for captures
        self.bytes_sent = 0
        self.closed = False
        self._task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(
        cls, host: str, port: int, username: str, secret: str, *, events: str = "on"
    ) -> AmiTestClient:
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        result = await client.send(ami.login(username, secret, next_action_id(), events=events))
        if not result.ok:
            await client.close()
            raise ConnectionError(f"AMI login refused: {result.message}")
        return client

    async def send(self, action: AmiAction, *, within: float = 10.0) -> ActionResult:
        future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
        self._tracker.register(action)
        self._futures[action.action_id] = future
        self._writer.write(action.payload)
        self.bytes_sent += len(action.payload)
        await self._writer.drain()
        async with asyncio.timeout(within):
            return await future

    def mark(self) -> int:
        """An index into :attr:`events`; pass it to :meth:`wait_event` as ``since``."""
        return len(self.events)

    async def wait_event(
        self, predicate: Callable[[AmiEvent], bool], *, since: int = 0, within: float = 10.0
    ) -> AmiEvent:
        async with asyncio.timeout(within), self._changed:
            while True:
                for event in self.events[since:]:
                    if predicate(event):
                        return event
                if self.closed:
                    raise ConnectionError("AMI connection closed while waiting for an event")
                await self._changed.wait()

    async def close(self) -> None:
        self._writer.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    async def _read_loop(self) -> None:
        try:
            while data := await self._reader.read(65536):
                self.received += data
                for message in self._parser.feed(data):
                    if isinstance(message, ami.AmiBanner):
                        self.banner = message
                    elif isinstance(message, AmiEvent):
                        self.events.append(message)
                        self.stamps.append(time.monotonic())
                    for result in self._tracker.feed(message):
                        future = self._futures.pop(result.action_id, None)
                        if future is not None and not future.done():
                            future.set_result(result)
                async with self._changed:
                    self._changed.notify_all()
        finally:
            self.closed = True
            for result in self._tracker.fail_all("connection closed"):
                future = self._futures.pop(result.action_id, None)
                if future is not None and not future.done():
                    future.set_result(result)
            async with self._changed:
                self._changed.notify_all()
