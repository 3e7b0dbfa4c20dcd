"""The cloud APIs the bridge also speaks natively (FreeClimb, Aculab, VoIPbin): one module
per vendor, each a translation layer over bridge.services.

Their routes join the route table as `public` (the route's endpoint asks for no key) because
each facade authenticates itself, in its vendor's way, and answers in its vendor's error
shape; `extra["security"]` tells the OpenAPI document which credentials they take.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bridge.api.facades import aculab, freeclimb, voipbin
from bridge.api.facades.openapi import describe
from bridge.api.ops import Op

__all__ = ["OPS", "TAGS", "describe"]

TAGS = (
    {
        "name": freeclimb.TAG,
        "description": "FreeClimb's Conference and Participant resources "
        "under /apiserver (Basic auth: account id and API key)",
    },
    {
        "name": aculab.TAG,
        "description": "Aculab Cloud's conference web services and the "
        "connect_to_conference action (GET or POST; Basic auth: cloudID/username and API key)",
    },
    {
        "name": voipbin.TAG,
        "description": "VoIPbin's conferences and conferencecalls under "
        "/v1.0 (Bearer API key, ?accesskey= or ?token=)",
    },
)


def _documented(
    ops: tuple[Op, ...], security: list[dict[str, list[str]]], error: Any
) -> tuple[Op, ...]:
    return tuple(
        replace(op, extra={**op.extra, "security": security, "error": error}) for op in ops
    )


OPS: tuple[Op, ...] = (
    _documented(freeclimb.OPS, [{"basic": []}], freeclimb.FreeClimbError)
    + _documented(aculab.OPS, [{"basic": []}], aculab.AculabError)
    + _documented(voipbin.OPS, [{"bearer": []}, {"accesskey": []}, {"token": []}], None)
)
