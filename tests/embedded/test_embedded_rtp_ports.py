"""RTP ports are held only by calls the engine answers, never by calls still being routed
or refused: a flood of INVITEs that will be refused cannot use up the configured range.

The range is two ports; one is the joined caller's. While the callers to refuse are being
routed (their refusal waits on the SQLite file, which this test holds locked with a real
write transaction), a good call arrives and must be answered once they are refused. With
the range used up by answered calls, a call is refused (503) when it would be answered."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from bridge_testing.embedded import Engine, joined, new_phone
from bridge_testing.phone import SipPhone
from bridge_testing.wait import until

pytestmark = pytest.mark.embedded

LOW = random.randrange(30000, 58000, 2)


@pytest.fixture
def engine_options() -> dict[str, Any]:
    return {"rtp_port_min": LOW, "rtp_port_max": LOW + 2}  # two even ports


@contextmanager
def database_locked(path: Path) -> Iterator[None]:
    """Another writer holds the database: every write of the bridge waits until the end."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


async def test_calls_being_routed_or_refused_hold_no_rtp_port(
    engine: Engine, phones: list[SipPhone], tmp_path: Path
) -> None:
    full = await engine.conference("7101", max_participants=1, play_beep="never")
    good = await engine.conference("7102", play_beep="never")
    first = await new_phone(phones, "first")
    assert await first.call(engine.sip, "7101") == 200
    await joined(engine, full, 1)
    ua = engine.backend.ua
    assert len(ua.ports.in_use) == 1

    refused = [await new_phone(phones, f"flood{i}") for i in range(3)]
    caller = await new_phone(phones, "good")

    def arrived(phones: list[SipPhone]) -> bool:
        """Each phone's INVITE is in the UA (being routed) or was answered already."""
        answered = sum(p.final_status is not None for p in phones)
        return len(ua.calls) - 1 + answered >= len(phones)

    with database_locked(tmp_path / "bridge.db"):
        flood = [asyncio.create_task(p.call(engine.sip, "7101", within=30)) for p in refused]
        await until(lambda: arrived(refused), what="the flood arrived")
        answered = asyncio.create_task(caller.call(engine.sip, "7102", within=30))
        await until(lambda: arrived([*refused, caller]), what="the good call arrived")
        # all still being routed: a refusal at arrival (503, no RTP port) would be in by now
        statuses = [p.final_status for p in [*refused, caller]]
        assert statuses == [None] * len(statuses)
        assert len(ua.ports.in_use) == 1  # nobody being routed holds a port
    assert [await t for t in flood] == [503] * len(refused)  # full
    assert await answered == 200
    await joined(engine, good, 1)
    assert engine.backend.health()["rtp_ports_in_use"] == 2

    # the range used up by answered calls: the next one admitted is refused when answered
    late = await new_phone(phones, "late")
    assert await late.call(engine.sip, "7102") == 503

    async def late_failed() -> bool:
        await engine.settle()
        people = await engine.participants(good)
        return sorted(p["status"] for p in people) == ["failed", "joined"]

    await until(late_failed, what="the late caller failed, the good one joined")
    assert len(ua.ports.in_use) == 2 and len(ua.calls) == 2
