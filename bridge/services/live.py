"""Live conferences in memory: one owner per conference, the single writer of its state.

An owner holds a conference, its reservation, participants and recordings, loaded once.
Every API command and engine observation for the conference runs through `Owner.run`, one at a
time (the owner's lock is its mailbox, first come first served): the use case decides on the
in-memory state with the pure core (a `Unit`), the decision is applied to that state at once
and handed to the group commit (services/commit.py), and the next one can be decided while it
is being written. Two copies are kept:

    decided  ── what the next decision is made on (includes changes not yet committed)
    view     ── what has been committed: reads of a live conference come from here

Engine commands leave after the commit that holds their decision, in decision order.

An owner lives while its conference has anyone joining or present, or a change in flight; after
that it stays among the recently used idle ones (bounded, `conferences_in_memory`), then it is
dropped and the store is the truth again. If a commit fails, the owner is dropped too
(its decided copy is ahead of the store) and the next use reloads it. Several processes on one
PostgreSQL: every commit bumps the conference's `version` under a check (store/changes.py); a
process whose copy is stale gets StaleOwner, reloads and decides again. docs/design.md says how
ownership would move between processes with a lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bridge.core import engine as cmd
from bridge.core.errors import NotFound, Unavailable
from bridge.core.models import (
    ACTIVE_PARTICIPANT,
    Conference,
    Participant,
    Recording,
    Reservation,
)
from bridge.services.commit import GroupCommitter, Pending, StaleOwner
from bridge.services.context import Services, Unit
from bridge.store import repos
from bridge.store.changes import ChangeSet

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class LiveState:
    conference: Conference
    version: int  # the store's write version this state corresponds to (store/changes.py)
    reservation: Reservation | None
    participants: dict[str, Participant]
    recordings: dict[str, Recording]
    last_sequence: int
    active: int = -1  # participants joining, joined or leaving (kept as changes apply)

    def __post_init__(self) -> None:
        if self.active < 0:
            self.active = sum(1 for p in self.participants.values() if p.active)

    def copy(self) -> LiveState:
        return LiveState(
            self.conference,
            self.version,
            self.reservation,
            dict(self.participants),
            dict(self.recordings),
            self.last_sequence,
            self.active,
        )

    def apply(self, cs: ChangeSet) -> None:
        self.conference = cs.conference
        self.version += 1
        for p in (*cs.participants_new, *cs.participants_changed):
            old = self.participants.get(p.id)
            self.active += p.active - (old is not None and old.active)
            self.participants[p.id] = p
        for r in (*cs.recordings_new, *cs.recordings_changed):
            self.recordings[r.id] = r
        for res in cs.reservations_changed:
            self.reservation = res
        if cs.events:
            self.last_sequence = cs.events[-1].sequence


class Owner:
    def __init__(self, owners: Owners, state: LiveState) -> None:
        self.owners = owners
        self.decided = state
        self.view = state.copy()
        self.lock = asyncio.Lock()
        self.broken = False
        self.in_flight = 0  # change sets decided and not yet committed (or failed)
        self._sending: asyncio.Future[None] | None = None  # the last command send, for order

    @property
    def id(self) -> str:
        return self.decided.conference.id

    async def run(self, work: Callable[[Unit], Awaitable[T]]) -> tuple[T, Awaitable[None]]:
        """Decide `work` on the current state. Returns its result and an awaitable that is
        done once the decision is committed and its engine commands were sent."""
        s = self.owners.services
        try:
            async with self.lock:
                if self.broken:
                    raise StaleOwner(self.id)
                unit = Unit(s, self.decided, s.now())
                result = await work(unit)  # an error here leaves the state untouched
                cs = unit.finish()
                if cs is None:
                    return result, self._send_after(None, unit.commands)
                self.decided.apply(cs)
                self.in_flight += 1
                pending = self.owners.committer.submit(cs)
                pending.committed.add_done_callback(lambda f: self._committed(f, cs))
                return result, self._send_after(pending, unit.commands)
        finally:
            self.owners.release_if_idle(self)

    def _committed(self, f: asyncio.Future[None], cs: ChangeSet) -> None:
        self.in_flight -= 1
        if f.cancelled() or f.exception() is not None:
            self.broken = True  # decided is ahead of the store now
            self.owners.drop(self)
            return
        self.view.apply(cs)
        self.owners.index(cs)
        self.owners.release_if_idle(self)

    def _send_after(
        self, pending: Pending | None, commands: list[cmd.Command]
    ) -> asyncio.Future[None]:
        """What the caller awaits: the commit, then this decision's commands, sent after
        those of every earlier decision of this conference."""
        if not commands:  # most observations: nothing to send, no task to make
            if pending is not None:
                return pending.committed
            nothing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            nothing.set_result(None)
            return nothing
        previous = self._sending
        done = asyncio.ensure_future(self._send(pending, commands, previous))
        self._sending = done
        return done

    async def _send(
        self,
        pending: Pending | None,
        commands: list[cmd.Command],
        previous: asyncio.Future[None] | None,
    ) -> None:
        if pending is not None:
            await pending.committed
        if previous is not None and not previous.done():
            await asyncio.wait([previous])  # its failure is its caller's, not ours
        await self.owners.services.send(commands)


class Owners:
    """The conferences this process holds in memory, by id, and who each live participant is
    in. Live ones stay while they are live; up to `max_idle` others that were used lately stay
    too (least recently used first out), so reads and writes of a recent conference need no
    load."""

    def __init__(
        self, services: Services, committer: GroupCommitter, *, max_idle: int = 1000
    ) -> None:
        self.services = services
        self.committer = committer
        self.max_idle = max_idle
        self._owners: dict[str, Owner] = {}
        self._idle: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self._loading: dict[str, asyncio.Future[Owner | None]] = {}
        self._participants: dict[str, str] = {}  # participant id -> conference id

    def __len__(self) -> int:
        return len(self._owners)

    def peek(self, conference_id: str) -> Owner | None:
        return self._owners.get(conference_id)

    def conference_of(self, participant_id: str) -> str | None:
        return self._participants.get(participant_id)

    async def get(self, conference_id: str) -> Owner:
        owner = self._owners.get(conference_id)
        if owner is not None and not owner.broken:
            return owner
        loading = self._loading.get(conference_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(conference_id))
            self._loading[conference_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(conference_id, None))
        owner = await asyncio.shield(loading)
        if owner is None:
            raise NotFound("conference_not_found", f"no conference {conference_id!r}")
        return owner

    def adopt_new(self, cs: ChangeSet) -> None:
        """Hold a conference this process just created (its change set is committed): all of
        its state is in the change set, so no load is needed."""
        conf = cs.conference
        reservation = cs.reservations_new[0] if cs.reservations_new else None
        last = cs.events[-1].sequence if cs.events else 0
        owner = Owner(self, LiveState(conf, 0, reservation, {}, {}, last))
        self._owners[conf.id] = owner
        self.release_if_idle(owner)

    async def _load(self, conference_id: str) -> Owner | None:
        async with self.services.db.read() as conn:
            loaded = await repos.load_live(conn, conference_id)
        if loaded is None:
            return None
        conf, version, reservation, participants, recordings, last_sequence = loaded
        state = LiveState(
            conf,
            version,
            reservation,
            {p.id: p for p in participants},
            {r.id: r for r in recordings},
            last_sequence,
        )
        owner = Owner(self, state)
        self._owners[conference_id] = owner
        for p in participants:
            if p.status in ACTIVE_PARTICIPANT:
                self._participants[p.id] = conference_id
        return owner

    def index(self, cs: ChangeSet) -> None:
        for p in (*cs.participants_new, *cs.participants_changed):
            if p.status in ACTIVE_PARTICIPANT:
                self._participants[p.id] = p.conference_id
            else:
                self._participants.pop(p.id, None)

    def release_if_idle(self, owner: Owner) -> None:
        """Once nobody is in a conference and nothing about it is in flight, it joins the
        idle ones; past `max_idle` the least recently used is forgotten."""
        if self._owners.get(owner.id) is not owner:
            return
        if owner.in_flight or owner.lock.locked() or owner.decided.active:
            self._idle.pop(owner.id, None)
            return
        self._idle[owner.id] = None
        self._idle.move_to_end(owner.id)
        while len(self._idle) > self.max_idle:
            oldest, _ = self._idle.popitem(last=False)
            evicted = self._owners.get(oldest)
            if evicted is not None and not (evicted.in_flight or evicted.lock.locked()):
                self.drop(evicted)

    def drop(self, owner: Owner) -> None:
        self._idle.pop(owner.id, None)
        if self._owners.get(owner.id) is owner:
            del self._owners[owner.id]
        for pid in owner.decided.participants:
            if self._participants.get(pid) == owner.id:
                del self._participants[pid]


async def in_conference(
    services: Services,
    conference_id: str,
    work: Callable[[Unit], Awaitable[T]],
    *,
    account_id: str | None = None,
) -> T:
    """Run `work` as the conference's next decision and wait until it is committed and its
    engine commands were sent. A decision made on a stale copy is made again (bounded).
    A decision that needs the engine while its control link is down is refused before
    anything changes (the engine contract: pbx/backend.py `available`)."""

    async def guarded(u: Unit) -> T:
        result = await work(u)
        if u.commands and not services.backend.available:
            raise Unavailable(
                "engine_unavailable",
                f"the {services.backend.name} engine is not reachable; nothing was changed",
            )
        return result

    for attempt in range(5):
        owner = await services.owners.get(conference_id)
        if account_id is not None and owner.decided.conference.account_id != account_id:
            raise NotFound("conference_not_found", f"no conference {conference_id!r}")
        try:
            result, done = await owner.run(guarded)
            await done
        except StaleOwner:
            log.info("conference %s changed elsewhere; deciding again (%d)", conference_id, attempt)
            continue
        return result
    raise Unavailable(
        "conference_busy", "the conference kept changing in another process; try again"
    )


async def decide(
    services: Services, conference_id: str, work: Callable[[Unit], Awaitable[T]]
) -> Awaitable[None]:
    """Decide `work` now and return without waiting for its commit (engine observations: the
    engine never waits on the store). Returns what to await for the commit."""
    owner = await services.owners.get(conference_id)
    _, done = await owner.run(work)
    return done


def live_view(services: Services, conference_id: str) -> LiveState | None:
    """The committed state of a conference held in memory, when this process may serve reads
    from it.
    On SQLite this process is the only writer; on PostgreSQL another process may have written
    since, so reads there stay one SQL query."""
    if not services.db.is_sqlite:
        return None
    owner = services.owners.peek(conference_id)
    return None if owner is None or owner.broken else owner.view
