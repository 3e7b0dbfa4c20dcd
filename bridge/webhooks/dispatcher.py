"""Drains the outbox: at-least-once, in order per (URL, conference), jittered backoff,
dead-lettered after a bounded time (visible through the API).

Every request goes out under the outbound policy (core/netpolicy.py, webhooks/outbound.py):
the host is checked before any IO, resolved through the resolver seam, every address is
checked, and the connection goes only to those addresses. Redirects are never followed (a 3xx
is a failure). A target the policy refuses is dead-lettered at once (`target_not_allowed`):
no retry can change the answer until the URL, its DNS or the policy changes, and then
POST /v1/deliveries/{id}/retry sends it again. What failed is stored as a stable code only;
the detail goes to the log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.core.clock import Clock
from bridge.core.netpolicy import DEFAULT_POLICY, OutboundPolicy, split_url
from bridge.metrics import Metrics
from bridge.store import outbox, repos
from bridge.store import tables as t
from bridge.store.db import Database
from bridge.webhooks import outbound
from bridge.webhooks.outbound import ConnectorFactory, Resolver
from bridge.webhooks.payload import body_for
from bridge.webhooks.signing import HEADER, sign

log = logging.getLogger(__name__)


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


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        metrics: Metrics,
        *,
        policy: RetryPolicy | None = None,
        batch: int = 50,
        poll_seconds: float = 2.0,
        lease_seconds: float = 60.0,
        user_agent: str = "conference-bridge-webhooks",
        outbound_policy: OutboundPolicy = DEFAULT_POLICY,
        resolver: Resolver = outbound.system_resolver,
        connector_factory: ConnectorFactory = outbound.default_connector,
    ) -> None:
        self.db = db
        self.clock = clock
        self.metrics = metrics
        self.policy = policy or RetryPolicy()
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.user_agent = user_agent
        self.outbound_policy = outbound_policy
        self.resolver = resolver
        self.connector_factory = connector_factory
        self._wake = asyncio.Event()
        self._rng = random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """New deliveries were committed: look now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
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
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.run_once()
            except Exception:  # keep draining after a database hiccup
                log.exception("webhook dispatch failed; retrying")
                sent = 0
            if sent:
                continue
            self._wake.clear()
            idle = await self._idle_seconds()  # before creating the wait: nothing leaks
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=idle)

    async def _idle_seconds(self) -> float:
        async with self.db.read() as conn:
            due = await outbox.next_due_at(conn)
        if due is None:
            return self.poll_seconds
        wait = (due - self.clock.now()).total_seconds()
        return max(0.01, min(self.poll_seconds, wait))

    async def run_once(self) -> int:
        """Claim the due heads of streams and attempt each once; returns how many."""
        async with self.db.begin() as conn:
            claimed = await outbox.claim_due(
                conn, self.clock.now(), lease=self.lease, limit=self.batch
            )
        if claimed:
            await asyncio.gather(*(self._attempt(d) for d in claimed))
        return len(claimed)

    async def _attempt(self, d: outbox.Delivery) -> None:
        async with self.db.read() as conn:
            event = await repos.get_event(conn, d.event_id)
            secret = await self._secret(conn, d)
        if event is None or secret is None:
            return
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
        status: int | None = None
        error = ""
        started = time.perf_counter()
        assert self._session is not None
        try:
            outbound.check_target(self.outbound_policy, d.url)
            async with self._session.post(
                d.url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
                await resp.read()
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
        self.metrics.webhook_latency.observe(time.perf_counter() - started)
        now = self.clock.now()
        async with self.db.begin() as conn:
            if status is not None and 200 <= status < 300:
                await outbox.mark_delivered(conn, d.id, now, status)
                self.metrics.webhook_attempts.labels("delivered").inc()
                return
            if status is not None:
                error = outbound.http_status_code(status)
                log.info("webhook delivery %s to %s: %s", d.id, _where(d.url), error)
            age = (now - d.created_at).total_seconds()
            delay = self.policy.delay(d.attempts, self._rng)
            retry_at = None
            if error != outbound.TARGET_NOT_ALLOWED and age + delay <= self.policy.max_age_seconds:
                retry_at = now + timedelta(seconds=delay)
            await outbox.mark_failed(conn, d.id, now, status=status, error=error, retry_at=retry_at)
            self.metrics.webhook_attempts.labels("retry" if retry_at else "dead").inc()
        if retry_at is not None:
            self._wake.set()  # recompute the idle wait: this stream is due again soon

    async def _secret(self, conn: AsyncConnection, d: outbox.Delivery) -> str | None:
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
