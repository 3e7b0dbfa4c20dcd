"""What the facade tests act as: a tenant (an account and its API key, in each facade's
authorization form), and the application on the embedded engine with a movable clock."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from bridge.app import Parts
from bridge.core.clock import OffsetClock
from bridge.pbx.embedded.backend import EmbeddedBackend


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
