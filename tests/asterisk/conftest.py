"""Fixtures for the real-Asterisk tests (marker ``asterisk``).

``asterisk`` starts one Asterisk per test session from the root provisioned by
.ci/asterisk-root.sh, loading our dialplan/ files. When the root is missing
the tests are skipped locally; with ``CI`` set that is a failure instead:
in CI a missing Asterisk is a failure, not a skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from bridge_testing.ami_test_client import AmiTestClient
from bridge_testing.asterisk_pbx import AMI_USER, AsteriskProcess
from bridge_testing.real_pbx import shared_asterisk_pbx


@pytest.fixture(scope="session")
def asterisk() -> Iterator[AsteriskProcess]:
    with shared_asterisk_pbx() as pbx:  # shared with tests/adoption in one run
        yield pbx


@pytest.fixture
async def ami_client(asterisk: AsteriskProcess) -> AsyncIterator[AmiTestClient]:
    client = await AmiTestClient.connect("127.0.0.1", asterisk.ports.ami, AMI_USER, asterisk.secret)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def live(
    asterisk: AsteriskProcess, ami_client: AmiTestClient, receiver: Any, tmp_path: Path
) -> AsyncIterator[Any]:
    """The real app (build_app) with an AsteriskBackend on the session's Asterisk."""
    from live_bridge import running_bridge

    async with running_bridge(asterisk, ami_client, receiver, tmp_path) as live:
        yield live


@pytest.fixture
async def proxied(
    asterisk: AsteriskProcess,
    ami_client: AmiTestClient,
    receiver: Any,
    tmp_path: Path,
) -> AsyncIterator[tuple[Any, Any]]:
    """Like `live`, but the bridge reaches AMI through a proxy the test can cut."""
    from bridge_testing.tcp_proxy import CuttableProxy
    from live_bridge import running_bridge

    proxy = CuttableProxy("127.0.0.1", asterisk.ports.ami)
    await proxy.start()
    try:
        async with running_bridge(
            asterisk, ami_client, receiver, tmp_path, ami_port=proxy.port
        ) as live:
            yield live, proxy
    finally:
        await proxy.close()
