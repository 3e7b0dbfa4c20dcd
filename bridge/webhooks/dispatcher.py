"""Webhook delivery as a streamed pipeline: at-least-once, in order per stream, jittered
backoff, dead-lettered after a bounded time (visible through the API).

Streams. A stream is (URL, conference). Its deliveries wait in memory in sequence order, with
their events; the next one leaves as soon as the previous got its 2xx (or was dead-lettered),
with no database round trip in between: the body is built from the event in memory and the
signing secret comes from a short-lived cache (`forget_secrets()` empties it). Every request
goes over one aiohttp session whose connections are kept alive.

Lanes. Each stream with work has a lane (a task). At most `max_streams` lanes send at once;
a lane gives its slot up after a fair share of deliveries or when it has to wait. A failed
head waits in memory for its retry, and the rest of its stream waits behind it.

Marks. What each attempt did goes to one writer task, which writes everything collected so
far in one transaction as soon as its previous write finished, but not more often than every
`mark_interval_seconds` (20 ms: a busy stream costs the database a few dozen transactions a
second, not one per delivery, and SQLite's one writer stays free for the API). A receiver may
see a delivery before its mark is written; after a crash it may see it again (at-least-once:
receivers dedupe on Idempotency-Key).

Leases. What this process holds in memory is leased in the outbox, so another bridge
process does not send it too: the group commit writes new rows already leased (STREAM_LEASE)
and hands them over with `submit()`; a delivery waiting for a retry is leased past its retry
time; leases are renewed in batches before they run out, and given back at `stop()`. A lease
names this instance (`db.holder`, store/instance.py): a process killed between a send and
its mark leaves its leases behind, and its restart releases them before this dispatcher
starts, so the recovery below sends them again at once (the receiver sees that delivery
twice, same id) rather than when they run out.

Recovery. At start and on every poll (`poll_seconds`, or at once after `notify()`), pending
rows nobody holds (left by a crashed process, or a dead letter re-queued through the API) are
claimed and fed into their streams in sequence order. Before a lane sends a delivery whose
predecessors it has not seen (a stream it just met, or a gap in sequence), it asks the outbox
for earlier pending rows of the stream: free ones are claimed and go first; rows another
process holds make the stream wait until they are done or their lease runs out. So sequence
n+1 of a stream never leaves while n is pending.

Every request goes out under the outbound policy (core/netpolicy.py, webhooks/outbound.py):
the host is checked before any IO, resolved through the resolver seam, every address is
checked, and the connection goes only to those addresses. Redirects are never followed (a 3xx
is a failure). A target the policy refuses is dead-lettered at once (`target_not_allowed`):
no retry can change the answer until the URL, its DNS or the policy changes, and then
POST /v1/deliveries/{id}/retry sends it again. What failed is stored as a stable code only;
the detail goes to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.core.clock import Clock
from bridge.core.models import Event
from bridge.core.netpolicy import DEFAULT_POLICY, OutboundPolicy, split_url
from bridge.metrics import Metrics
from bridge.store import outbox, repos
from bridge.store import tables as t
from bridge.store.db import Database
from bridge.store.outbox import DEAD, DELIVERED, PENDING, STREAM_LEASE, Delivery, Mark, Queued
from bridge.webhooks import outbound
from bridge.webhooks.outbound import ConnectorFactory, Resolver
from bridge.webhooks.payload import body_for
from bridge.webhooks.signing import HEADER, sign

log = logging.getLogger(__name__)

StreamKey = tuple[str, str]  # (url, conference_id)

FAIR_SHARE = 32  # deliveries a lane sends before a waiting stream may have its slot
KEPT_STREAMS = 10_000  # idle streams remembered, so that their next delivery needs no check
STOP_FLUSH_SECONDS = 10.0  # how long stop() waits for the last marks to be written


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    max_age_seconds: float = 24 * 3600.0
    timeout_seconds: float = 10.0

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Exponential with jitter in [50%, 100%] of the capped step (never zero)."""
        step = min(self.cap_seconds, self.base_seconds * float(2 ** min(attempts, 32)))
        return step * rng.uniform(0.5, 1.0)


@dataclass(slots=True, eq=False)
class _Held:
    """A delivery this process holds: queued, in flight, or done and waiting for its mark."""

    delivery: Delivery
    event: Event
    attempts: int
    not_before: float  # monotonic time; a retry waits until then
    lease_until: datetime  # what the outbox says (or will once the pending mark is written)
    done: bool = False


class _Stream:
    __slots__ = ("blocked_until", "checked", "key", "queue", "refusal", "safe_upto", "task", "wake")

    def __init__(self, key: StreamKey) -> None:
        self.key = key
        self.queue: deque[_Held] = deque()  # by sequence; the head is queue[0]
        # every pending row of the stream with a lower sequence is held by this process
        self.safe_upto: int | None = None
        self.blocked_until = 0.0  # monotonic: earlier rows are held by another process
        self.task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()  # something changed: recompute what to wait for
        # the static check of the URL under a policy: a pure function of the two, done once
        self.checked: OutboundPolicy | None = None
        self.refusal: outbound.TargetRefused | None = None

    def add(self, h: _Held) -> None:
        seq = h.delivery.sequence
        if not self.queue or self.queue[-1].delivery.sequence < seq:
            self.queue.append(h)  # the usual case: commit order is sequence order
            return
        for i, other in enumerate(self.queue):
            if other.delivery.sequence > seq:
                self.queue.insert(i, h)
                return
        self.queue.append(h)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        metrics: Metrics,
        *,
        policy: RetryPolicy | None = None,
        batch: int = 500,
        poll_seconds: float = 2.0,
        lease_seconds: float = STREAM_LEASE.total_seconds(),
        user_agent: str = "conference-bridge-webhooks",
        outbound_policy: OutboundPolicy = DEFAULT_POLICY,
        resolver: Resolver = outbound.system_resolver,
        connector_factory: ConnectorFactory = outbound.default_connector,
        max_streams: int = 64,
        secret_ttl_seconds: float = 2.0,
        max_held: int = 50_000,
        mark_interval_seconds: float = 0.02,
    ) -> None:
        self.db = db
        self.clock = clock
        self.metrics = metrics
        self.policy = policy or RetryPolicy()  # read at every failure: tests swap it
        self.batch = batch  # rows claimed per poll, and per look at a stream's earlier rows
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.user_agent = user_agent
        self.outbound_policy = outbound_policy
        self.resolver = resolver
        self.connector_factory = connector_factory
        self.max_streams = max_streams
        self.secret_ttl = secret_ttl_seconds
        self.max_held = max_held  # the poll claims no more than this (submit() always takes)
        self.mark_interval = mark_interval_seconds
        self._rng = random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(max_streams)
        self._sending = 0  # lanes holding a slot
        self._held: dict[str, _Held] = {}
        self._streams: OrderedDict[StreamKey, _Stream] = OrderedDict()
        self._blocked: set[_Stream] = set()  # streams waiting for another process's rows
        self._marks: dict[str, Mark] = {}  # not yet written, by delivery id
        self._marks_ready = asyncio.Event()
        self._written = asyncio.Condition()  # notified after every write of marks
        self._writing = False
        self._secrets: dict[tuple[str | None, str], tuple[float, str | None]] = {}
        self._secrets_generation = 0
        self._running = False
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    # --- the interface -------------------------------------------------------------------

    def submit(self, items: Sequence[Queued]) -> None:
        """Committed deliveries, leased to this process (STREAM_LEASE), in commit order."""
        if self._stopped:
            return  # their leases run out and another process (or the next start) sends them
        self._feed(items)

    def notify(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._wake.set()

    def forget_secrets(self) -> None:
        """A secret was rotated or a subscription deleted: sign nothing more with the old."""
        self._secrets.clear()
        self._secrets_generation += 1

    @property
    def held(self) -> int:
        """Deliveries in memory: queued, in flight, or waiting for their mark."""
        return len(self._held)

    @property
    def sending(self) -> int:
        """Streams sending now (at most `max_streams`)."""
        return self._sending

    @property
    def waiting_streams(self) -> int:
        """Streams waiting for earlier rows another process holds."""
        return len(self._blocked)

    async def start(self) -> None:
        if self._running or self._stopped:
            return
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout_seconds)
        checking = outbound.CheckingResolver(
            self.outbound_policy,
            self.resolver,
            timeout_seconds=min(5.0, self.policy.timeout_seconds),
        )
        self._session = aiohttp.ClientSession(
            timeout=timeout,
            connector=self.connector_factory(checking),
            trust_env=False,  # no proxy from the environment: the check is on the real target
        )
        self._running = True
        self._writer = asyncio.create_task(self._write_marks(), name="webhook-marks")
        self._task = asyncio.create_task(self._run(), name="webhook-outbox-poll")
        for s in self._streams.values():  # submitted before start
            self._start_lane(s)

    async def stop(self) -> None:
        """Stop sending, write every mark recorded, give back the leases of the rest."""
        if self._stopped:
            return
        self._stopped = True
        self._running = False
        tasks = [x for x in (self._task, *(s.task for s in self._streams.values())) if x]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._writer is not None:
            self._marks_ready.set()  # the writer ends once nothing is left to write
            try:
                await asyncio.wait_for(self._writer, STOP_FLUSH_SECONDS)
            except Exception:
                log.error("webhook marks were not all written at stop; they will be resent")
        undone = [i for i, h in self._held.items() if not h.done]
        if undone:
            try:
                async with self.db.begin() as conn:
                    await outbox.release(conn, undone)
            except Exception as exc:  # their leases run out instead
                log.warning("could not give back %d webhook leases: %s", len(undone), exc)
        self._held.clear()
        self._streams.clear()
        self._blocked.clear()
        if self._session is not None:
            await self._session.close()

    async def run_once(self) -> int:
        """Renew leases due for it, then claim pending rows nobody holds and feed them into
        their streams; returns how many were fed."""
        if self._stopped:
            return 0
        await self._renew_leases()
        room = min(self.batch, self.max_held - len(self._held))
        if room <= 0:
            return 0
        now = self.clock.now()
        async with self.db.read() as conn:  # most polls find nothing: no write lock for that
            ids = await outbox.claimable(conn, now, limit=room)
        fed = 0
        if ids:
            async with self.db.begin() as conn:
                claimed = await outbox.claim_ids(
                    conn, ids, now, lease=self.lease, holder=self.db.holder
                )
            fed = self._feed(claimed)
        for s in list(self._blocked):  # the rows they wait for may be done: look again
            self._unblock(s)
        return fed

    async def flush(self) -> None:
        """Wait until every outcome recorded so far is written to the outbox."""
        if self._writer is None or self._writer.done():
            return
        self._marks_ready.set()
        async with self._written:
            await self._written.wait_for(lambda: not self._marks and not self._writing)

    async def drain(self) -> None:
        """Wait until nothing is held: every delivery taken is sent (or dead) and marked."""
        async with self._written:
            await self._written.wait_for(lambda: not self._held)

    # --- feeding streams -------------------------------------------------------------------

    def _feed(self, items: Iterable[Queued]) -> int:
        fed = 0
        now = self.clock.now()
        mono = time.monotonic()
        for q in items:
            d = q.delivery
            if d.id in self._held:
                continue  # already here (fed by a poll and a look at the stream, say)
            wait = 0.0
            if d.next_attempt_at is not None:
                wait = max(0.0, (d.next_attempt_at - now).total_seconds())
            lease = d.lease_until or d.created_at + STREAM_LEASE
            h = _Held(d, q.event, d.attempts, mono + wait, lease)
            self._held[d.id] = h
            s = self._stream((d.url, d.conference_id))
            s.add(h)
            self._unblock(s)  # what it waited for may be here now
            self._start_lane(s)
            fed += 1
        return fed

    def _stream(self, key: StreamKey) -> _Stream:
        s = self._streams.get(key)
        if s is not None:
            self._streams.move_to_end(key)
            return s
        s = self._streams[key] = _Stream(key)
        if len(self._streams) > KEPT_STREAMS:  # forget the longest idle (they re-check)
            idle = [k for k, v in self._streams.items() if not v.queue and v.task is None]
            for k in idle[: len(self._streams) - KEPT_STREAMS * 9 // 10]:
                del self._streams[k]
        return s

    def _block(self, s: _Stream, seconds: float) -> None:
        s.blocked_until = time.monotonic() + seconds
        self._blocked.add(s)

    def _unblock(self, s: _Stream) -> None:
        s.blocked_until = 0.0
        self._blocked.discard(s)
        s.wake.set()

    def _start_lane(self, s: _Stream) -> None:
        if self._running and s.task is None and s.queue:
            s.task = asyncio.get_running_loop().create_task(self._lane(s), name="webhook-lane")

    # --- lanes -----------------------------------------------------------------------------

    async def _lane(self, s: _Stream) -> None:
        try:
            while s.queue:
                wait = max(s.queue[0].not_before, s.blocked_until) - time.monotonic()
                if wait > 0:  # a retry or another process's rows: wait without a slot
                    s.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(s.wake.wait(), wait)
                    continue
                try:
                    async with self._slots:
                        self._sending += 1
                        try:
                            await self._send(s)
                        finally:
                            self._sending -= 1
                except Exception:  # a database hiccup in a look at the outbox, say
                    log.exception("webhook stream failed; trying again")
                    self._block(s, 1.0)
        finally:
            s.task = None

    async def _send(self, s: _Stream) -> None:
        """Send heads one after the other while they are due (holding a slot)."""
        for _ in range(FAIR_SHARE):
            if not s.queue or not self._running:
                return
            head = s.queue[0]
            now = time.monotonic()
            if s.blocked_until:
                if s.blocked_until > now:
                    return
                self._unblock(s)  # waited long enough: look at the outbox again
            if head.not_before > now:
                return
            if s.safe_upto is None or head.delivery.sequence > s.safe_upto:
                await self._check_earlier(s, head)
                continue  # the head may be an earlier row now, or the stream blocked
            await self._attempt(s, head)

    async def _check_earlier(self, s: _Stream, head: _Held) -> None:
        """Make sure no pending row of the stream before `head` is left out: claim free
        ones (they go first), or block the stream while another process holds some."""
        url, conference_id = s.key
        above = s.safe_upto
        while True:
            async with self.db.read() as conn:
                rows = await outbox.earlier_pending(
                    conn, url, conference_id, head.delivery.sequence, above=above, limit=self.batch
                )
            unknown = [r for r in rows if r.id not in self._held]
            if unknown:
                break
            if len(rows) < self.batch:
                s.safe_upto = head.delivery.sequence
                return
            above = rows[-1].sequence + 1  # all held (done, waiting for marks): look further
        now = self.clock.now()
        free = [r.id for r in unknown if r.lease_until is None or r.lease_until < now]
        claimed: list[Queued] = []
        if free:
            async with self.db.begin() as conn:
                claimed = await outbox.claim_ids(
                    conn, free, now, lease=self.lease, holder=self.db.holder
                )
            self._feed(claimed)
        if len(claimed) < len(unknown):  # looked at again at the next poll, or when fed
            self._block(s, self.poll_seconds)

    async def _attempt(self, s: _Stream, h: _Held) -> None:
        d = h.delivery
        secret = await self._secret(d)
        if secret is None:  # account gone: nothing can sign it, ever
            status, error = None, outbound.DELIVERY_FAILED
            log.warning("webhook delivery %s: no account to sign it; dead-lettered", d.id)
        else:
            status, error = await self._post(s, d, h.event, secret)
        now = self.clock.now()
        if status is not None and 200 <= status < 300:
            self._finish(s, h, Mark(d.id, DELIVERED, now, last_status=status))
            self.metrics.webhook_attempts.labels("delivered").inc()
            return
        if status is not None:
            error = outbound.http_status_code(status)
            log.info("webhook delivery %s to %s: %s", d.id, _where(d.url), error)
        age = (now - d.created_at).total_seconds()
        delay = self.policy.delay(h.attempts, self._rng)
        h.attempts += 1
        final = secret is None or error == outbound.TARGET_NOT_ALLOWED
        if final or age + delay > self.policy.max_age_seconds:
            self._finish(s, h, Mark(d.id, DEAD, now, last_status=status, last_error=error))
            self.metrics.webhook_attempts.labels("dead").inc()
            return
        retry_at = now + timedelta(seconds=delay)
        h.not_before = time.monotonic() + delay
        h.lease_until = retry_at + self.lease  # nobody else takes it while it waits
        self._mark(
            Mark(
                d.id,
                PENDING,
                now,
                last_status=status,
                last_error=error,
                retry_at=retry_at,
                lease_until=h.lease_until,
            )
        )
        self.metrics.webhook_attempts.labels("retry").inc()

    async def _post(
        self, s: _Stream, d: Delivery, event: Event, secret: str
    ) -> tuple[int | None, str]:
        """One attempt: (HTTP status, "") if the target answered, else (None, stable code)."""
        body = body_for(event, d.id)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            HEADER: sign(secret, int(time.time()), body),
            "X-Bridge-Delivery": d.id,
            "X-Bridge-Event": event.id,
            "X-Bridge-Event-Type": event.type,
            "Idempotency-Key": d.id,
        }
        started = time.perf_counter()
        try:
            self._check_target(s)
            try:
                return await self._post_once(d.url, body, headers), ""
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if isinstance(exc, aiohttp.ClientConnectorError):
                    raise
                # A kept-alive connection the receiver closed while idle fails like this,
                # before any answer: try once more, on a new connection.
                return await self._post_once(d.url, body, headers), ""
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            error = outbound.failure_code(exc)
            log.warning(
                "webhook delivery %s to %s failed: %s (%s: %s)",
                d.id,
                _where(d.url),
                error,
                type(exc).__name__,
                exc,
            )
            return None, error
        finally:
            self.metrics.webhook_latency.observe(time.perf_counter() - started)

    def _check_target(self, s: _Stream) -> None:
        """check_target, remembered per stream (the addresses are checked per connection)."""
        if s.checked is not self.outbound_policy:
            try:
                outbound.check_target(self.outbound_policy, s.key[0])
                s.refusal = None
            except outbound.TargetRefused as exc:
                s.refusal = exc
            s.checked = self.outbound_policy
        if s.refusal is not None:
            raise s.refusal.with_traceback(None)

    async def _post_once(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        assert self._session is not None
        async with self._session.post(
            url, data=body, headers=headers, allow_redirects=False
        ) as resp:
            await resp.read()
            return resp.status

    def _finish(self, s: _Stream, h: _Held, mark: Mark) -> None:
        """Delivered or dead: the stream moves on at once; the mark follows in a batch."""
        s.queue.remove(h)
        h.done = True
        s.safe_upto = max(s.safe_upto or 0, h.delivery.sequence + 1)
        self._mark(mark)

    # --- secrets ---------------------------------------------------------------------------

    async def _secret(self, d: Delivery) -> str | None:
        key = (d.subscription_id, d.account_id)
        now = time.monotonic()
        hit = self._secrets.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._secrets_generation
        async with self.db.read() as conn:
            secret = await _read_secret(conn, d)
        if generation == self._secrets_generation:  # not forgotten while we read
            if len(self._secrets) > 1024:
                self._secrets = {k: v for k, v in self._secrets.items() if v[0] > now}
            self._secrets[key] = (now + self.secret_ttl, secret)
        return secret

    # --- the outbox: marks, leases, polls --------------------------------------------------

    def _mark(self, mark: Mark) -> None:
        earlier = self._marks.pop(mark.delivery_id, None)
        self._marks[mark.delivery_id] = mark if earlier is None else mark.after(earlier)
        self._marks_ready.set()

    async def _write_marks(self) -> None:
        """The one writer: everything recorded while the previous write ran, in one go."""
        while True:
            if not self._marks:
                if self._stopped:
                    return
                self._marks_ready.clear()
                await self._marks_ready.wait()
                continue
            self._writing = True
            started = time.monotonic()
            batch: dict[str, Mark] = {}
            try:
                async with self.db.begin() as conn:
                    # taken once the transaction is open: what came in while it waited for
                    # SQLite's writer lock goes in too
                    batch, self._marks = self._marks, {}
                    await outbox.write_marks(conn, list(batch.values()))
            except Exception:
                log.exception("writing %d webhook marks failed; retrying", len(batch))
                for delivery_id, mark in batch.items():  # put back, before anything newer
                    newer = self._marks.pop(delivery_id, None)
                    self._marks[delivery_id] = mark if newer is None else newer.after(mark)
                await asyncio.sleep(1.0)
                continue
            finally:
                self._writing = False
            for delivery_id, mark in batch.items():
                if mark.final:
                    self._held.pop(delivery_id, None)
            async with self._written:
                self._written.notify_all()
            rest = started + self.mark_interval - time.monotonic()
            if rest > 0 and not self._stopped:
                await asyncio.sleep(rest)

    async def _renew_leases(self) -> None:
        now = self.clock.now()
        soon = now + self.lease / 2
        due = [h for h in self._held.values() if h.lease_until < soon]
        if not due:
            return
        until = now + self.lease
        async with self.db.begin() as conn:
            await outbox.renew(conn, [h.delivery.id for h in due], until, holder=self.db.holder)
        for h in due:
            h.lease_until = max(h.lease_until, until)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                fed = await self.run_once()
            except Exception:  # keep polling after a database hiccup
                log.exception("webhook outbox poll failed; retrying")
                fed = 0
            if fed >= self.batch:
                continue  # there may be more
            idle = min(self.poll_seconds, self.lease.total_seconds() / 4)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=idle)


async def _read_secret(conn: AsyncConnection, d: Delivery) -> str | None:
    if d.subscription_id is not None:
        sub = await repos.get_row(conn, t.subscriptions, d.subscription_id)
        if sub is not None:
            return str(sub["secret"])
    account = await repos.get_row(conn, t.accounts, d.account_id)
    return None if account is None else str(account["webhook_secret"])


def _where(url: str) -> str:
    """Host and port of a URL for the log: never its userinfo, path or query."""
    try:
        host, port = split_url(url)
    except ValueError:
        return "an unparsable URL"
    return f"{host}:{port}"
