"""Fixtures for the FreeSWITCH ESL tests: recorded traffic and the replaying fake."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from fake_esl import REFERENCE, FakeEslServer, Faults, load_transcript

RECORDINGS = [
    "01-bad-auth",
    "02-command-before-auth",
    "10-events-plain-ALL",
    "11-events-plain-conference-maintenance",
    "12-events-json-conference-maintenance",
    "13-events-xml-conference-maintenance",
    "20-control",
    "30-outbound-socket",
]

if not REFERENCE.is_dir():  # the recordings are the test data; without them nothing runs
    if os.environ.get("CI"):
        raise RuntimeError(f"recorded ESL traffic not found at {REFERENCE}")
    pytest.skip(f"recorded ESL traffic not found at {REFERENCE}", allow_module_level=True)

FakeFactory = Callable[..., Coroutine[Any, Any, FakeEslServer]]


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
