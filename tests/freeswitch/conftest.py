"""Fixtures for the FreeSWITCH ESL tests: recorded traffic and the replaying fake."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from fake_esl import REFERENCE, FakeEslServer, FakeFactory, Faults, load_transcript

if not REFERENCE.is_dir():  # the recordings are the test data; without them nothing runs
    if os.environ.get("CI"):
        raise RuntimeError(f"recorded ESL traffic not found at {REFERENCE}")
    pytest.skip(f"recorded ESL traffic not found at {REFERENCE}", allow_module_level=True)


@pytest.fixture
async def fake_esl() -> AsyncIterator[FakeFactory]:
    servers: list[FakeEslServer] = []

    async def make(recording: str, faults: Faults | None = None) -> FakeEslServer:
        server = FakeEslServer(load_transcript(recording), faults or Faults())
        servers.append(await server.start())
        return server

    yield make
    for server in servers:
        await server.close()
