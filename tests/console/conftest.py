"""The real application with the embedded engine on 127.0.0.1 (as tests/embedded runs it),
and Debian's chromium driven by Playwright, for the console's browser tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bridge_testing.embedded import Engine, phone_set, running_app, write_tone
from bridge_testing.phone import SipPhone

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
    # a delivery to a closed port is dead-lettered at once
    options = {"webhook_max_age_seconds": 0.5}
    async with running_app(tmp_path, config=options, host="127.0.0.1") as running:
        write_tone(running.config.media_dir, "ann2000.wav", 2000.0, 1500)  # an announcement
        yield Engine.of(running)


@pytest.fixture
async def phones() -> AsyncIterator[list[SipPhone]]:
    async with phone_set() as made:
        yield made


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
