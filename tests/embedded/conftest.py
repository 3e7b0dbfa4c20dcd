"""The real application with the embedded engine on 127.0.0.1, free ports, SQLite."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).parent))

from embedded_rig import Engine, rtp_range
from harness import LOOPBACK_CIDRS
from phone import SipPhone
from sipp import need_sipp

from bridge.app import PARTS, build_app
from bridge.config import Config
from bridge.media import tones
from bridge.media.wav import write_wav
from bridge.pbx.embedded.backend import EmbeddedBackend

pytestmark = pytest.mark.embedded


@pytest.fixture
def engine_options() -> dict[str, Any]:
    """Extra EmbeddedBackend keyword arguments; a test module overrides this fixture."""
    return {}


@pytest.fixture
async def engine(tmp_path: Path, engine_options: dict[str, Any]) -> AsyncIterator[Engine]:
    config = Config(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        webhook_retry_base_seconds=0.05,
        webhook_retry_cap_seconds=0.2,
        webhook_poll_seconds=0.1,
        webhook_timeout_seconds=2.0,
        sip_host="127.0.0.1",
        sip_port=0,
        outbound_allowed_cidrs=LOOPBACK_CIDRS,  # the test's webhook receiver
    )
    low, high = rtp_range()
    backend = EmbeddedBackend(
        sip_host=config.sip_host,
        sip_port=config.sip_port,
        rtp_port_min=low,
        rtp_port_max=high,
        media_dir=config.media_dir,
        recordings_dir=config.recordings_dir,
        **engine_options,
    )
    app = build_app(config, backend=backend, run_scheduler=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    parts = app[PARTS]
    assert parts.admin_key is not None
    # a 300 Hz wait tone and a 2 kHz announcement in the media directory
    write_wav(config.media_dir / "wait300.wav", tones.tone_pcm([300.0], 1000, 6000))
    write_wav(config.media_dir / "ann2000.wav", tones.tone_pcm([2000.0], 1500, 6000))
    try:
        yield Engine(client, parts, backend, parts.admin_key, config.media_dir)
    finally:
        await client.close()


@pytest.fixture
def sipp_installed() -> None:
    need_sipp()


@pytest.fixture
async def phones() -> AsyncIterator[list[SipPhone]]:
    made: list[SipPhone] = []
    yield made
    for phone in made:
        await phone.stop()
