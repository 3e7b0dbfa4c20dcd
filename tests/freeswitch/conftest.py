"""Fixtures for the FreeSWITCH tests.

Recorded traffic (tests/data/freeswitch) and the replaying fake (fake_esl.py) for the
codec tests and the faults a real FreeSWITCH cannot be made to produce;
a real FreeSWITCH per session (real_freeswitch.py, marker ``freeswitch_real``) for the
tests that must run against the engine itself. A missing real FreeSWITCH is a skip
with the instruction locally, and a failure when CI is set (as tests/asterisk does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from bridge_testing.fake_esl import FakeEslServer, FakeFactory, Faults, load_transcript
from bridge_testing.real_freeswitch import FreeSwitchProcess
from bridge_testing.real_pbx import running_freeswitch


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


@pytest.fixture(scope="session")
def freeswitch() -> Iterator[FreeSwitchProcess]:
    """One real FreeSWITCH for the session, in its own tree, with freeswitch-conf/."""
    with running_freeswitch() as fs:
        yield fs
