"""What handlers reach through the application."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bridge.api import jsonbody
from bridge.services.context import Services
from bridge.webhooks.dispatcher import Dispatcher


@dataclass
class AppState:
    services: Services
    dispatcher: Dispatcher
    openapi: dict[str, Any]
    docs_html: str
    # the two documents never change while the app runs: encoded once, not per request
    openapi_json: bytes = field(init=False)
    docs_bytes: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.openapi_json = jsonbody.dumps(self.openapi)
        self.docs_bytes = self.docs_html.encode()


STATE: web.AppKey[AppState] = web.AppKey("bridge_state", AppState)
