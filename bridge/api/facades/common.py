"""What the vendor facades share: credentials, parameters (JSON, form or query), error
rendering in each vendor's shape, and the wrapper that gives a facade handler all three.

A facade is a translation layer: it renames fields and statuses and calls the same use cases
as /v1 (bridge/services). It decides no rule itself.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from typing import Any, Protocol, TypeVar

from aiohttp import web

from bridge.api import jsonbody
from bridge.api.errors import HTTP_CODES, response_for
from bridge.api.ops import Op, OpHandler
from bridge.api.state import STATE
from bridge.core.errors import BridgeError, InvalidInput, Unauthorized
from bridge.services import accounts
from bridge.services.accounts import Principal
from bridge.services.context import Services

log = logging.getLogger(__name__)

# how one vendor renders a failure: (request, exception) -> response
ErrorRenderer = Callable[[web.Request, Exception], web.Response]
# a facade handler: the request, the caller's principal, the vendor's parameters
FacadeHandler = Callable[[web.Request, Principal, dict[str, Any]], Awaitable[web.StreamResponse]]
# what the vendor's user name part of Basic auth must say: (user, principal) -> ok
UserCheck = Callable[[str, Principal], bool]


class _Row(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Row)
# one page of a use case's list: (after this id, at most n rows) -> rows in id order
Fetch = Callable[[str | None, int], Awaitable[list[R]]]
BATCH = 500  # rows per query while reading every row of a list

MAX_PARAMS = 64  # more parameters than any vendor operation has: refused, not parsed


def services(request: web.Request) -> Services:
    return request.app[STATE].services


def basic_credentials(request: web.Request) -> tuple[str, str]:
    """(user, API key) from Basic auth; a Bearer key is accepted too, with an empty user."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return "", value.strip()
    if scheme.lower() == "basic" and value:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise Unauthorized("invalid_credentials", "malformed Basic credentials") from exc
        if sep and password:
            return user, password
    raise Unauthorized(
        "missing_credentials", "send Basic credentials: your account's user and API key"
    )


async def params(request: web.Request) -> dict[str, Any]:
    """The request's parameters: the query string, then a JSON object or a form body over it
    (Aculab's web services take either; FreeClimb and VoIPbin send JSON)."""
    out: dict[str, Any] = {}
    for key, value in request.query.items():
        out[key] = value
    if request.body_exists:
        raw = await request.read()
        if request.content_type == "application/json" or (
            request.content_type in ("", "application/octet-stream") and raw.lstrip()[:1] == b"{"
        ):
            try:
                data = json.loads(raw or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InvalidInput("invalid_json", f"the body is not valid JSON: {exc}") from exc
            if not isinstance(data, dict):
                raise InvalidInput("invalid_json", "the body must be a JSON object")
            out.update(data)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            try:
                form = await request.post()
            except ValueError as exc:  # e.g. multipart/form-data without a boundary
                raise InvalidInput(
                    "unsupported_media_type", f"the form body cannot be read: {exc}"
                ) from exc
            for key, field_value in form.items():
                if not isinstance(field_value, str):
                    raise InvalidInput("invalid_field", f"{key}: must be text, not a file")
                out[key] = field_value
        elif raw.strip():
            raise InvalidInput(
                "unsupported_media_type", "send JSON or form parameters (or a query string)"
            )
    if len(out) > MAX_PARAMS:
        raise InvalidInput("too_many_parameters", f"at most {MAX_PARAMS} parameters")
    return out


def facade(
    render_error: ErrorRenderer,
    check_user: UserCheck,
    credentials: Callable[[web.Request], tuple[str, str]] = basic_credentials,
) -> Callable[[FacadeHandler], OpHandler]:
    """Wrap a facade handler: authenticate the Basic credentials (the key names the account,
    `check_user` checks the vendor's user part), parse the parameters, and render any failure
    in the vendor's error shape. The route table lists the wrapped handler as public because
    it authenticates here; its Op's extra["security"] documents how."""

    def wrap(handler: FacadeHandler) -> OpHandler:
        @wraps(handler)
        async def endpoint(request: web.Request, _: Principal | None) -> web.StreamResponse:
            try:
                user, key = credentials(request)
                principal = await accounts.authenticate(services(request), key)
                if user and not check_user(user, principal):
                    raise Unauthorized("invalid_api_key", "the API key belongs to another account")
                return await handler(request, principal, await params(request))
            except Exception as exc:
                if isinstance(exc, web.HTTPException) and exc.status < 400:
                    raise
                return render_error(request, exc)

        return endpoint

    return wrap


def our_error(request: web.Request, exc: Exception) -> web.Response:
    """Our JSON error shape, for a vendor that documents none of its own."""
    return response_for(request, exc)


def status_of(exc: Exception) -> tuple[int, str, str, dict[str, Any]]:
    """(HTTP status, stable code, message, details) of a failure, as /v1 would answer it."""
    if isinstance(exc, BridgeError):
        return exc.status, exc.code, exc.message, exc.details
    if isinstance(exc, web.HTTPException):
        return exc.status, HTTP_CODES.get(exc.status, "http_error"), exc.reason, {}
    if isinstance(exc, json.JSONDecodeError):
        return 400, "invalid_json", f"the body is not valid JSON: {exc.msg}", {}
    log.error("unhandled error in a facade", exc_info=exc)
    return 500, "internal_error", "an internal error occurred; it was logged", {}


async def every(fetch: Fetch[R]) -> list[R]:
    """Every row of a keyset-paged list, read in batches (a vendor list with no paging of its
    own, or one whose page numbers and totals count every row)."""
    rows: list[R] = []
    after: str | None = None
    while True:
        batch = await fetch(after, BATCH)
        rows.extend(batch)
        if len(batch) < BATCH:
            return rows
        after = batch[-1].id


def reply(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return jsonbody.response(body, status=status, headers=headers)


def flag(value: Any, field: str) -> bool:
    """A boolean as JSON (true/false) or as form text (true/false, 1/0, yes/no)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
    raise InvalidInput("invalid_field", f"{field}: must be true or false", field=field)


def whole(value: Any, field: str) -> int:
    """An integer as JSON or as form text; the use case checks its range."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) <= 9:
        return int(value)
    raise InvalidInput("invalid_field", f"{field}: must be a whole number", field=field)


def text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput("invalid_field", f"{field}: must be a string", field=field)
    return value


def reject_unknown(body: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(
            "unknown_field", f"{what}: unknown parameter(s) {', '.join(unknown)}", fields=unknown
        )


def route(
    tag: str,
    method: str,
    path: str,
    handler: OpHandler,
    summary: str,
    params: Any,
    reply: Any = None,
    *,
    form: bool = False,
    **more: Any,
) -> Op:
    """One facade operation. Public to the /v1 key check, as `facade` authenticates; the
    OpenAPI document reads its vendor parameters (a TypedDict), reply and `form`
    (a POST body may be a form) from `extra` (facades/openapi.py)."""
    extra: dict[str, Any] = {"params": params}
    if reply is not None:
        extra["reply"] = reply
    if form:
        extra["form"] = True
    return Op(method, path, handler, summary, tag, auth="public", extra=extra, **more)
