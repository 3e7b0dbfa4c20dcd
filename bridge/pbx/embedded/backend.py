"""The embedded engine's Backend.

Its SIP user agent and RTP mixer are being built on the sans-IO codecs in
bridge/protocols and the kernel in bridge/media. Until they are wired in, this backend
accepts every command so the API works end to end, reports dial-outs as failed (there is
no SIP stack to place them yet), and says so in /healthz.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.core import engine as cmd
from bridge.core import engine as obs
from bridge.core.models import FailureReason
from bridge.pbx.backend import CallRouter, ObservationSink


class EmbeddedBackend:
    name = "embedded"

    def __init__(self) -> None:
        self._sink: ObservationSink | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, sink: ObservationSink, router: CallRouter) -> None:
        self._sink = sink

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def execute(self, command: cmd.Command) -> None:
        if isinstance(command, cmd.Originate) and self._sink is not None:
            # No SIP stack yet: the call cannot be placed. Reported, not raised, so the
            # participant ends as failed like any unreachable destination.
            await self._sink(obs.CallFailed(command.participant.id, FailureReason.ERROR))

    def health(self) -> dict[str, Any]:
        try:
            from bridge.media.mixer import IMPLEMENTATION

            mixer = IMPLEMENTATION
        except ImportError:
            mixer = "unavailable"
        return {"name": self.name, "sip": "not yet available", "mixer": mixer}
