"""The AMI connection: panoramisk underneath, our codec's checks and bookkeeping on top.

panoramisk owns the socket, the login and the framing. It writes action values
verbatim (a CR/LF in a value injects a second action), so every action is first
built by ``bridge.protocols.ami`` (each value through ``safe_value``), and only that
checked header list is handed to ``send_action``. Replies are re-read through our
``ActionTracker``, which checks EventList completion (``ListItems``) and maps the
"nothing to list" errors to an empty list.

On top of panoramisk: reconnect with capped exponential backoff (panoramisk retries
on a fixed period), no replay of actions queued while disconnected (panoramisk
re-sends them after the next ``FullyBooted``, which would re-run a stale Kick or
Originate), a timeout on every action, and an ``on_ready`` hook that runs after each
(re)connect once Asterisk has sent ``FullyBooted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from panoramisk import Manager
from panoramisk.message import Message

from bridge.protocols import ami
from bridge.protocols.ami import ActionResult, ActionTracker, AmiAction, AmiEvent, AmiParser
from bridge.protocols.safe import safe_value

log = logging.getLogger(__name__)

EventHandler = Callable[[AmiEvent], None]
ReadyHandler = Callable[[], Awaitable[None]]

# Every action we send; none of them may be replayed by panoramisk after a reconnect.
_NEVER_REPLAY = (
    "login",
    "ping",
    "logoff",
    "confbridgelist",
    "confbridgelistrooms",
    "confbridgekick",
    "confbridgemute",
    "confbridgeunmute",
    "coreshowchannels",
    "redirect",
    "originate",
    "hangup",
    "setvar",
    "getvar",
    "mixmonitormute",
    "userevent",
)


class AmiUnavailable(ConnectionError):
    """Not connected (or not yet FullyBooted): the action was not sent."""


def to_event(message: Message) -> AmiEvent:
    """A panoramisk message as our typed event (repeated keys become repeated headers)."""
    headers: list[tuple[str, str]] = []
    for key, value in message.items():
        values = value if isinstance(value, list) else [value]
        headers.extend((str(key), str(v)) for v in values)
    return AmiEvent(tuple(headers))


def _to_messages(reply: Any) -> list[ami.AmiMessage]:
    out: list[ami.AmiMessage] = []
    for message in reply if isinstance(reply, list) else [reply]:
        event = to_event(message)
        if "response" in message and "event" not in message:
            out.append(ami.AmiResponse(event.headers))
        else:
            out.append(event)
    return out


def checked_headers(action: AmiAction) -> dict[str, str | list[str]]:
    """The action's checked wire form, read back as the dict panoramisk sends.

    The payload was built by our codec, so every key and value already passed
    ``safe_value``; reading it back (instead of keeping a second copy) guarantees that
    panoramisk writes exactly what was checked. Repeated keys (``Variable``) become lists.
    """
    parsed = AmiParser(expect_banner=False).feed(action.payload)
    if len(parsed) != 1 or not isinstance(parsed[0], ami.AmiMessage):
        raise ValueError(f"action {action.name} does not encode to one block")
    return parsed[0].as_dict()


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with our reconnect policy instead of its fixed retry."""

    def __init__(self, owner: AmiClient, **config: Any) -> None:
        super().__init__(**config)
        self._owner = owner

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.cancelled() or f.exception() is not None:
            self._owner._schedule_reconnect(repr(f.exception()) if not f.cancelled() else "cancel")
            return
        super().connection_made(f)

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        if self.pinger:  # type: ignore[has-type]
            self.pinger.cancel()  # type: ignore[has-type]
            self.pinger = None
        self.awaiting_actions.clear()
        self._owner._on_lost(exc)


class AmiClient:
    """One AMI session that stays up: ``start()``, ``send(action)``, ``stop()``."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        on_event: EventHandler,
        on_ready: ReadyHandler,
        events: str = "on",
        action_timeout: float = 10.0,
        backoff_base: float = 0.2,
        backoff_cap: float = 2.0,
        ping_seconds: int = 20,
    ) -> None:
        # panoramisk writes the login verbatim too: check it like any other value.
        self._username = safe_value(username, "token")
        self._secret = safe_value(secret, "token")
        self._host = safe_value(host, "dial_target")
        self._port = int(port)
        self._events = events
        self._on_event = on_event
        self._on_ready = on_ready
        self.action_timeout = action_timeout
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._ping_seconds = ping_seconds
        self._manager: _Manager | None = None
        self._ready = asyncio.Event()
        self._attempt = 0
        self._stopping = False
        self._retry: asyncio.TimerHandle | None = None
        self._ready_task: asyncio.Task[None] | None = None
        self.connects = 0  # successful (re)connects, for health and tests
        # actions sent and not answered: failed at once when the link goes (panoramisk
        # would drop them silently and leave us waiting out the action timeout)
        self._in_flight: dict[asyncio.Future[Any], str] = {}
        self.last_error: str | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._manager = _Manager(
            self,
            loop=loop,
            host=self._host,
            port=self._port,
            username=self._username,
            secret=self._secret,
            events=self._events,
            ping_delay=self._ping_seconds,
            ping_interval=self._ping_seconds,
            forgetable_actions=_NEVER_REPLAY,
            on_login=self._logged_in,
        )
        self._manager.register_event("*", self._dispatch)
        self._manager.connect()

    async def wait_ready(self, within: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._ready.wait()
        return self._ready.is_set()

    async def stop(self) -> None:
        self._stopping = True
        self._ready.clear()
        if self._retry is not None:
            self._retry.cancel()
        if self._ready_task is not None:
            self._ready_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ready_task
        if self._manager is not None:
            self._manager.close()

    def drop(self) -> None:
        """Abort the TCP connection (tests; also used when a reply never comes)."""
        manager = self._manager
        if manager is not None and manager.protocol is not None:
            manager.protocol.transport.abort()

    # ------------------------------------------------------------------ connection events

    def _logged_in(self, manager: Manager) -> None:
        log.info("AMI logged in to %s:%s", self._host, self._port)

    def _schedule_reconnect(self, why: str) -> None:
        if self._stopping or self._manager is None:
            return
        self.last_error = why
        delay = min(self._backoff_cap, self._backoff_base * (2**self._attempt))
        delay *= 0.5 + random.random() / 2  # jitter: several bridges do not stampede
        self._attempt += 1
        log.warning("AMI not connected (%s); retrying in %.1fs", why, delay)
        self._retry = asyncio.get_running_loop().call_later(delay, self._manager.connect)

    def _on_lost(self, exc: object) -> None:
        self._ready.clear()
        if self._ready_task is not None:
            self._ready_task.cancel()
        for future, name in list(self._in_flight.items()):
            if not future.done():  # Asterisk may or may not have carried it out
                future.set_exception(AmiUnavailable(f"AMI connection lost with {name} in flight"))
        self._in_flight.clear()
        self._schedule_reconnect(f"connection lost: {exc!r}")

    def _dispatch(self, manager: Manager, message: Message) -> None:
        event = to_event(message)
        if event.name == "FullyBooted" and not self._ready.is_set():
            self._attempt = 0
            self._ready_task = asyncio.create_task(self._become_ready(), name="ami-ready")
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("AMI event handler failed on %s", event.name)

    async def _become_ready(self) -> None:
        """After FullyBooted: let the owner resync, then accept actions from everyone."""
        try:
            await self._on_ready()
        except (AmiUnavailable, TimeoutError) as exc:
            log.warning("AMI resync failed (%r); reconnecting", exc)
            self.drop()
            return
        self.connects += 1
        self._ready.set()

    # ------------------------------------------------------------------ actions

    async def send(
        self, action: AmiAction, *, within: float | None = None, before_ready: bool = False
    ) -> ActionResult:
        """Send one checked action and wait for its complete answer.

        ``before_ready`` lets the resync run between FullyBooted and readiness.
        """
        manager = self._manager
        connected = (
            manager is not None
            and manager.protocol is not None
            and not manager.protocol.closed
            and manager._connected
        )
        if not connected or not (self._ready.is_set() or before_ready):
            raise AmiUnavailable(f"AMI is not connected; {action.name} not sent")
        assert manager is not None
        headers = checked_headers(action)
        # as_list stays None: panoramisk then finds list replies by "EventList: start" and
        # still completes a plain "Response: Error" (as_list=True would wait forever).
        future = manager.send_action(headers)
        self._in_flight[future] = action.name
        try:
            async with asyncio.timeout(within or self.action_timeout):
                reply = await future
        except TimeoutError:
            future.cancel()
            raise
        finally:
            self._in_flight.pop(future, None)
        tracker = ActionTracker()
        tracker.register(action)
        for message in _to_messages(reply):
            for result in tracker.feed(message):
                return result
        # panoramisk completed the future on something our tracker does not call final
        # (e.g. an originate answered Success before its OriginateResponse).
        return ActionResult(action.action_id, action.name, True, "", None)
