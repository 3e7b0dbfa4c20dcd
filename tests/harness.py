"""The running application as a test sees it (imported by tests as `harness`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from fakes import FakeBackend

from bridge.app import Parts
from bridge.core.clock import OffsetClock


@dataclass
class Bridge:
    """The running application as a test sees it."""

    client: TestClient[Any, Any]
    parts: Parts
    backend: FakeBackend
    clock: OffsetClock
    admin_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    async def call(self, method: str, path: str, *, key: str | None = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {key or self.admin_key}", **kw.pop("headers", {})}
        resp = await self.client.request(method, path, headers=headers, **kw)
        body = await resp.json() if resp.content_type == "application/json" else await resp.read()
        return resp.status, body

    async def ok(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        status, body = await self.call(method, path, **kw)
        assert status == expect, (status, body)
        return body

    async def settle(self) -> None:
        """Let every engine observation reported so far be applied."""
        await self.parts.observer.drain()
