"""What handlers reach through the application."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bridge.services.context import Services
from bridge.webhooks.dispatcher import Dispatcher


@dataclass
class AppState:
    services: Services
    dispatcher: Dispatcher
    openapi: dict[str, Any]
    docs_html: str


STATE: web.AppKey[AppState] = web.AppKey("bridge_state", AppState)
