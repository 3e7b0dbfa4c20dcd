"""The embedded engine under test, and a phone factory (imported by the tests as `embedded_rig`)."""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

sys.path.insert(0, str(Path(__file__).parent))

from phone import SipPhone

from bridge.app import Parts
from bridge.pbx.embedded.backend import EmbeddedBackend

pytestmark = pytest.mark.embedded


@dataclass
class Engine:
    client: TestClient[Any, Any]
    parts: Parts
    backend: EmbeddedBackend
    admin_key: str
    media_dir: Path

    @property
    def sip(self) -> tuple[str, int]:
        return self.backend.sip_address

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        resp = await self.client.request(method, path, headers=headers, **kw)
        body = await resp.json() if resp.content_type == "application/json" else await resp.read()
        return resp.status, body

    async def ok(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        status, body = await self.call(method, path, **kw)
        assert status == expect, (status, body)
        return body

    async def settle(self) -> None:
        await self.parts.observer.drain()

    async def conference(self, code: str, **fields: Any) -> str:
        body = {"name": f"c{code}", "dial_in": {"access_code": code}, **fields}
        if "dial_in" in fields:
            body["dial_in"] = {"access_code": code, **fields["dial_in"]}
        return str((await self.ok("POST", "/v1/conferences", 201, json=body))["id"])

    async def participants(self, cid: str) -> list[dict[str, Any]]:
        page = await self.ok("GET", f"/v1/conferences/{cid}/participants")
        items: list[dict[str, Any]] = page["items"] if isinstance(page, dict) else page
        return items


def rtp_range() -> tuple[int, int]:
    low = random.randrange(30000, 58000, 2)
    return low, low + 400


async def new_phone(made: list[SipPhone], name: str, tone_hz: float | None = None) -> SipPhone:
    phone = SipPhone(name, tone_hz)
    await phone.start()
    made.append(phone)
    return phone
