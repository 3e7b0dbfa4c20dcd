"""Facade fixtures: a tenant (an account and its API key) on the component app, and the real
application with the embedded engine and a movable clock for the lifecycle tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from bridge_testing.embedded import phone_set, running_app, write_tone
from bridge_testing.facades import Live, Tenant, make_tenant
from bridge_testing.phone import SipPhone
from conformance import CONFORMANCE, install
from harness import Bridge

from bridge.core.clock import OffsetClock


@pytest.fixture(autouse=True)
def documented_replies() -> Iterator[None]:
    """Every facade response of these suites must match what /openapi.json documents (a
    MonkeyPatch of its own: a test's monkeypatch.undo() leaves it in place)."""
    with pytest.MonkeyPatch.context() as patch:
        install(patch)
        yield


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CONFORMANCE.checked:
        terminalreporter.write_line(
            f"facade conformance: {sum(CONFORMANCE.checked.values())} responses of "
            f"{len(CONFORMANCE.checked)}/{len(CONFORMANCE.ops)} facade operations matched "
            "their documented schema"
        )
        unseen = sorted(
            {d.operation["operationId"] for d in CONFORMANCE.ops} - set(CONFORMANCE.checked)
        )
        if unseen:
            terminalreporter.write_line(f"facade operations no response was seen of: {unseen}")


@pytest.fixture
async def tenant(bridge: Bridge) -> Tenant:
    return await make_tenant(bridge.client, bridge.admin_key, "facade-tenant")


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    clock = OffsetClock()
    async with running_app(tmp_path, clock=clock) as running:
        write_tone(running.config.media_dir, "wait300.wav", 300.0, 1000)
        tenant = await make_tenant(running.client, running.admin_key, "live-tenant")
        yield Live(running.client, running.parts, running.backend, clock, tenant)


@pytest.fixture
async def phones() -> AsyncIterator[list[SipPhone]]:
    async with phone_set() as made:
        yield made
