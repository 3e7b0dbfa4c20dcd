"""One error shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bridge.api import jsonbody
from bridge.core.errors import CATALOGUE, KIND_STATUS, BridgeError, ErrorCode

log = logging.getLogger(__name__)

STATUS = KIND_STATUS
# The code for an HTTP error aiohttp raises itself (unknown route, method, a body too large).
_HTTP_ERRORS: tuple[ErrorCode, ...] = (
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
)
HTTP_CODES: dict[int, ErrorCode] = {CATALOGUE[c].status: c for c in _HTTP_ERRORS}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(
    status: int, code: ErrorCode, message: str, details: dict[str, Any] | None = None
) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    headers = {"WWW-Authenticate": 'Bearer realm="bridge"'} if status == 401 else None
    return jsonbody.response(body, status=status, headers=headers)


def response_for(request: web.Request, exc: Exception) -> web.Response:
    """The error response for `exc` (the route's endpoint and the middleware both answer with
    it, so a route's metrics see the status the client gets). An HTTP exception below 400 is
    not an error: it is raised again for aiohttp to answer."""
    if isinstance(exc, BridgeError):
        return error_response(exc.status, exc.code, exc.message, exc.details)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        code = HTTP_CODES.get(exc.status, "http_error")
        message = exc.reason if exc.status != 404 else "no such resource or route"
        return error_response(exc.status, code, message)
    if isinstance(exc, json.JSONDecodeError):
        return error_response(400, "invalid_json", f"the body is not valid JSON: {exc.msg}")
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, "internal_error", "an internal error occurred; it was logged")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What no route's endpoint answered itself: unknown paths (404), methods (405)."""
    try:
        return await handler(request)
    except Exception as exc:
        return response_for(request, exc)
