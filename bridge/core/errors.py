"""Domain errors with stable codes. The API maps `kind` to an HTTP status."""

from __future__ import annotations

from typing import Any, Literal

ErrorKind = Literal[
    "invalid", "not_found", "conflict", "unauthorized", "forbidden", "unavailable", "too_large"
]


class BridgeError(Exception):
    """An error a person can act on: a stable `code`, a readable `message`, `details`."""

    kind: ErrorKind = "invalid"

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details


class InvalidInput(BridgeError):
    kind = "invalid"


class NotFound(BridgeError):
    kind = "not_found"


class Conflict(BridgeError):
    kind = "conflict"


class Unauthorized(BridgeError):
    kind = "unauthorized"


class Forbidden(BridgeError):
    kind = "forbidden"


class Unavailable(BridgeError):
    kind = "unavailable"


def invalid_field(field: str, message: str, code: str = "invalid_field") -> InvalidInput:
    return InvalidInput(code, f"{field}: {message}", field=field)
