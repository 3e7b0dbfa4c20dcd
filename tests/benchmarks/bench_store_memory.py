"""What 10,000 conferences x 10 participants cost in the SQLite store.

Inserts the rows the repositories write (one transaction per batch of conferences), then prints the
process RSS growth, the database size on disk, and how long it takes to list a page of
conferences and one conference's participants. Prints figures; asserts only that the data
went in.

    python -m pytest tests/benchmarks/bench_store_memory.py -m benchmark -s
"""

from __future__ import annotations

import gc
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from bridge.core.ids import new_id
from bridge.core.models import (
    Conference,
    ConferenceStatus,
    Direction,
    Participant,
    ParticipantStatus,
)
from bridge.store import convert, repos
from bridge.store import tables as t
from bridge.store.db import Database

CONFERENCES = 10_000
PARTICIPANTS_EACH = 10
PER_ROW = 100  # conferences inserted one repository call per row
BATCH = 1_000  # conferences per transaction for the rest
PAGE = 50
SAMPLES = 200  # timed repetitions of each read


def rss_kib() -> int:
    """Resident set size of this process, from /proc (no psutil here)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("VmRSS not found in /proc/self/status")


def _conference(account_id: str, n: int, now: datetime) -> Conference:
    return Conference(
        id=new_id("conference"),
        account_id=account_id,
        name=f"conference {n}",
        created_at=now,
        updated_at=now,
        status=ConferenceStatus.POPULATED,
        data={"n": n},
        participant_count=PARTICIPANTS_EACH,
        peak_participants=PARTICIPANTS_EACH,
    )


def _participant(conf: Conference, n: int, now: datetime) -> Participant:
    return Participant(
        id=new_id("participant"),
        conference_id=conf.id,
        account_id=conf.account_id,
        created_at=now,
        updated_at=now,
        direction=Direction.INBOUND,
        status=ParticipantStatus.JOINED,
        from_=f"{1000 + n}",
        call_ref=f"call-{conf.id}-{n}",
        joined_at=now,
    )


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:7.3f} ms  p99 {p99 * 1000:7.3f} ms"


def _disk_kib(db_file: Path) -> int:
    files = [db_file, db_file.with_name(db_file.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) // 1024


@pytest.mark.benchmark
async def test_store_memory_10k_conferences(tmp_path: Path) -> None:
    db_file = tmp_path / "bridge.db"
    db = Database(f"sqlite:///{db_file}")
    try:
        await db.migrate()
        now = datetime.now(UTC)
        account_id = new_id("account")
        async with db.begin() as conn:
            await repos.insert_row(
                conn,
                t.accounts,
                {
                    "id": account_id,
                    "name": "bench",
                    "is_admin": False,
                    "webhook_secret": "whsec_bench",
                    "created_at": now,
                },
            )
        gc.collect()
        rss_before = rss_kib()
        disk_before = _disk_kib(db_file)

        # The first conferences go through the repositories one row at a time (their cost
        # per row is printed); the rest are the same rows, made by the same converters,
        # written with executemany so that 110,000 rows fit in a benchmark's budget.
        started = time.perf_counter()
        confs = [_conference(account_id, n, now) for n in range(PER_ROW)]
        async with db.begin() as conn:
            for conf in confs:
                await repos.insert_conference(conn, conf)
                for k in range(PARTICIPANTS_EACH):
                    await repos.insert_participant(conn, _participant(conf, k, now))
        per_row_seconds = (time.perf_counter() - started) / (PER_ROW * (1 + PARTICIPANTS_EACH))

        picked: Conference | None = None
        started = time.perf_counter()
        for first in range(PER_ROW, CONFERENCES, BATCH):
            confs = [
                _conference(account_id, n, now)
                for n in range(first, min(first + BATCH, CONFERENCES))
            ]
            people = [_participant(c, k, now) for c in confs for k in range(PARTICIPANTS_EACH)]
            async with db.begin() as conn:
                await conn.execute(
                    insert(t.conferences), [convert.conference_to_row(c) for c in confs]
                )
                await conn.execute(
                    insert(t.participants), [convert.participant_to_row(p) for p in people]
                )
            picked = picked or confs[len(confs) // 2]
        bulk_seconds = time.perf_counter() - started
        bulk_rows = (CONFERENCES - PER_ROW) * (1 + PARTICIPANTS_EACH)
        assert picked is not None

        gc.collect()
        rss_after_insert = rss_kib()

        page_times: list[float] = []
        after: str | None = None
        for _ in range(SAMPLES):  # walk pages, wrapping at the end
            t0 = time.perf_counter()
            async with db.read() as conn:
                page = await repos.list_conferences(conn, account_id, after=after, limit=PAGE)
            page_times.append(time.perf_counter() - t0)
            after = page[-1].id if len(page) == PAGE else None

        member_times: list[float] = []
        for _ in range(SAMPLES):
            t0 = time.perf_counter()
            async with db.read() as conn:
                members = await repos.list_participants(conn, picked.id)
            member_times.append(time.perf_counter() - t0)
        assert len(members) == PARTICIPANTS_EACH

        async with db.read() as conn:
            counts = await repos.count_conferences_by_status(conn)
        assert counts == {ConferenceStatus.POPULATED.value: CONFERENCES}

        gc.collect()
        rss_end = rss_kib()
        disk_end = _disk_kib(db_file)
    finally:
        await db.dispose()

    rows = CONFERENCES * (1 + PARTICIPANTS_EACH)
    print()
    print(f"store: SQLite, {CONFERENCES:,} conferences x {PARTICIPANTS_EACH} participants")
    print(
        f"  insert via repos, one row per call: {per_row_seconds * 1e6:7.0f} us/row"
        f"  ({PER_ROW * (1 + PARTICIPANTS_EACH):,} rows)"
    )
    print(
        f"  insert executemany, {BATCH:,} conferences/transaction: {bulk_seconds:6.2f} s"
        f"  ({bulk_rows / bulk_seconds:,.0f} rows/s, {bulk_rows:,} rows)"
    )
    print(
        f"  RSS growth: {(rss_after_insert - rss_before) / 1024:6.1f} MiB after insert,"
        f" {(rss_end - rss_before) / 1024:6.1f} MiB after reads"
        f"  (RSS now {rss_end / 1024:.1f} MiB)"
    )
    print(
        f"  database on disk (db + WAL): {(disk_end - disk_before) / 1024:6.1f} MiB"
        f"  ({(disk_end - disk_before) * 1024 / rows:,.0f} bytes/row)"
    )
    print(f"  list a page of {PAGE} conferences:      {_ms(page_times)}  (n={SAMPLES})")
    print(f"  list one conference's participants:  {_ms(member_times)}  (n={SAMPLES})")
