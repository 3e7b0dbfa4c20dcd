"""Facade fixtures: a tenant (an account and its API key) on the component app, and the real
application with the embedded engine and a movable clock for the lifecycle tests."""

from __future__ import annotations

import base64
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "embedded"))

from conformance import CONFORMANCE, install
from embedded_rig import rtp_range
from harness import LOOPBACK_CIDRS, Bridge
from phone import SipPhone

from bridge.app import PARTS, Parts, build_app
from bridge.config import Config
from bridge.core.clock import OffsetClock
from bridge.media import tones
from bridge.media.wav import write_wav
from bridge.pbx.embedded.backend import EmbeddedBackend


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


@dataclass
class Tenant:
    account_id: str
    key: str

    def basic(self, user: str) -> dict[str, str]:
        token = base64.b64encode(f"{user}:{self.key}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    @property
    def freeclimb(self) -> dict[str, str]:
        return self.basic(self.account_id)

    @property
    def aculab(self) -> dict[str, str]:
        return self.basic(f"cloud1/{self.account_id}")

    @property
    def voipbin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def v1(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_tenant(client: TestClient[Any, Any], admin_key: str, name: str) -> Tenant:
    admin = {"Authorization": f"Bearer {admin_key}"}
    resp = await client.post("/v1/accounts", json={"name": name}, headers=admin)
    assert resp.status == 201, await resp.text()
    account = (await resp.json())["id"]
    resp = await client.post(f"/v1/accounts/{account}/keys", json={}, headers=admin)
    assert resp.status == 201, await resp.text()
    return Tenant(account, (await resp.json())["key"])


@pytest.fixture
async def tenant(bridge: Bridge) -> Tenant:
    return await make_tenant(bridge.client, bridge.admin_key, "facade-tenant")


@dataclass
class Live:
    """The application on the embedded engine, its clock, and a tenant."""

    client: TestClient[Any, Any]
    parts: Parts
    backend: EmbeddedBackend
    clock: OffsetClock
    tenant: Tenant

    @property
    def sip(self) -> tuple[str, int]:
        return self.backend.sip_address

    async def call(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        await self.parts.observer.drain()
        resp = await self.client.request(method, path, headers=headers, **kw)
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, body

    async def ok(
        self, method: str, path: str, headers: dict[str, str], expect: int = 200, **kw: Any
    ) -> Any:
        status, body = await self.call(method, path, headers, **kw)
        assert status == expect, (method, path, status, body)
        return body


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    config = Config(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        webhook_retry_base_seconds=0.05,
        webhook_retry_cap_seconds=0.2,
        webhook_poll_seconds=0.1,
        webhook_timeout_seconds=2.0,
        sip_host="127.0.0.1",
        sip_port=0,
        outbound_allowed_cidrs=LOOPBACK_CIDRS,
    )
    low, high = rtp_range()
    backend = EmbeddedBackend(
        sip_host=config.sip_host,
        sip_port=config.sip_port,
        rtp_port_min=low,
        rtp_port_max=high,
        media_dir=config.media_dir,
        recordings_dir=config.recordings_dir,
    )
    clock = OffsetClock()
    app = build_app(config, backend=backend, clock=clock, run_scheduler=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    parts = app[PARTS]
    assert parts.admin_key is not None
    write_wav(config.media_dir / "wait300.wav", tones.tone_pcm([300.0], 1000, 6000))
    try:
        tenant = await make_tenant(client, parts.admin_key, "live-tenant")
        yield Live(client, parts, backend, clock, tenant)
    finally:
        await client.close()


@pytest.fixture
async def phones() -> AsyncIterator[list[SipPhone]]:
    made: list[SipPhone] = []
    yield made
    for phone in made:
        await phone.stop()
