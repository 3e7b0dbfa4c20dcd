"""Verified API keys are served from memory (services/keycache.py): no database read on a hit,
a revoke in this process takes effect at once, one made by another process within the TTL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from bridge_testing.wait import until
from harness import Bridge, app_config, serve_bridge
from sqlalchemy import event

from bridge.services.keycache import KeyCache, Principal


@contextmanager
def counted_statements(bridge: Bridge) -> Iterator[list[str]]:
    """Every SQL statement the app's real engine runs meanwhile."""
    seen: list[str] = []
    engine = bridge.parts.services.db.engine.sync_engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_a_verified_key_is_not_looked_up_again(bridge: Bridge) -> None:
    await bridge.ok("GET", "/v1/account")  # verifies and caches the admin key
    with counted_statements(bridge) as seen:
        await bridge.ok("GET", "/v1/account")
    assert not any("api_keys" in s for s in seen), seen


async def test_a_wrong_secret_never_hits_the_cache(bridge: Bridge) -> None:
    await bridge.ok("GET", "/v1/account")
    wrong = bridge.admin_key[:-1] + ("x" if bridge.admin_key[-1] != "x" else "y")
    status, body = await bridge.call("GET", "/v1/account", key=wrong)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"


async def test_revoking_takes_effect_at_once(bridge: Bridge) -> None:
    account = await bridge.ok("GET", "/v1/account")
    key = await bridge.ok("POST", f"/v1/accounts/{account['id']}/keys", 201, json={})
    await bridge.ok("GET", "/v1/account", key=key["key"])  # cached now
    await bridge.ok("DELETE", f"/v1/accounts/{account['id']}/keys/{key['id']}")
    status, body = await bridge.call("GET", "/v1/account", key=key["key"])
    assert status == 401 and body["error"]["code"] == "api_key_revoked"


@pytest.fixture
async def other(tmp_path: Path, database_url: str) -> AsyncIterator[Bridge]:
    """Another bridge process on the same database, with a short key TTL."""
    config = replace(app_config(tmp_path / "other", database_url), auth_cache_seconds=0.3)
    async with serve_bridge(config) as running:
        yield running


async def test_a_revoke_elsewhere_takes_effect_within_the_ttl(
    bridge: Bridge, other: Bridge
) -> None:
    account = await bridge.ok("GET", "/v1/account")
    key = await bridge.ok("POST", f"/v1/accounts/{account['id']}/keys", 201, json={})
    await other.ok("GET", "/v1/account", key=key["key"])  # the other process caches it
    await bridge.ok("DELETE", f"/v1/accounts/{account['id']}/keys/{key['id']}")

    async def refused() -> Any:
        status, body = await other.call("GET", "/v1/account", key=key["key"])
        return body if status == 401 else None

    body = await until(refused, 5, "the other process refusing the revoked key")
    assert body["error"]["code"] == "api_key_revoked"


def test_entries_expire_and_stay_bounded() -> None:
    now = [0.0]
    cache = KeyCache(1.0, max_entries=2, clock=lambda: now[0])
    p = Principal("ac_1", False, "ak_1")
    cache.put("token-a", p)
    assert cache.get("token-a") == p
    now[0] = 1.0
    assert cache.get("token-a") is None
    for token in ("b", "c", "d"):
        cache.put(token, p)
    assert cache.get("b") is None and cache.get("d") == p
    cache.forget_key("ak_1")
    assert cache.get("d") is None
