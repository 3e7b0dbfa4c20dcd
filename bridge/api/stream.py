"""GET /v1/events/stream: the account's committed events as Server-Sent Events.

Each message is one event, the same object a webhook carries (`event_to_dict`), with
`id: <position>-<event id>` (services/events_feed.py: commit order across conferences).
A client that reconnects with `Last-Event-ID` (or `last_event_id`, or `after_sequence` with
`conference_id`) gets everything committed after that event, from the store, then the live
events from memory, with nothing lost and nothing twice. `: heartbeat` comments keep idle
connections (and proxies) awake. A client too slow to keep up (its buffer of
`Feed.buffer_events` events is full) is sent `event: error` with code `slow_consumer` and
disconnected; nobody else waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket

from aiohttp import web

from bridge.api.state import STATE
from bridge.core import validate as v
from bridge.core.errors import InvalidInput
from bridge.core.models import Event
from bridge.services import conferences
from bridge.services.accounts import Principal
from bridge.services.context import Services
from bridge.services.events_feed import START, Cursor, Feed, Filter, Subscriber, catch_up
from bridge.services.events_feed import cursor_for_sequence as _cursor_for_sequence
from bridge.webhooks.payload import event_to_dict

log = logging.getLogger(__name__)

FEED: web.AppKey[Feed] = web.AppKey("bridge_event_feed", Feed)

RETRY_MS = 2000  # what an EventSource waits before it reconnects
SEND_BUFFER = 64 * 1024  # the kernel's share of a connection's bound (SO_SNDBUF)
CLOSE_GRACE_SECONDS = 5.0  # a cut-off client gets this long to take its last message
_LAST_ID = re.compile(r"([0-9]{1,19})-(ev_[0-9a-z]{26})")
_TYPE = re.compile(r"[a-z_]{1,30}\.([a-z_]{1,30}|\*)")


def _cursor(raw: str) -> Cursor:
    m = _LAST_ID.fullmatch(raw)
    if m is None:
        raise InvalidInput(
            "invalid_last_event_id",
            "Last-Event-ID: must be an id this stream sent (<position>-<event id>)",
            field="Last-Event-ID",
        )
    return (int(m.group(1)), m.group(2))


def _types(raw: str | None) -> frozenset[str]:
    types = frozenset(x for x in (raw or "").split(",") if x)
    if len(types) > 50 or any(_TYPE.fullmatch(x) is None for x in types):
        raise InvalidInput(
            "invalid_field",
            "types: comma-separated event types (participant.joined) or families (participant.*)",
            field="types",
        )
    v.known_event_types(sorted(types), "types")
    return types


def _message(data: dict[str, object], *, id_: str | None = None, event: str | None = None) -> bytes:
    head = (f"id: {id_}\n" if id_ else "") + (f"event: {event}\n" if event else "")
    body = json.dumps(data, separators=(",", ":"), sort_keys=True)  # one line: no newlines
    return f"{head}data: {body}\n\n".encode()


def _event_messages(events: list[Event]) -> bytes:
    return b"".join(_message(event_to_dict(e), id_=f"{e.position}-{e.id}") for e in events)


async def stream_events(request: web.Request, who: Principal | None) -> web.StreamResponse:
    assert who is not None
    state = request.app[STATE]
    feed = request.app[FEED]
    services = state.services
    q = request.query
    conference_id = q.get("conference_id")
    if conference_id is not None:
        # someone else's conference is not found, as everywhere
        conference_id = (await conferences.get(services, who.account_id, conference_id)).id
    flt = Filter(who.account_id, conference_id, _types(q.get("types")))
    after: Cursor | None = None  # None: live events only
    raw_last = request.headers.get("Last-Event-ID") or q.get("last_event_id")
    raw_seq = q.get("after_sequence")
    if raw_last:
        after = _cursor(raw_last.strip())
    elif raw_seq is not None:
        if conference_id is None:
            raise InvalidInput(
                "invalid_field",
                "after_sequence: needs conference_id (sequences are per conference)",
                field="after_sequence",
            )
        if not raw_seq.isdigit() or len(raw_seq) > 12:
            raise InvalidInput(
                "invalid_field", "after_sequence: must be a whole number", field="after_sequence"
            )
        found = await _cursor_for_sequence(services, conference_id, int(raw_seq))
        if found is None:
            raise InvalidInput(
                "invalid_field",
                "after_sequence: the conference has no such event",
                field="after_sequence",
            )
        after = found

    # subscribe before reading the store: an event is then in the read or in the buffer
    sub = feed.subscribe(flt, after if after is not None else START)
    try:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # proxies: pass each message on at once
            }
        )
        await resp.prepare(request)
        _bound(request)
        await resp.write(f"retry: {RETRY_MS}\n\n".encode())
        if after is None:
            sub.catching_up = False  # no resume point: live events only
        else:
            await _catch_up(services, sub, resp)
        await resp.write(_message({"last_event_id": _id(sub.last)}, event="ready"))
        await _live(request, feed, sub, resp)
    except (ConnectionError, asyncio.CancelledError):
        pass  # the client went away, or the server is stopping
    finally:
        feed.unsubscribe(sub)
    return resp


def _id(c: Cursor) -> str | None:
    return f"{c[0]}-{c[1]}" if c[1] else None


def _bound(request: web.Request) -> None:
    """A small kernel send buffer: what a client has not read stays in its own bounded
    buffer, where it is seen, not in megabytes of socket memory."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)


async def _catch_up(services: Services, sub: Subscriber, resp: web.StreamResponse) -> None:
    while True:
        events, last_read, more = await catch_up(services, sub)
        fresh = sub.fresh(events)
        if fresh:
            await resp.write(_event_messages(fresh))
        sub.last = max(sub.last, last_read)
        if sub.overflowed:  # the buffer filled while we read: what it had is in the store
            sub.overflowed = False
            sub.buffer.clear()
            continue
        if not more:
            sub.catching_up = False  # no await since the check: nothing slips between
            return


async def _live(
    request: web.Request, feed: Feed, sub: Subscriber, resp: web.StreamResponse
) -> None:
    while True:
        if not sub.buffer and not sub.overflowed and not sub.closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.wake.wait(), feed.heartbeat_seconds)
        if sub.closing:
            await _end(request, resp, "shutting_down", "the bridge is stopping; reconnect")
            return
        if sub.overflowed:
            await _cut_off(request, feed, sub, resp)
            return
        events = sub.take()
        data = _event_messages(events) if events else b": heartbeat\n\n"
        if not await _write_unless_cut(sub, resp, data):
            await _cut_off(request, feed, sub, resp)
            return


async def _write_unless_cut(sub: Subscriber, resp: web.StreamResponse, data: bytes) -> bool:
    """Write; False if the subscriber overflowed while the write waited for the client."""
    write = asyncio.ensure_future(resp.write(data))
    cut = asyncio.ensure_future(sub.cut.wait())
    try:
        await asyncio.wait({write, cut}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        cut.cancel()
    if write.done():
        write.result()  # a ConnectionError ends the stream
        return True
    write.cancel()  # its bytes are queued; only the wait for the client is given up
    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
        await write
    return False


async def _cut_off(
    request: web.Request, feed: Feed, sub: Subscriber, resp: web.StreamResponse
) -> None:
    log.info(
        "event stream of account %s cut off: more than %d events behind",
        sub.filter.account_id,
        sub.limit,
    )
    await _end(
        request,
        resp,
        "slow_consumer",
        f"more than {sub.limit} events behind; reconnect with Last-Event-ID to resume",
        last=sub.last,
    )


async def _end(
    request: web.Request,
    resp: web.StreamResponse,
    code: str,
    message: str,
    last: Cursor | None = None,
) -> None:
    """The last message says why; then the response ends (or, if the client takes nothing
    within the grace time, the connection is dropped)."""
    data: dict[str, object] = {"code": code, "message": message}
    if last is not None:
        data["last_event_id"] = _id(last)
    try:
        await asyncio.wait_for(resp.write_eof(_message(data, event="error")), CLOSE_GRACE_SECONDS)
    except (TimeoutError, ConnectionError):
        if request.transport is not None:
            request.transport.abort()


SUMMARY = (
    "The account's events as Server-Sent Events (text/event-stream), live: the webhook's event "
    "objects, each with `id: <position>-<event id>`. Resume with the Last-Event-ID header (or "
    "last_event_id, or after_sequence with conference_id): nothing is lost or repeated. "
    "Filter with conference_id and types (participant.joined,conference.*). `: heartbeat` "
    "comments every 15 s; a client more than 1000 events behind gets `event: error` with "
    "code slow_consumer and is disconnected."
)


HEADERS = [
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "Resume after this event: the `id` of the last message received "
        "(`<position>-<event id>`), on this bridge process or any other on the same store.",
        "schema": {"type": "string", "pattern": "^[0-9]{1,19}-ev_[0-9a-z]{26}$"},
    }
]


async def close(feed: Feed) -> None:
    """App shutdown: open streams end now rather than hold the server's stop up."""
    feed.close()
