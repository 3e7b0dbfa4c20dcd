"""Shared fixtures: the real application on a real socket, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from harness import Bridge, app_config, reset_postgres, serve_bridge
from receiver import WebhookReceiver

pytest_plugins = ["secret_guard", "bridge_testing.twins"]

POSTGRES_URL = os.environ.get("BRIDGE_TEST_POSTGRES_URL")


def _databases() -> list[Any]:
    params: list[Any] = [pytest.param("sqlite", id="sqlite")]
    params.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))
    return params


@pytest.fixture(params=_databases())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bridge.db'}"
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("BRIDGE_TEST_POSTGRES_URL is not set in CI (.ci/run starts PostgreSQL)")
        pytest.skip(
            "set BRIDGE_TEST_POSTGRES_URL to run the PostgreSQL variants (install: apt-get"
            " install postgresql; as root `bash .ci/postgres.sh` prints the URL)"
        )
    await reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
async def bridge(tmp_path: Path, database_url: str) -> AsyncIterator[Bridge]:
    async with serve_bridge(app_config(tmp_path, database_url)) as running:
        assert running.admin_key, "a new bridge makes its admin key"
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = WebhookReceiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()
