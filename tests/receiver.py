"""A real HTTP server that receives webhooks, for tests. It can be told to fail or go down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    status: int = 200  # what to answer; 503 simulates a receiver in trouble
    # while set and not released, a request is recorded but its answer waits (the sender
    # cannot know it arrived: a test kills the sender in that window)
    hold: asyncio.Event | None = None
    _runner: web.AppRunner | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            sockets = site._server.sockets  # type: ignore[union-attr]
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.status < 300:
            async with self._changed:
                self.received.append(Received(dict(request.headers), body, request.path))
                self._changed.notify_all()
        if self.hold is not None:
            await self.hold.wait()
        return web.Response(status=self.status)

    async def wait_for(self, predicate: Any, within: float = 10.0) -> list[Received]:
        """Wait until `predicate(received)` is true; fail after `within` seconds."""
        deadline = time.monotonic() + within
        async with self._changed:
            while not predicate(self.received):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    types = [r.json["event"]["type"] for r in self.received]
                    raise AssertionError(f"webhooks did not arrive in time; got {types}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        return self.received

    def events(self, conference_id: str | None = None) -> list[dict[str, Any]]:
        out = [r.json["event"] for r in self.received]
        return [e for e in out if conference_id is None or e["conference_id"] == conference_id]
