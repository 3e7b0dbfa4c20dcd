"""Request handlers: parse the request, call a service, serialize the result."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from prometheus_client import generate_latest

from bridge import __version__
from bridge.api import jsonbody, serialize
from bridge.api.state import STATE, AppState
from bridge.core import validate as v
from bridge.core.errors import Forbidden, InvalidInput
from bridge.core.models import Conference
from bridge.services import (
    accounts,
    conferences,
    media,
    operations,
    participants,
    reservations,
)
from bridge.services.accounts import Principal
from bridge.webhooks.payload import event_to_dict

_PAGE_AFTER = re.compile(v.PAGE_AFTER)


def _state(request: web.Request) -> AppState:
    return request.app[STATE]


def _who(principal: Principal | None) -> Principal:
    assert principal is not None  # the route table requires auth for this handler
    return principal


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    if request.content_type != "application/json":
        raise InvalidInput("unsupported_media_type", "send the body as application/json")
    raw = await request.read()
    try:
        data = jsonbody.parse(raw or b"{}")
    except jsonbody.BadBody as exc:
        raise InvalidInput(exc.code, exc.message) from None
    if not isinstance(data, dict):
        raise InvalidInput("invalid_json", "the body must be a JSON object")
    return data


def _whole_number(raw: str, max_digits: int = 12) -> int | None:
    """ASCII digits only: `str.isdigit()` also accepts digits (²) that `int()` refuses."""
    if not 1 <= len(raw) <= max_digits or not raw.isascii() or not raw.isdigit():
        return None
    return int(raw)


def _limit(request: web.Request, default: int = 50) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    lo, hi = v.PAGE_SIZE
    value = _whole_number(raw, len(str(hi)))
    if value is None or not lo <= value <= hi:
        raise InvalidInput("invalid_field", f"limit: must be {lo} to {hi}", field="limit")
    return value


def _after(request: web.Request) -> str | None:
    raw = request.query.get("after")
    if raw is not None and _PAGE_AFTER.fullmatch(raw) is None:
        raise InvalidInput(
            "invalid_field", "after: must be an id from a previous page", field="after"
        )
    return raw


def _statuses(request: web.Request) -> list[str]:
    raw = request.query.get("status")
    return [s for s in raw.split(",") if s] if raw else []


def _page(items: list[dict[str, Any]], ids: list[str], limit: int) -> web.Response:
    next_after = ids[-1] if len(ids) == limit else None
    return jsonbody.response({"items": items, "next_after": next_after})


# --- conferences -------------------------------------------------------------------------


async def _shown(
    request: web.Request, who: Principal | None, confs: list[Conference]
) -> list[dict[str, Any]]:
    """Conferences as shown, each with the reservation that booked it (one query)."""
    booked = await reservations.of_conferences(
        _state(request).services, _who(who).account_id, confs
    )
    return [
        serialize.conference(c, booked.get(c.reservation_id) if c.reservation_id else None)
        for c in confs
    ]


async def create_conference(request: web.Request, who: Principal | None) -> web.Response:
    conf = await conferences.create(
        _state(request).services, _who(who).account_id, await _body(request)
    )
    return jsonbody.response(serialize.conference(conf), status=201)


async def list_conferences(request: web.Request, who: Principal | None) -> web.Response:
    limit = _limit(request)
    name = request.query.get("name")
    items = await conferences.list_(
        _state(request).services,
        _who(who).account_id,
        status=_statuses(request),
        name=name,
        after=_after(request),
        limit=limit,
    )
    return _page(await _shown(request, who, items), [c.id for c in items], limit)


async def get_conference(request: web.Request, who: Principal | None) -> web.Response:
    conf = await conferences.get(
        _state(request).services, _who(who).account_id, request.match_info["conference_id"]
    )
    return jsonbody.response((await _shown(request, who, [conf]))[0])


async def update_conference(request: web.Request, who: Principal | None) -> web.Response:
    conf = await conferences.update(
        _state(request).services,
        _who(who).account_id,
        request.match_info["conference_id"],
        await _body(request),
    )
    return jsonbody.response((await _shown(request, who, [conf]))[0])


async def terminate_conference(request: web.Request, who: Principal | None) -> web.Response:
    conf = await conferences.update(
        _state(request).services,
        _who(who).account_id,
        request.match_info["conference_id"],
        {"status": "terminated"},
    )
    return jsonbody.response((await _shown(request, who, [conf]))[0])


async def list_events(request: web.Request, who: Principal | None) -> web.Response:
    services = _state(request).services
    conf = await conferences.get(
        services, _who(who).account_id, request.match_info["conference_id"]
    )
    after_sequence = _whole_number(
        request.query.get("after_sequence", "0"), v.AFTER_SEQUENCE_DIGITS
    )
    if after_sequence is None:
        raise InvalidInput(
            "invalid_field", "after_sequence: must be a whole number", field="after_sequence"
        )
    limit = _limit(request, 100)
    events = await operations.list_events(
        services, conf.id, after_sequence=after_sequence, limit=limit
    )
    next_after = events[-1].sequence if len(events) == limit else None
    return jsonbody.response(
        {"items": [event_to_dict(e) for e in events], "next_after_sequence": next_after}
    )


# --- participants ------------------------------------------------------------------------


async def create_participant(request: web.Request, who: Principal | None) -> web.Response:
    p = await participants.dial_out(
        _state(request).services,
        _who(who).account_id,
        request.match_info["conference_id"],
        await _body(request),
    )
    return jsonbody.response(serialize.participant(p), status=201)


async def list_participants(request: web.Request, who: Principal | None) -> web.Response:
    limit = _limit(request, 100)
    items = await participants.list_(
        _state(request).services,
        _who(who).account_id,
        request.match_info["conference_id"],
        status=_statuses(request),
        after=_after(request),
        limit=limit,
    )
    return _page([serialize.participant(p) for p in items], [p.id for p in items], limit)


async def get_participant(request: web.Request, who: Principal | None) -> web.Response:
    p = await participants.get(
        _state(request).services,
        _who(who).account_id,
        request.match_info["conference_id"],
        request.match_info["participant_id"],
    )
    return jsonbody.response(serialize.participant(p))


async def update_participant(request: web.Request, who: Principal | None) -> web.Response:
    p = await participants.update(
        _state(request).services,
        _who(who).account_id,
        request.match_info["conference_id"],
        request.match_info["participant_id"],
        await _body(request),
    )
    return jsonbody.response(serialize.participant(p))


async def eject_participant(request: web.Request, who: Principal | None) -> web.Response:
    p = await participants.eject(
        _state(request).services,
        _who(who).account_id,
        request.match_info["conference_id"],
        request.match_info["participant_id"],
    )
    return jsonbody.response(serialize.participant(p))


# --- announcements and recordings --------------------------------------------------------


async def create_announcement(request: web.Request, who: Principal | None) -> web.Response:
    result = await media.announce(
        _state(request).services,
        _who(who).account_id,
        request.match_info["conference_id"],
        await _body(request),
    )
    return jsonbody.response(result, status=202)


async def start_recording(request: web.Request, who: Principal | None) -> web.Response:
    await _body(request)
    rec = await media.start_recording(
        _state(request).services, _who(who).account_id, request.match_info["conference_id"]
    )
    return jsonbody.response(serialize.recording(rec), status=201)


async def list_recordings(request: web.Request, who: Principal | None) -> web.Response:
    items = await media.list_recordings(
        _state(request).services, _who(who).account_id, request.match_info["conference_id"]
    )
    return jsonbody.response({"items": [serialize.recording(r) for r in items], "next_after": None})


async def get_recording(request: web.Request, who: Principal | None) -> web.Response:
    rec = await media.get_recording(
        _state(request).services,
        _who(who).account_id,
        request.match_info["conference_id"],
        request.match_info["recording_id"],
    )
    return jsonbody.response(serialize.recording(rec))


async def update_recording(request: web.Request, who: Principal | None) -> web.Response:
    rec = await media.change_recording(
        _state(request).services,
        _who(who).account_id,
        request.match_info["conference_id"],
        request.match_info["recording_id"],
        await _body(request),
    )
    return jsonbody.response(serialize.recording(rec))


async def get_recording_audio(request: web.Request, who: Principal | None) -> web.StreamResponse:
    services = _state(request).services
    rec = await media.get_recording(
        services,
        _who(who).account_id,
        request.match_info["conference_id"],
        request.match_info["recording_id"],
    )
    path = media.recording_file(services, rec)
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


# --- reservations ------------------------------------------------------------------------


async def create_reservation(request: web.Request, who: Principal | None) -> web.Response:
    r = await reservations.create(
        _state(request).services, _who(who).account_id, await _body(request)
    )
    return jsonbody.response(serialize.reservation(r), status=201)


async def list_reservations(request: web.Request, who: Principal | None) -> web.Response:
    limit = _limit(request)
    items = await reservations.list_(
        _state(request).services,
        _who(who).account_id,
        status=_statuses(request),
        after=_after(request),
        limit=limit,
    )
    return _page([serialize.reservation(r) for r in items], [r.id for r in items], limit)


async def get_reservation(request: web.Request, who: Principal | None) -> web.Response:
    r = await reservations.get(
        _state(request).services, _who(who).account_id, request.match_info["reservation_token"]
    )
    return jsonbody.response(serialize.reservation(r))


async def extend_reservation(request: web.Request, who: Principal | None) -> web.Response:
    r = await reservations.extend(
        _state(request).services,
        _who(who).account_id,
        request.match_info["reservation_token"],
        await _body(request),
    )
    return jsonbody.response({"extended": True, "reservation": serialize.reservation(r)})


async def remove_reservation(request: web.Request, who: Principal | None) -> web.Response:
    r = await reservations.remove(
        _state(request).services, _who(who).account_id, request.match_info["reservation_token"]
    )
    return jsonbody.response({"removed": True, "reservation": serialize.reservation(r)})


# --- webhooks ----------------------------------------------------------------------------


async def create_subscription(request: web.Request, who: Principal | None) -> web.Response:
    row = await accounts.create_subscription(
        _state(request).services, _who(who).account_id, await _body(request)
    )
    return jsonbody.response(serialize.row(row), status=201)


async def list_subscriptions(request: web.Request, who: Principal | None) -> web.Response:
    rows = await accounts.list_subscriptions(_state(request).services, _who(who).account_id)
    return jsonbody.response(
        {"items": [serialize.row(r, hide=("secret",)) for r in rows], "next_after": None}
    )


async def get_subscription(request: web.Request, who: Principal | None) -> web.Response:
    row = await accounts.get_subscription(
        _state(request).services, _who(who).account_id, request.match_info["subscription_id"]
    )
    return jsonbody.response(serialize.row(row, hide=("secret",)))


async def delete_subscription(request: web.Request, who: Principal | None) -> web.Response:
    await accounts.delete_subscription(
        _state(request).services, _who(who).account_id, request.match_info["subscription_id"]
    )
    return jsonbody.response({"deleted": True})


async def list_deliveries(request: web.Request, who: Principal | None) -> web.Response:
    limit = _limit(request, 100)
    rows = await operations.list_deliveries(
        _state(request).services,
        _who(who).account_id,
        status=request.query.get("status"),
        conference_id=request.query.get("conference_id"),
        after=_after(request),
        limit=limit,
    )
    return _page([serialize.delivery(r) for r in rows], [r["id"] for r in rows], limit)


async def retry_delivery(request: web.Request, who: Principal | None) -> web.Response:
    state = _state(request)
    await operations.retry_delivery(
        state.services, _who(who).account_id, request.match_info["delivery_id"]
    )
    state.dispatcher.notify()
    return jsonbody.response({"retrying": True}, status=202)


# --- accounts and keys -------------------------------------------------------------------


async def get_own_account(request: web.Request, who: Principal | None) -> web.Response:
    row = await accounts.get_account(_state(request).services, _who(who).account_id)
    return jsonbody.response(serialize.row(row, hide=("webhook_secret",)))


async def rotate_webhook_secret(request: web.Request, who: Principal | None) -> web.Response:
    secret = await accounts.rotate_webhook_secret(_state(request).services, _who(who).account_id)
    return jsonbody.response({"webhook_secret": secret})


async def create_account(request: web.Request, who: Principal | None) -> web.Response:
    body = await _body(request)
    if set(body) - {"name", "is_admin"}:
        raise InvalidInput("unknown_field", "account: only name and is_admin can be set")
    is_admin = body.get("is_admin", False)
    if not isinstance(is_admin, bool):
        raise InvalidInput("invalid_field", "is_admin: must be true or false", field="is_admin")
    row = await accounts.create_account(
        _state(request).services, body.get("name", ""), is_admin=is_admin
    )
    return jsonbody.response(serialize.row(row), status=201)


async def list_accounts(request: web.Request, who: Principal | None) -> web.Response:
    limit = _limit(request)
    rows = await accounts.list_accounts(
        _state(request).services, after=_after(request), limit=limit
    )
    items = [serialize.row(r, hide=("webhook_secret",)) for r in rows]
    return _page(items, [r["id"] for r in rows], limit)


async def get_account(request: web.Request, who: Principal | None) -> web.Response:
    row = await accounts.get_account(_state(request).services, request.match_info["account_id"])
    return jsonbody.response(serialize.row(row, hide=("webhook_secret",)))


async def create_key(request: web.Request, who: Principal | None) -> web.Response:
    body = await _body(request)
    if set(body) - {"label"}:
        raise InvalidInput("unknown_field", "api key: only label can be set")
    row = await accounts.create_key(
        _state(request).services, request.match_info["account_id"], body.get("label")
    )
    return jsonbody.response(serialize.row(row, hide=("secret_hash",)), status=201)


async def list_keys(request: web.Request, who: Principal | None) -> web.Response:
    services = _state(request).services
    await accounts.get_account(services, request.match_info["account_id"])
    rows = await accounts.list_keys(services, request.match_info["account_id"])
    return jsonbody.response(
        {"items": [serialize.row(r, hide=("secret_hash",)) for r in rows], "next_after": None}
    )


async def revoke_key(request: web.Request, who: Principal | None) -> web.Response:
    if request.match_info["key_id"] == _who(who).key_id:
        raise Forbidden("cannot_revoke_own_key", "use another admin key to revoke this one")
    row = await accounts.revoke_key(
        _state(request).services, request.match_info["account_id"], request.match_info["key_id"]
    )
    return jsonbody.response(serialize.row(row, hide=("secret_hash",)))


# --- operations --------------------------------------------------------------------------


async def healthz(request: web.Request, who: Principal | None) -> web.Response:
    state = _state(request)
    db_ok = await operations.database_ok(state.services)
    body = {
        "status": "ok" if db_ok else "degraded",
        "version": __version__,
        "database": "ok" if db_ok else "unreachable",
        "engine": state.services.backend.health(),
    }
    return jsonbody.response(body, status=200 if db_ok else 503)


async def metrics(request: web.Request, who: Principal | None) -> web.Response:
    services = _state(request).services
    await operations.refresh_gauges(services)
    return web.Response(body=generate_latest(services.metrics.registry), content_type="text/plain")


async def openapi_json(request: web.Request, who: Principal | None) -> web.Response:
    return web.Response(
        body=_state(request).openapi_json,
        content_type=jsonbody.CONTENT_TYPE,
        charset=jsonbody.CHARSET,
    )


async def docs_page(request: web.Request, who: Principal | None) -> web.Response:
    return web.Response(body=_state(request).docs_bytes, content_type="text/html", charset="utf-8")
