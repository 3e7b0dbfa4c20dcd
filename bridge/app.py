"""The composition root: configuration in, a running application out."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bridge.api import docs, openapi, routes, stream
from bridge.api.errors import error_middleware
from bridge.api.state import STATE, AppState
from bridge.config import Config, outbound_policy
from bridge.core.clock import Clock, SystemClock
from bridge.metrics import Metrics
from bridge.pbx.backend import Backend
from bridge.protocols.safe import UnsafeValueError
from bridge.services import accounts
from bridge.services.commit import GroupCommitter
from bridge.services.context import Limits, Services
from bridge.services.events_feed import Feed
from bridge.services.events_tail import Tail
from bridge.services.keycache import KeyCache
from bridge.services.live import Owners
from bridge.services.observer import Observer
from bridge.services.router import Router
from bridge.services.scheduler import Scheduler
from bridge.store.db import Database
from bridge.store.instance import Instance, default_name
from bridge.webhooks import outbound
from bridge.webhooks.dispatcher import Dispatcher, RetryPolicy

log = logging.getLogger("bridge")

ADMIN_KEY_FILE = "admin-api-key"


def make_backend(config: Config) -> Backend:
    try:
        return _make_backend(config)
    except UnsafeValueError as exc:  # a setting the engine would have to write to its PBX
        raise SystemExit(f"engine settings: {exc}") from None


def _make_backend(config: Config) -> Backend:
    if config.engine == "embedded":
        from bridge.pbx.embedded.backend import EmbeddedBackend

        return EmbeddedBackend(
            sip_host=config.sip_host,
            sip_port=config.sip_port,
            rtp_port_min=config.rtp_port_min,
            rtp_port_max=config.rtp_port_max,
            media_dir=config.media_dir,
            recordings_dir=config.recordings_dir,
            sip_users=config.sip_users or None,
            sip_realm=config.sip_realm or None,
            sip_tcp=config.sip_tcp,
            advertised_host=config.sip_advertised_host or None,
            rtp_timeout=config.rtp_timeout_seconds,
            default_dial_host=config.sip_dial_host or None,
        )
    if config.engine == "asterisk":
        from bridge.pbx.asterisk.backend import AsteriskBackend

        return AsteriskBackend(
            ami_host=config.ami_host,
            ami_port=config.ami_port,
            ami_username=config.ami_username,
            ami_secret=config.ami_secret,
            agi_host=config.agi_host,
            agi_port=config.agi_port,
            dial_endpoint=config.ami_dial_endpoint,
            recordings_dir_on_pbx=config.ami_recordings_dir or None,
        )
    if config.engine == "freeswitch":
        from bridge.pbx.freeswitch import mapping
        from bridge.pbx.freeswitch.backend import FreeSwitchBackend

        if not config.esl_password:
            raise SystemExit("engine=freeswitch needs esl_password (see freeswitch-conf/README.md)")
        return FreeSwitchBackend(
            config.esl_host,
            config.esl_port,
            config.esl_password,
            outbound_port=config.esl_outbound_port,
            dial_prefix=config.esl_dial_prefix,
            media_root=mapping.media_root(config.esl_media_dir, config.media_dir),
        )
    raise SystemExit(
        f"the {config.engine} engine is not available in this build; use engine=embedded"
    )


@dataclass
class Parts:
    """Everything the application runs, for tests that reach inside."""

    services: Services
    observer: Observer
    scheduler: Scheduler
    dispatcher: Dispatcher
    admin_key: str | None = None


PARTS: web.AppKey[Parts] = web.AppKey("bridge_parts", Parts)


def build_app(
    config: Config,
    *,
    backend: Backend | None = None,
    clock: Clock | None = None,
    run_scheduler: bool = True,
    resolver: outbound.Resolver | None = None,
    connector_factory: outbound.ConnectorFactory | None = None,
) -> web.Application:
    """`resolver` and `connector_factory` are the dispatcher's outbound seams (tests map
    names to addresses and record connection attempts); by default the system resolver and
    a TCP connector that connects only to the addresses the policy checked."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.recordings_dir.mkdir(parents=True, exist_ok=True)
    config.media_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()
    db = Database(config.effective_database_url)
    instance = Instance(db, config.instance_id or default_name(config.data_dir, config.port))
    clock = clock or SystemClock()
    policy = RetryPolicy(
        base_seconds=config.webhook_retry_base_seconds,
        cap_seconds=config.webhook_retry_cap_seconds,
        max_age_seconds=config.webhook_max_age_seconds,
        timeout_seconds=config.webhook_timeout_seconds,
    )
    targets = outbound_policy(config)  # where outbound requests may go (core/netpolicy.py)
    dispatcher = Dispatcher(
        db,
        clock,
        metrics,
        policy=policy,
        poll_seconds=config.webhook_poll_seconds,
        outbound_policy=targets,
        resolver=resolver or outbound.system_resolver,
        connector_factory=connector_factory or outbound.default_connector,
    )
    services = Services(
        db=db,
        clock=clock,
        backend=backend or make_backend(config),
        metrics=metrics,
        recordings_dir=config.recordings_dir.resolve(),
        media_dir=config.media_dir.resolve(),
        limits=Limits(
            unreserved_max_participants=config.unreserved_max_participants,
            terminate_grace_seconds=config.terminate_grace_seconds,
        ),
        outbound=targets,
        keys=KeyCache(config.auth_cache_seconds),
        secrets_changed=dispatcher.forget_secrets,
        outbox_changed=dispatcher.notify,
    )
    # decisions -> group commit -> committed deliveries straight to the dispatcher, and
    # committed events to the live event stream
    feed = Feed()
    # on PostgreSQL, other processes' events too, in the store's order (services/events_tail.py)
    tail = None if db.is_sqlite else Tail(db, feed)
    on_events = feed.publish if tail is None else tail.local
    committer = GroupCommitter(db, clock, on_committed=dispatcher.submit, on_events=on_events)
    services.owners = Owners(services, committer, max_idle=config.conferences_in_memory)
    observer = Observer(services)
    scheduler = Scheduler(services, interval_seconds=config.scheduler_interval_seconds)
    parts = Parts(services, observer, scheduler, dispatcher)
    spec = openapi.build(routes.OPS)

    app = web.Application(middlewares=[error_middleware], client_max_size=256 * 1024)
    app[STATE] = AppState(services, dispatcher, spec, docs.render(spec))
    app[PARTS] = parts
    app[stream.FEED] = feed
    app.on_shutdown.append(lambda _app: stream.close(feed))
    routes.register(app)

    # One cleanup context per resource, in start order: when one fails to start (the SIP
    # port is taken), aiohttp tears down exactly those that started, in reverse order.
    async def database(_app: web.Application) -> AsyncIterator[None]:
        try:
            await instance.hold()  # a second process on this name is refused here
            await db.migrate()
            await instance.release_stale()  # what a crash left leased goes out again now
            parts.admin_key = await accounts.ensure_admin(services)
            if parts.admin_key is not None:
                _write_admin_key(config.data_dir, parts.admin_key)
            _tune_gc()
            yield
        finally:
            await instance.give_back()
            await db.dispose()

    async def webhooks(_app: web.Application) -> AsyncIterator[None]:
        await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()

    async def event_tail(_app: web.Application) -> AsyncIterator[None]:
        if tail is not None:
            await tail.start()
        try:
            yield
        finally:
            if tail is not None:
                await tail.stop()

    async def group_commit(_app: web.Application) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await committer.stop()

    async def observation(_app: web.Application) -> AsyncIterator[None]:
        observer.start()
        try:
            yield
        finally:
            await observer.stop()

    async def engine(_app: web.Application) -> AsyncIterator[None]:
        try:
            await services.backend.start(observer.queue, Router(services))
            yield
        finally:  # a half-started engine (one port bound, the next taken) lets go too
            await services.backend.stop()

    async def schedule(_app: web.Application) -> AsyncIterator[None]:
        if run_scheduler:
            scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()

    app.cleanup_ctx.extend(
        (database, webhooks, event_tail, group_commit, observation, engine, schedule)
    )
    return app


def _tune_gc() -> None:
    """Live conferences keep many small objects; with the default thresholds the collector
    walks all of them every few thousand allocations (40 % of an observation's cost at 200
    live callers). What exists at startup is frozen out of collection; collections are
    rarer. Cycles are still collected."""
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, 50_000), max(gen1, 20), max(gen2, 20))


def _write_admin_key(data_dir: Path, key: str) -> None:
    path = data_dir / ADMIN_KEY_FILE
    path.write_text(key + "\n")
    path.chmod(0o600)
    log.warning("created the admin account; its API key is in %s (shown once)", path.resolve())
