"""The route table: every operation once, with what the OpenAPI document says about it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from bridge.services.accounts import Principal

Auth = Literal["public", "account", "admin"]
OpHandler = Callable[[web.Request, Principal | None], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    handler: OpHandler
    summary: str
    tag: str
    auth: Auth = "account"
    body: str | None = None  # component schema name of the JSON body
    response: str | None = None  # component schema name of the success body
    status: int = 200
    query: tuple[str, ...] = ()
    content_type: str = "application/json"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__
