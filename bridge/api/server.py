"""Serving the application so that even requests aiohttp refuses before any route (a header
over its size limit, a malformed request line) get the JSON error shape, and log one line
instead of a traceback: aiohttp answers those itself, in text/plain, from its connection
protocol, which only a runner of our own can replace."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from bridge.api import errors
from bridge.core.errors import ErrorCode

log = logging.getLogger(__name__)


class _Protocol(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            response = super().handle_error(request, status, exc, message)  # logs the traceback
            if request.writer.output_size > 0:
                return response
            out = errors.error_response(
                status, "internal_error", "an internal error occurred; it was logged"
            )
        else:
            # A client's mistake: one line, no traceback, the client's bytes not repeated.
            log.info(
                "refused a malformed request from %s: %s %s",
                request.remote,
                status,
                type(exc).__name__ if exc is not None else "",
            )
            if request.writer.output_size > 0:
                raise ConnectionError("the response had begun; the connection is closed")
            code: ErrorCode
            if isinstance(exc, LineTooLong):
                code, text = "header_too_large", "a request line or header is too long"
            elif isinstance(exc, BadHttpMethod):
                code, text = "bad_method", "the request method is not valid"
            else:
                code = errors.HTTP_CODES.get(status, "bad_request")
                text = "the request is not valid HTTP/1.1"
            out = errors.error_response(status, code, text)
        out.force_close()
        return out


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer protocol errors with the JSON error shape."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _Server  # same state; only how connections are made differs
        return server
