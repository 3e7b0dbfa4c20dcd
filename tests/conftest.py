"""Shared fixtures: the real application on a real socket, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).parent))

from fakes import FakeBackend
from receiver import WebhookReceiver

from bridge.app import PARTS, Parts, build_app
from bridge.config import Config
from bridge.core.clock import OffsetClock

POSTGRES_URL = os.environ.get("BRIDGE_TEST_POSTGRES_URL")


def _databases() -> list[Any]:
    params: list[Any] = [pytest.param("sqlite", id="sqlite")]
    params.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))
    return params


async def _reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(params=_databases())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bridge.db'}"
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("BRIDGE_TEST_POSTGRES_URL is not set in CI (.ci/run starts PostgreSQL)")
        pytest.skip("set BRIDGE_TEST_POSTGRES_URL to run the PostgreSQL variants")
    await _reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


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


def test_config(tmp_path: Path, database_url: str) -> Config:
    return Config(
        data_dir=tmp_path / "data",
        database_url=database_url,
        webhook_retry_base_seconds=0.05,
        webhook_retry_cap_seconds=0.2,
        webhook_max_age_seconds=30.0,
        webhook_poll_seconds=0.2,
        webhook_timeout_seconds=2.0,
    )


@pytest.fixture
async def bridge(tmp_path: Path, database_url: str) -> AsyncIterator[Bridge]:
    backend = FakeBackend()
    clock = OffsetClock()
    app = build_app(
        test_config(tmp_path, database_url), backend=backend, clock=clock, run_scheduler=False
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    parts = app[PARTS]
    assert parts.admin_key is not None
    try:
        yield Bridge(client, parts, backend, clock, parts.admin_key)
    finally:
        await client.close()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = WebhookReceiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()
