"""The real application with the embedded engine on 127.0.0.1 (as tests/embedded runs it),
and Debian's chromium driven by Playwright, for the console's browser tests."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).parent.parent / "embedded"))

from embedded_rig import Engine, rtp_range
from harness import LOOPBACK_CIDRS
from phone import SipPhone

from bridge.app import PARTS, build_app
from bridge.config import Config
from bridge.media import tones
from bridge.media.wav import write_wav
from bridge.pbx.embedded.backend import EmbeddedBackend

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("BRIDGE_TEST_CHROMIUM", "/usr/bin/chromium")
# screenshots for a person to look at: kept by CI as an artifact (ignored by git)
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "artifacts" / "console"


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI")
    pytest.skip(what)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    config = Config(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        webhook_retry_base_seconds=0.05,
        webhook_retry_cap_seconds=0.2,
        webhook_poll_seconds=0.1,
        webhook_timeout_seconds=2.0,
        webhook_max_age_seconds=0.5,  # a delivery to a closed port is dead-lettered at once
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
    app = build_app(config, backend=backend, run_scheduler=False)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    parts = app[PARTS]
    assert parts.admin_key is not None
    # a 2 kHz announcement in the media directory
    write_wav(config.media_dir / "ann2000.wav", tones.tone_pcm([2000.0], 1500, 6000))
    try:
        yield Engine(client, parts, backend, parts.admin_key, config.media_dir)
    finally:
        await client.close()


@pytest.fixture
async def phones() -> AsyncIterator[list[SipPhone]]:
    made: list[SipPhone] = []
    yield made
    for phone in made:
        await phone.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("playwright (PyPI: pip install playwright)")
    if shutil.which(CHROMIUM) is None:
        _missing("chromium (Debian: apt-get install chromium)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
