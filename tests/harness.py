"""The running application as a test sees it (imported by tests as `harness`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from bridge_testing.app_client import AdminApi, serve_app
from fakes import FakeBackend

from bridge.app import Parts
from bridge.config import Config
from bridge.core.clock import OffsetClock
from bridge.core.errors import CATALOGUE

# the tests' webhook receivers are on loopback, which the outbound policy refuses by default
LOOPBACK_CIDRS = ("127.0.0.1/32", "::1/128")


def app_config(tmp_path: Path, database_url: str) -> Config:
    """The configuration the component tests run the app with: fast retries, loopback allowed."""
    return Config(
        data_dir=tmp_path / "data",
        database_url=database_url,
        webhook_retry_base_seconds=0.05,
        webhook_retry_cap_seconds=0.2,
        webhook_max_age_seconds=30.0,
        webhook_poll_seconds=0.2,
        webhook_timeout_seconds=2.0,
        outbound_allowed_cidrs=LOOPBACK_CIDRS,
    )


async def reset_postgres(url: str) -> None:
    """An empty public schema: the PostgreSQL variants and benchmarks start from nothing."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def check_error_code(status: int, body: Any) -> None:
    """Every error the API answers is in the catalogue, with the catalogue's status."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and set(err) == {"code", "message", "details"}:
        entry = CATALOGUE.get(err["code"])
        assert entry is not None, f"{err['code']!r} is not in bridge.core.errors.CATALOGUE"
        assert err["code"] == "http_error" or entry.status == status, (status, err)


@dataclass
class Bridge(AdminApi):
    """The running application as a test sees it."""

    client: TestClient[Any, Any]
    parts: Parts
    backend: FakeBackend
    clock: OffsetClock
    admin_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    async def call(
        self, method: str, path: str, *, key: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        status, body = await super().call(method, path, key=key, **kw)
        check_error_code(status, body)
        return status, body

    async def settle(self) -> None:
        """Let every engine observation reported so far be applied."""
        await self.parts.observer.drain()


@asynccontextmanager
async def serve_bridge(config: Config) -> AsyncIterator[Bridge]:
    """The app on a FakeBackend, served: the `bridge` fixture, or another instance of it on
    the same database (whose admin key is "": the first instance made the key)."""
    backend, clock = FakeBackend(), OffsetClock()
    async with serve_app(config, backend=backend, clock=clock, run_scheduler=False) as app:
        yield Bridge(app.client, app.parts, backend, clock, app.admin_key)
