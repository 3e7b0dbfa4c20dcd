"""The real application with the embedded engine on 127.0.0.1, free ports, SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bridge_testing.embedded import Engine, phone_set, running_app, write_tone
from bridge_testing.phone import SipPhone
from bridge_testing.sipp import need_sipp

pytestmark = pytest.mark.embedded


@pytest.fixture
def engine_options() -> dict[str, Any]:
    """Extra EmbeddedBackend keyword arguments; a test module overrides this fixture."""
    return {}


@pytest.fixture
async def engine(tmp_path: Path, engine_options: dict[str, Any]) -> AsyncIterator[Engine]:
    async with running_app(tmp_path, backend=engine_options) as running:
        # a 300 Hz wait tone and a 2 kHz announcement in the media directory
        write_tone(running.config.media_dir, "wait300.wav", 300.0, 1000)
        write_tone(running.config.media_dir, "ann2000.wav", 2000.0, 1500)
        yield Engine.of(running)


@pytest.fixture
def sipp_installed() -> None:
    need_sipp()


@pytest.fixture
async def phones() -> AsyncIterator[list[SipPhone]]:
    async with phone_set() as made:
        yield made
