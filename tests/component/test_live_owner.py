"""The in-memory owner of a live conference and the group commit under it (services/live.py,
services/commit.py): decisions batched into few transactions, a failed commit changes nothing
and is reported as 503, and a copy made stale by another process is detected and redone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fakes import FakeBackend
from harness import Bridge, app_config
from sqlalchemy import select, text

from bridge.app import PARTS, build_app
from bridge.core import engine as e
from bridge.core.clock import OffsetClock
from bridge.store import tables as t


async def _conference(bridge: Bridge, **body: Any) -> str:
    conf = await bridge.ok("POST", "/v1/conferences", 201, json={"name": "live", **body})
    return str(conf["id"])


async def _joined(bridge: Bridge, cid: str) -> str:
    p = await bridge.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": "1"})
    await bridge.settle()
    got = await bridge.ok("GET", f"/v1/conferences/{cid}/participants/{p['id']}")
    assert got["status"] == "joined"
    return str(p["id"])


async def test_concurrent_decisions_share_transactions(bridge: Bridge) -> None:
    cids = [await _conference(bridge) for _ in range(40)]
    committer = bridge.parts.services.owners.committer
    before_batches, before_changes = committer.batches, committer.committed
    await asyncio.gather(
        *(bridge.ok("PATCH", f"/v1/conferences/{cid}", json={"alias": f"a-{cid}"}) for cid in cids)
    )
    changes = committer.committed - before_changes
    batches = committer.batches - before_batches
    assert changes == len(cids)
    assert batches < changes, f"{changes} changes took {batches} transactions"
    async with bridge.parts.services.db.read() as conn:
        rows = await conn.execute(select(t.conferences.c.id, t.conferences.c.alias))
        aliases = {r.id: r.alias for r in rows}
    assert all(aliases[cid] == f"a-{cid}" for cid in cids)


async def test_live_reads_come_from_the_owner_and_match_the_store(bridge: Bridge) -> None:
    cid = await _conference(bridge)
    pid = await _joined(bridge, cid)
    owners = bridge.parts.services.owners
    assert owners.peek(cid) is not None, "a conference with someone in it has an owner"
    await bridge.ok("PATCH", f"/v1/conferences/{cid}/participants/{pid}", json={"muted": True})
    listed = await bridge.ok("GET", f"/v1/conferences/{cid}/participants?status=joined")
    assert [p["id"] for p in listed["items"]] == [pid] and listed["items"][0]["muted"] is True
    async with bridge.parts.services.db.read() as conn:
        muted = (
            await conn.execute(select(t.participants.c.muted).where(t.participants.c.id == pid))
        ).scalar_one()
    assert muted is True
    await bridge.ok("DELETE", f"/v1/conferences/{cid}/participants/{pid}")
    await bridge.settle()
    assert owners.peek(cid) is not None, "a recently used conference stays in memory"
    owners.max_idle = 2  # beyond the bound, the least recently used idle ones go
    others = [await _conference(bridge) for _ in range(2)]
    assert owners.peek(cid) is None and all(owners.peek(o) for o in others)
    got = await bridge.ok("GET", f"/v1/conferences/{cid}/participants/{pid}")
    assert got["status"] == "left", "once forgotten, reads come from the store"


async def test_a_commit_the_store_refuses_changes_nothing(
    bridge: Bridge, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the fault is an SQLite trigger")
    cid = await _conference(bridge)
    pid = await _joined(bridge, cid)
    db = bridge.parts.services.db
    # a real fault of the real store: it refuses the row update inside the transaction
    async with db.begin() as conn:
        await conn.execute(
            text(
                "CREATE TRIGGER refuse_mute BEFORE UPDATE OF muted ON participants "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        )
    sent_before = len(bridge.backend.of(e.SetMute))
    status, body = await bridge.call(
        "PATCH", f"/v1/conferences/{cid}/participants/{pid}", json={"muted": True}
    )
    assert status == 503 and body["error"]["code"] == "store_unavailable"
    assert len(bridge.backend.of(e.SetMute)) == sent_before, "no command for an unstored change"
    got = await bridge.ok("GET", f"/v1/conferences/{cid}/participants/{pid}")
    assert got["muted"] is False
    async with db.begin() as conn:
        await conn.execute(text("DROP TRIGGER refuse_mute"))
    got = await bridge.ok(
        "PATCH", f"/v1/conferences/{cid}/participants/{pid}", json={"muted": True}
    )
    assert got["muted"] is True and len(bridge.backend.of(e.SetMute)) == sent_before + 1
    events = await bridge.ok("GET", f"/v1/conferences/{cid}/events")
    seqs = [ev["sequence"] for ev in events["items"]]
    assert seqs == list(range(1, len(seqs) + 1)), "no gap or duplicate in the sequence"


@pytest.fixture
async def second(tmp_path: Path, database_url: str) -> AsyncIterator[Bridge]:
    """A second bridge on the same database: what a second process sees and does."""
    backend = FakeBackend()
    app = build_app(
        app_config(tmp_path / "second", database_url), backend=backend, run_scheduler=False
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    parts = app[PARTS]
    try:
        yield Bridge(client, parts, backend, OffsetClock(), "")
    finally:
        await client.close()


async def test_a_copy_made_stale_by_another_process_is_decided_again(
    bridge: Bridge, second: Bridge
) -> None:
    cid = await _conference(bridge)
    pid = await _joined(bridge, cid)  # the first process holds the conference in memory
    second.admin_key = bridge.admin_key
    await second.ok("PATCH", f"/v1/conferences/{cid}/participants/{pid}", json={"muted": True})
    got = await bridge.ok("PATCH", f"/v1/conferences/{cid}/participants/{pid}", json={"deaf": True})
    assert got["deaf"] is True and got["muted"] is True, "the second process's change is kept"
    async with bridge.parts.services.db.read() as conn:
        row = (
            await conn.execute(
                select(t.participants.c.muted, t.participants.c.deaf).where(
                    t.participants.c.id == pid
                )
            )
        ).one()
        seqs = [
            r[0]
            for r in await conn.execute(
                select(t.events.c.sequence)
                .where(t.events.c.conference_id == cid)
                .order_by(t.events.c.sequence)
            )
        ]
    assert (row.muted, row.deaf) == (True, True)
    assert seqs == list(range(1, len(seqs) + 1))
