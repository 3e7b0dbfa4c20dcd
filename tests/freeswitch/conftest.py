"""Fixtures for the FreeSWITCH tests.

Recorded traffic (tests/data/freeswitch) and the replaying fake (fake_esl.py) for the
codec tests and the faults a real FreeSWITCH cannot be made to produce;
a real FreeSWITCH per session (real_freeswitch.py, marker ``freeswitch_real``) for the
tests that must run against the engine itself. A missing real FreeSWITCH is a skip
with the instruction locally, and a failure when CI is set (as tests/asterisk does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from bridge_testing.engine_fixtures import EslRig, esl_rig
from bridge_testing.fake_esl import FakeEslServer, FakeFactory, Faults, load_transcript
from bridge_testing.live_app import Live, start_live
from bridge_testing.real_freeswitch import FreeSwitchProcess
from bridge_testing.real_pbx import running_freeswitch
from bridge_testing.tcp_proxy import CuttableProxy


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


@pytest.fixture
async def rig() -> AsyncIterator[EslRig]:
    """FreeSwitchBackend on a FakeFreeSwitch (engine_fixtures.esl_rig), ready."""
    async with esl_rig() as connected:
        yield connected


@pytest.fixture
async def proxy(freeswitch: FreeSwitchProcess) -> AsyncIterator[CuttableProxy]:
    """A cuttable proxy in front of the session FreeSWITCH's event socket."""
    p = await CuttableProxy("127.0.0.1", freeswitch.ports.esl).start()
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def cut_live(
    freeswitch: FreeSwitchProcess, tmp_path: Path, proxy: CuttableProxy
) -> AsyncIterator[Live]:
    """The app on the real FreeSWITCH, its ESL link through ``proxy``."""
    async with start_live(freeswitch, tmp_path, esl_port=proxy.port) as app:
        yield app


@pytest.fixture(scope="session")
def freeswitch() -> Iterator[FreeSwitchProcess]:
    """One real FreeSWITCH for the session, in its own tree, with freeswitch-conf/."""
    with running_freeswitch() as fs:
        yield fs
