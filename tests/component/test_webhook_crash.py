"""A SIGKILL between a webhook's send and its mark holds nothing back after a restart.

The bridge runs as a process of its own (tests/crash_server.py). A real receiver records the
POST of a conference's first event and keeps its answer back, so the bridge never learns it
arrived and never marks it; then the test SIGKILLs the bridge. The delivery is still leased
to the dead process. A restart of the same instance releases its leases at once, so the
receiver sees the unmarked delivery again (same delivery id: at-least-once) and the
conference's next event right after it, not when the 60 s lease would have run out. While
the first process lives, a second one under the same name (the same SQLite file, or the
same instance on PostgreSQL) is refused, since it would take over leases a live process
still sends. The second and third bridges run in the test's process (a start costs less).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from crash_server import running
from fakes import FakeBackend
from harness import Bridge, app_config
from receiver import Received, WebhookReceiver
from sqlalchemy import select

from bridge.app import build_app
from bridge.config import Config
from bridge.store import instance
from bridge.store import tables as t

WITHIN = 15.0  # well inside the 60 s lease the fix must not wait for


async def _start(config: Config) -> TestClient[Any, Any]:
    client = TestClient(TestServer(build_app(config, backend=FakeBackend(), run_scheduler=False)))
    await client.start_server()
    return client


async def test_a_restart_resends_the_unmarked_delivery_and_the_stream_goes_on(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = app_config(tmp_path, database_url)  # what crash_server.py runs, in this process
    answer = asyncio.Event()
    hooks = WebhookReceiver(hold=answer)
    await hooks.start()
    try:
        async with running(database_url, tmp_path) as (url, key, pid):
            auth = {"Authorization": f"Bearer {key}"}
            async with aiohttp.ClientSession(headers=auth) as http:
                body = {"name": "crash", "status_callback_url": hooks.url}
                async with http.post(f"{url}/v1/conferences", json=body) as r:
                    assert r.status == 201, await r.text()
                    cid = (await r.json())["id"]
            await hooks.wait_for(lambda got: len(got) == 1)
            # while it lives, nobody else starts under its name (and so takes its leases)
            with monkeypatch.context() as m:
                m.setattr(instance, "NAME_WAIT_SECONDS", 0.2)
                with pytest.raises(SystemExit, match="in use by another bridge process"):
                    await _start(config)
            os.kill(pid, signal.SIGKILL)  # it sent the POST; the 2xx never came
        sent = hooks.received[0]
        assert sent.json["event"]["sequence"] == 1

        answer.set()  # from now on the receiver answers 200 at once
        restarted = await _start(config)  # the same instance: same data_dir, same database
        try:
            patch = {"alias": "after-the-crash"}
            async with restarted.patch(f"/v1/conferences/{cid}", json=patch, headers=auth) as r:
                assert r.status == 200, await r.text()
            got = await hooks.wait_for(lambda got: any_sequence(got, 2), within=WITHIN)
        finally:
            await restarted.close()
        sequences = [r.json["event"]["sequence"] for r in got]
        assert sequences[:3] == [1, 1, 2], sequences  # the repeat comes first, then the rest
        again = got[1]
        assert again.headers["X-Bridge-Delivery"] == sent.headers["X-Bridge-Delivery"]
        assert again.headers["Idempotency-Key"] == sent.headers["Idempotency-Key"]
    finally:
        await hooks.stop()


def any_sequence(got: list[Received], sequence: int) -> bool:
    return any(r.json["event"]["sequence"] == sequence for r in got)


async def test_a_start_leaves_the_leases_of_other_live_instances_alone(
    bridge: Bridge, tmp_path: Path, database_url: str
) -> None:
    """Another instance on the database (PostgreSQL), or another application on the SQLite
    file in this process, releases nothing the running one holds."""
    answer = asyncio.Event()
    hooks = WebhookReceiver(hold=answer)
    await hooks.start()
    try:
        body = {"name": "held", "status_callback_url": hooks.url}
        await bridge.ok("POST", "/v1/conferences", 201, json=body)
        await hooks.wait_for(lambda got: len(got) == 1)  # in flight: leased, not marked
        holder = bridge.parts.services.db.holder
        other = await _start(app_config(tmp_path / "other", database_url))
        try:
            async with bridge.parts.services.db.read() as conn:
                row = (await conn.execute(select(t.deliveries))).mappings().one()
            assert row["status"] == "pending"
            assert row["lease_holder"] == holder and row["lease_until"] is not None
        finally:
            await other.close()
    finally:
        answer.set()
        await hooks.stop()
