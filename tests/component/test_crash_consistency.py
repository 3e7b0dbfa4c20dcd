"""Nothing is lost or half-written on SIGKILL: a change, its events and its deliveries are
committed together or not at all, and every write the API acknowledged is in the store.

The bridge runs as a process of its own (tests/crash_server.py); clients drive a burst of
dial-outs (each an API write plus the engine's observations) and conference updates into many
conferences at once, and the process is killed in the middle of it. The store is then read
directly.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from crash_server import running
from sqlalchemy import select
from sqlalchemy.engine import Connection

from bridge.store import tables as t
from bridge.store.db import Database

CONFERENCES = 12
KILL_AFTER_ACKS = 150  # acknowledged writes before the kill, so the burst is well under way


@dataclass
class Acked:
    alias: dict[str, int] = field(default_factory=dict)  # conference -> last acked alias no.
    participants: set[str] = field(default_factory=set)
    count: int = 0
    enough: asyncio.Event = field(default_factory=asyncio.Event)

    def one(self) -> None:
        self.count += 1
        if self.count >= KILL_AFTER_ACKS:
            self.enough.set()


async def _client(
    session: aiohttp.ClientSession, url: str, cid: str, acked: Acked, stop: asyncio.Event
) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        try:
            async with session.patch(f"{url}/v1/conferences/{cid}", json={"alias": f"a{n}"}) as r:
                if r.status == 200:
                    acked.alias[cid] = n
                    acked.one()
            async with session.post(
                f"{url}/v1/conferences/{cid}/participants", json={"to": str(n)}
            ) as r:
                if r.status == 201:
                    acked.participants.add((await r.json())["id"])
                    acked.one()
        except (TimeoutError, aiohttp.ClientError):
            return  # the server is gone


def _check(conn: Connection, acked: Acked, cids: list[str]) -> int:
    events = conn.execute(select(t.events)).mappings().all()
    deliveries = conn.execute(select(t.deliveries)).mappings().all()
    confs = {r.id: r for r in conn.execute(select(t.conferences))}
    people = {r.id: r for r in conn.execute(select(t.participants))}
    by_event: dict[str, int] = {}
    for d in deliveries:
        by_event[d["event_id"]] = by_event.get(d["event_id"], 0) + 1
    for cid in cids:
        seqs = sorted(e["sequence"] for e in events if e["conference_id"] == cid)
        assert seqs == list(range(1, len(seqs) + 1)), f"{cid}: sequence has gaps: {seqs[:20]}"
        stored_alias = confs[cid].alias
        last = acked.alias.get(cid, 0)
        stored = int(stored_alias[1:]) if stored_alias else 0
        assert stored >= last, f"{cid}: acknowledged alias a{last} lost (stored {stored_alias})"
        joined = sum(1 for p in people.values() if p.conference_id == cid and p.status == "joined")
        assert confs[cid].participant_count == joined, f"{cid}: count != joined participants"
    for e in events:  # every event went out with its delivery (the status callback)
        assert by_event.get(e["id"]) == 1, f"event {e['id']} ({e['type']}) has no delivery"
    for pid in acked.participants:
        assert pid in people, f"acknowledged participant {pid} lost"
    joining = {e["participant_id"] for e in events if e["type"] == "participant.joining"}
    assert set(people) == joining, "a participant row without its event, or the reverse"
    for e in events:
        if e["type"] == "participant.joined":
            assert people[e["participant_id"]].status in ("joined", "leaving", "left")
    return len(events)


async def test_sigkill_in_a_burst_leaves_a_consistent_store(
    tmp_path: Path, database_url: str
) -> None:
    acked = Acked()
    stop = asyncio.Event()
    async with running(database_url, tmp_path) as (url, key, pid):
        headers = {"Authorization": f"Bearer {key}"}
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            cids = []
            for i in range(CONFERENCES):
                body = {"name": f"c{i}", "status_callback_url": "http://127.0.0.1:9/hook"}
                async with session.post(f"{url}/v1/conferences", json=body) as r:
                    assert r.status == 201, await r.text()
                    cids.append((await r.json())["id"])
            clients = [asyncio.create_task(_client(session, url, cid, acked, stop)) for cid in cids]
            try:
                await asyncio.wait_for(acked.enough.wait(), 60)
            except TimeoutError:
                pytest.fail(f"only {acked.count} writes were acknowledged in 60 s")
            os.kill(pid, signal.SIGKILL)
            stop.set()
            await asyncio.gather(*clients)
    db = Database(database_url)
    try:
        async with db.read() as conn:
            n = await conn.run_sync(lambda sync: _check(sync, acked, cids))
        assert n > KILL_AFTER_ACKS
    finally:
        await db.dispose()
