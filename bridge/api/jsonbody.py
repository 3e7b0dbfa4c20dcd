"""JSON response bodies: one encoder for every response, cheaper than `web.json_response`
(which re-checks its arguments and builds a text body it then encodes)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bridge.core.errors import ErrorCode

CONTENT_TYPE = "application/json"
CHARSET = "utf-8"  # what aiohttp's json_response says; json.dumps writes ASCII anyway


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def response(
    obj: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """What `web.json_response` answers (same status, headers and Content-Type), faster."""
    return web.Response(
        body=dumps(obj), status=status, headers=headers, content_type=CONTENT_TYPE, charset=CHARSET
    )


# --- request bodies ----------------------------------------------------------------------

MAX_DEPTH = 32  # arrays and objects inside each other; the deepest schema needs 6


class BadBody(ValueError):
    """A body the API refuses before any validator sees it: `code` is the error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _no_constant(name: str) -> Any:
    raise BadBody("invalid_json", f"the body is not valid JSON: {name} is not a JSON number")


def parse(raw: bytes) -> Any:
    """Strict JSON: no NaN or Infinity (they would make what is read back invalid JSON),
    nesting at most MAX_DEPTH deep, every string valid Unicode (no lone surrogate) without
    NUL. Anything else raises BadBody."""
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise BadBody("too_deep", f"the body nests deeper than {MAX_DEPTH} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadBody("invalid_json", f"the body is not valid JSON: {exc}") from None
    check(data)
    return data


def check(data: Any) -> None:
    """Walk `data` without recursion: depth, and every key and string value."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise BadBody("too_deep", f"the body nests deeper than {MAX_DEPTH} levels")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    if text.isascii():
        if "\x00" in text:
            raise BadBody("invalid_text", "the body holds a NUL character (\\u0000)")
        return
    if not valid_unicode(text):
        raise BadBody("invalid_unicode", "the body holds invalid Unicode (a lone UTF-16 surrogate)")


def valid_unicode(text: str) -> bool:
    """True when `text` can be stored and sent as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
