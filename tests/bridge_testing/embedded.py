"""The real application on the embedded engine (127.0.0.1, free ports, SQLite), what the
embedded, console and facade tests drive it with, and the waits they share."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from harness import LOOPBACK_CIDRS

from bridge.app import Parts
from bridge.config import Config
from bridge.core.clock import Clock
from bridge.media import tones
from bridge.media.wav import write_wav
from bridge.pbx.embedded.backend import EmbeddedBackend
from bridge.protocols.digest import ha1
from bridge_testing import heard
from bridge_testing.app_client import AdminApi, serve_app
from bridge_testing.phone import SipPhone
from bridge_testing.wait import until

HEARD, SILENT = heard.HEARD, heard.SILENT
JOIN_TIMEOUT = 10.0

# three SIP users for the tests where phones must authenticate
REALM = "bridge.test"
SECURED_USERS = {
    "alice": "alice-pw",
    "bob": "md5:" + ha1("bob", REALM, "bob-pw"),  # stored as H(A1), no password on disk
    "sipp": "sipp-pw",
}
SECURED = {"sip_users": SECURED_USERS, "sip_realm": REALM}  # EmbeddedBackend options


@dataclass
class Running:
    """What `running_app` started: the client on a real socket and the composed parts."""

    client: TestClient[Any, Any]
    parts: Parts
    backend: EmbeddedBackend
    config: Config
    admin_key: str


@asynccontextmanager
async def running_app(
    tmp_path: Path,
    *,
    config: Mapping[str, Any] | None = None,
    backend: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    host: str | None = None,
) -> AsyncIterator[Running]:
    """Build and serve the application on the embedded engine; `config` and `backend` add
    Config fields and EmbeddedBackend keyword arguments. Closed on exit."""
    cfg = Config(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        webhook_retry_base_seconds=0.05,
        webhook_retry_cap_seconds=0.2,
        webhook_poll_seconds=0.1,
        webhook_timeout_seconds=2.0,
        sip_host="127.0.0.1",
        sip_port=0,
        outbound_allowed_cidrs=LOOPBACK_CIDRS,  # the test's webhook receiver
        **(config or {}),
    )
    low, high = rtp_range()
    engine = EmbeddedBackend(
        sip_host=cfg.sip_host,
        sip_port=cfg.sip_port,
        media_dir=cfg.media_dir,
        recordings_dir=cfg.recordings_dir,
        **{"rtp_port_min": low, "rtp_port_max": high, **(backend or {})},  # a test may narrow it
    )
    async with serve_app(cfg, host=host, backend=engine, clock=clock, run_scheduler=False) as app:
        yield Running(app.client, app.parts, engine, cfg, app.admin_key)


def write_tone(media_dir: Path, name: str, hz: float, ms: int) -> None:
    """A tone WAV in the media directory, for wait music and announcements."""
    write_wav(media_dir / name, tones.tone_pcm([hz], ms, 6000))


@dataclass
class Engine(AdminApi):
    client: TestClient[Any, Any]
    parts: Parts
    backend: EmbeddedBackend
    admin_key: str
    media_dir: Path

    @classmethod
    def of(cls, running: Running) -> Engine:
        return cls(
            running.client,
            running.parts,
            running.backend,
            running.admin_key,
            running.config.media_dir,
        )

    @property
    def sip(self) -> tuple[str, int]:
        return self.backend.sip_address

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

    async def participant(self, cid: str, pid: str) -> dict[str, Any]:
        await self.settle()
        body: dict[str, Any] = await self.ok("GET", f"/v1/conferences/{cid}/participants/{pid}")
        return body


async def joined(engine: Engine, cid: str, count: int) -> list[dict[str, Any]]:
    """Wait until `count` participants of `cid` are joined; returns all its participants."""

    async def enough() -> bool:
        await engine.settle()
        people = await engine.participants(cid)
        return sum(1 for p in people if p["status"] == "joined") >= count

    await until(enough, JOIN_TIMEOUT, f"{count} participants joined")
    return await engine.participants(cid)


async def until_status(engine: Engine, cid: str, pid: str, *wanted: str) -> dict[str, Any]:
    """Wait until participant `pid` has one of the `wanted` statuses; returns it."""

    async def reached() -> dict[str, Any] | None:
        p = await engine.participant(cid, pid)
        return p if p["status"] in wanted else None

    return await until(reached, JOIN_TIMEOUT, f"participant {pid} {'/'.join(wanted)}")


async def until_flag(
    engine: Engine, cid: str, pid: str, flag: str, value: object
) -> dict[str, Any]:
    """Wait until participant `pid` has `flag` == `value`; returns it."""

    async def reached() -> dict[str, Any] | None:
        p = await engine.participant(cid, pid)
        return p if p[flag] == value else None

    return await until(reached, JOIN_TIMEOUT, f"participant {pid} {flag}={value!r}")


def rtp_range() -> tuple[int, int]:
    low = random.randrange(30000, 58000, 2)
    return low, low + 400


async def new_phone(made: list[SipPhone], name: str, tone_hz: float | None = None) -> SipPhone:
    return await heard.new_phone(name, tone_hz, into=made)


def phone_set() -> AbstractAsyncContextManager[list[SipPhone]]:
    """The list `new_phone` adds to; every phone in it is stopped on exit (the engine
    ends with the test, so no hang-up)."""
    return heard.phone_set(hang_up=False)
