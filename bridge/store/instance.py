"""This process's name in the store, held for its life: whose outbox leases are whose.

Every outbox lease names the instance holding it (`deliveries.lease_holder`). An instance
holds its name exclusively while it runs, so when it starts, any lease under its name is a
dead process's (SIGKILLed between a send and its mark, say): it gives them back at once and
its dispatcher sends them again, instead of the conference's stream waiting the lease out.

SQLite: one process uses the file. The name is held through an exclusive lock (flock) on
`<file>.lock`, so a second process on the same file is refused at start; the process that
takes the lock knows that every lease in the file is stale and releases them all. Several
applications in one process (as the tests run them) share that lock and each releases only
leases under its own name.

PostgreSQL: several instances share the outbox. The name is held through a session advisory
lock on a connection kept open for the life of the instance; PostgreSQL drops it when that
process dies. A start under a name a live process holds is refused, so two live processes
never send under one name; leases under other names are left to run out (their holders may
be alive). The name is `instance_id`, or derived from the host name, the API port and
`data_dir`, so the same installation restarted is the same instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.store import outbox
from bridge.store.db import Database

log = logging.getLogger(__name__)

NAMESPACE = 0x6272_6964  # pg_try_advisory_lock(classid, objid): the class of instance names
# a process SIGKILLed a moment ago may still have its session on PostgreSQL for a few ms
NAME_WAIT_SECONDS = 2.0
MAX_NAME = 64  # the width of deliveries.lease_holder

# SQLite files this process holds locked: path -> [fd, applications using it]
_FILES: dict[str, list[int]] = {}
_NAMES: set[tuple[str, str]] = set()  # (SQLite file, name) held in this process


def default_name(data_dir: Path, port: int) -> str:
    """The same host, API port and data directory are the same instance across restarts
    (the port tells apart containers on the host's network, where all have one name)."""
    where = f"{socket.gethostname()}\0{port}\0{data_dir.resolve()}"
    return "h-" + hashlib.sha256(where.encode()).hexdigest()[:16]


def _in_use(name: str, where: str) -> SystemExit:
    return SystemExit(
        f"bridge: instance {name!r} is in use by another bridge process ({where}); stop it,"
        " or give this one its own instance_id (PostgreSQL) or data_dir"
    )


class Instance:
    def __init__(self, db: Database, name: str) -> None:
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise SystemExit(f"instance_id must be 1 to {MAX_NAME} printable characters")
        self.db = db
        self.name = name
        self._sqlite_file: str | None = None
        self._conn: AsyncConnection | None = None
        self._only_process = False  # SQLite: this application took the file's lock

    async def hold(self) -> None:
        """Take the name (before migrations: a second process touches nothing)."""
        if self.db.is_sqlite:
            self._hold_file()
        else:
            await self._hold_advisory()
        self.db.holder = self.name

    async def release_stale(self) -> int:
        """Give back the leases a previous life of this instance left (after migrations)."""
        everyone = self.db.is_sqlite and self._only_process
        async with self.db.begin() as conn:
            n = await outbox.release_stale(conn, None if everyone else self.name)
        if n:
            log.warning("%d webhook deliveries left in flight by a previous run are sent again", n)
        return n

    async def give_back(self) -> None:
        self.db.holder = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):  # a lost session has let go already
                await conn.execute(
                    text("SELECT pg_advisory_unlock(:ns, hashtext(:name))"),
                    {"ns": NAMESPACE, "name": self.name},
                )
                await conn.commit()
            with contextlib.suppress(Exception):
                await conn.close()
        if self._sqlite_file is not None:
            path, self._sqlite_file = self._sqlite_file, None
            _NAMES.discard((path, self.name))
            entry = _FILES.get(path)
            if entry is not None:
                entry[1] -= 1
                if entry[1] == 0:
                    del _FILES[path]
                    os.close(entry[0])  # lets the flock go

    def _hold_file(self) -> None:
        database = self.db.url.split(":///", 1)[1] if ":///" in self.db.url else ""
        if database in ("", ":memory:"):
            self._only_process = True  # a private database
            return
        path = str(Path(database).resolve())
        if (path, self.name) in _NAMES:
            raise _in_use(self.name, path)
        entry = _FILES.get(path)
        if entry is None:
            fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise _in_use(self.name, path) from None
            _FILES[path] = [fd, 1]
            self._only_process = True
        else:
            entry[1] += 1
        _NAMES.add((path, self.name))
        self._sqlite_file = path

    async def _hold_advisory(self) -> None:
        conn = await self.db.engine.connect()
        deadline = time.monotonic() + NAME_WAIT_SECONDS
        try:
            while True:
                got = await conn.scalar(
                    text("SELECT pg_try_advisory_lock(:ns, hashtext(:name))"),
                    {"ns": NAMESPACE, "name": self.name},
                )
                await conn.commit()  # the lock is the session's: no transaction stays open
                if got:
                    break
                if time.monotonic() >= deadline:
                    raise _in_use(self.name, "on this PostgreSQL database")
                await asyncio.sleep(0.1)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
