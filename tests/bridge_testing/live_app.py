"""The real application with the FreeSWITCH engine on the session's real FreeSWITCH.

``start_live`` builds the app from a ``Config`` the way an admin would set it
(``engine = "freeswitch"``, ``esl_*``), serves it with a real aiohttp server and waits
until the engine is connected and resynced. Dial-outs leave through ``loopback/``:
``park`` is an extension of the tree's default context that answers and parks, so a
dial-out becomes a real conference member.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aiohttp.test_utils import TestClient

from bridge.app import Parts
from bridge.config import Config
from bridge.pbx.freeswitch.backend import FreeSwitchBackend
from bridge_testing.app_client import api_call, serve_app
from bridge_testing.real_freeswitch import FreeSwitchProcess
from bridge_testing.wait import Not, until


@dataclass
class Live:
    client: TestClient[Any, Any]
    parts: Parts
    backend: FreeSwitchBackend
    fs: FreeSwitchProcess
    key: str
    tmp: Path
    config: Config

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return await api_call(self.client, self.key, method, path, json=body)

    async def ok(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, data = await self.call(method, path, body)
        assert status == expect, (method, path, status, data)
        return data

    async def participant(self, conf_id: str, pid: str) -> dict[str, Any]:
        return await self.ok("GET", f"/v1/conferences/{conf_id}/participants/{pid}")  # type: ignore[no-any-return]

    async def participants(self, conf_id: str) -> list[dict[str, Any]]:
        page = await self.ok("GET", f"/v1/conferences/{conf_id}/participants")
        return cast(list[dict[str, Any]], page["items"])

    async def events(self, conf_id: str) -> list[dict[str, Any]]:
        page = await self.ok("GET", f"/v1/conferences/{conf_id}/events?limit=200")
        return cast(list[dict[str, Any]], page["items"])

    async def wait_participant(
        self, conf_id: str, pid: str, status: str, within: float = 20.0, **fields: Any
    ) -> dict[str, Any]:
        async def matching() -> dict[str, Any] | Not:
            p = await self.participant(conf_id, pid)
            ok = p["status"] == status and all(p.get(k) == v for k, v in fields.items())
            return p if ok else Not(p)

        return await until(matching, within, f"participant {pid} {status} {fields}")

    async def wait_event(
        self, conf_id: str, kind: str, within: float = 20.0, **data: Any
    ) -> dict[str, Any]:
        async def matching() -> dict[str, Any] | None:
            for event in await self.events(conf_id):
                if event["type"] == kind and all(
                    (event.get("data") or {}).get(k) == v for k, v in data.items()
                ):
                    return event
            return None

        return await until(matching, within, f"event {kind} {data}")

    async def wait_conference(self, conf_id: str, status: str, within: float = 20.0) -> None:
        async def reached() -> bool:
            return bool((await self.ok("GET", f"/v1/conferences/{conf_id}"))["status"] == status)

        await until(reached, within, f"conference {status}")

    async def wait_ready(self, within: float = 20.0) -> None:
        await asyncio.wait_for(self.backend.ready.wait(), within)


@contextlib.asynccontextmanager
async def start_live(
    fs: FreeSwitchProcess,
    tmp: Path,
    *,
    esl_port: int | None = None,
    esl_media_dir: str | None = None,
    **settings: Any,
) -> AsyncIterator[Live]:
    """The app on ``fs``; ``esl_port`` points the ESL link elsewhere (a cuttable proxy),
    ``esl_media_dir`` is the setting (default: this FreeSWITCH's sounds directory);
    ``settings`` are further Config fields."""
    config = Config(
        engine="freeswitch",
        data_dir=tmp / "data",
        database_url=f"sqlite:///{tmp / 'bridge.db'}",
        scheduler_interval_seconds=0.2,
        webhook_poll_seconds=0.2,
        esl_host="127.0.0.1",
        esl_port=esl_port or fs.ports.esl,
        esl_password=fs.password,
        esl_outbound_port=fs.ports.outbound,
        esl_dial_prefix="loopback/",
        esl_media_dir=str(fs.sounds) if esl_media_dir is None else esl_media_dir,
        **settings,
    )
    async with serve_app(config) as app:
        backend = app.parts.services.backend
        assert isinstance(backend, FreeSwitchBackend)
        live = Live(app.client, app.parts, backend, fs, app.admin_key, tmp, config)
        await live.wait_ready()
        yield live
