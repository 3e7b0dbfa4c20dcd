"""The real application on a real aiohttp server, and its HTTP API as the admin calls it.

``serve_app`` is the one way a test starts the app, whatever the engine (embedded, the
fake, Asterisk, FreeSWITCH); ``AdminApi`` is the one ``call``/``ok`` pair each suite's
view of the running app mixes in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bridge.app import ADMIN_KEY_FILE, PARTS, Parts, build_app
from bridge.config import Config


@dataclass
class Served:
    client: TestClient[Any, Any]
    parts: Parts
    admin_key: str


@asynccontextmanager
async def serve_app(
    config: Config, *, host: str | None = None, **build: Any
) -> AsyncIterator[Served]:
    """``build_app(config, **build)`` served on 127.0.0.1 (or `host`) at a free port;
    closed on exit."""
    app = build_app(config, **build)
    client = TestClient(TestServer(app) if host is None else TestServer(app, host=host))
    await client.start_server()
    try:
        parts = app[PARTS]
        # a second app on the same data directory (a bridge restart) finds the key on disk;
        # another instance on the same database with its own directory has none ("")
        stored = config.data_dir / ADMIN_KEY_FILE
        key = parts.admin_key or (stored.read_text().strip() if stored.exists() else "")
        yield Served(client, parts, key)
    finally:
        await client.close()


async def api_call(
    client: TestClient[Any, Any], key: str, method: str, path: str, **kw: Any
) -> tuple[int, Any]:
    """One request with `key` as the bearer: (status, JSON body or raw bytes)."""
    headers = {"Authorization": f"Bearer {key}", **kw.pop("headers", {})}
    resp = await client.request(method, path, headers=headers, **kw)
    body = await resp.json() if resp.content_type == "application/json" else await resp.read()
    return resp.status, body


class AdminApi:
    """``call`` answers (status, body); ``ok`` asserts the status and answers the body."""

    client: TestClient[Any, Any]
    admin_key: str

    async def call(
        self, method: str, path: str, *, key: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        return await api_call(self.client, key or self.admin_key, method, path, **kw)

    async def ok(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        status, body = await self.call(method, path, **kw)
        assert status == expect, (method, path, status, body)
        return body

    async def every_item(self, path: str, query: str = "") -> list[dict[str, Any]]:
        """All items of a listing, page by page (100 each) along its `next_after` cursors."""
        items: list[dict[str, Any]] = []
        cursor: str | None = ""
        while cursor is not None:
            after = f"&after={cursor}" if cursor else ""
            page = await self.ok("GET", f"{path}?{query}&limit=100{after}")
            items.extend(page["items"])
            cursor = (page.get("next_after") or None) if page["items"] else None
        return items
