"""Start-up that fails halfway tears down what started: with the SIP port taken, the
embedded engine cannot start, and the database, the observer, the webhook dispatcher and the
group commit it came after are all stopped again (no task left running, no connection)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

import pytest
from aiohttp import web
from harness import app_config

from bridge.app import PARTS, build_app


async def test_a_taken_sip_port_leaves_nothing_running(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        config = dataclasses.replace(
            app_config(tmp_path, f"sqlite:///{tmp_path / 'bridge.db'}"),
            engine="embedded",
            sip_host="127.0.0.1",
            sip_port=port,
            rtp_port_min=41000,
            rtp_port_max=41099,
        )
        before = asyncio.all_tasks()
        app = build_app(config)
        parts = app[PARTS]
        runner = web.AppRunner(app)
        with pytest.raises(OSError):
            await runner.setup()
        assert parts.observer._task is not None  # it had started before the engine failed
        await runner.cleanup()
    left = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert left == set(), left
    db = parts.services.db
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert parts.observer._task.done()
