"""The one protocol every engine implements.

Services send engine-neutral commands (`bridge.core.engine`); engines report observations
to the sink and ask the router what to do with each arriving caller. Engines never decide
policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bridge.core.admission import Admission
from bridge.core.engine import Command
from bridge.core.models import Conference, MediaItem, Participant
from bridge.pbx.observations import ObservationQueue

# every engine reports into the one queue the observer drains (pbx/observations.py)
ObservationSink = ObservationQueue


@dataclass(frozen=True, slots=True)
class InboundCall:
    """A caller dialled `access_code`; `pin` is None until the engine collected one."""

    access_code: str
    caller_id: str | None
    call_ref: str
    pin: str | None = None
    caller_name: str | None = None  # display name, if the caller sent one


@dataclass(frozen=True, slots=True)
class Route:
    """The router's answer: the decision, and when admitted, who the caller now is."""

    admission: Admission
    conference: Conference | None = None
    participant: Participant | None = None


class CallRouter(Protocol):
    async def route(self, call: InboundCall) -> Route: ...


class Backend(Protocol):
    name: str

    async def start(self, sink: ObservationSink, router: CallRouter) -> None: ...

    async def stop(self) -> None: ...

    @property
    def available(self) -> bool:
        """Whether a command sent now can reach the engine (its control link is up). While it
        is not, the API refuses every change that needs the engine (503 engine_unavailable)
        and changes nothing; after the link is back the engine reports a Snapshot, and the
        observer converges our state on it."""
        ...

    async def execute(self, command: Command) -> None:
        """Carry out one command; raise EngineError when the engine refuses or is down."""
        ...

    def health(self) -> dict[str, Any]: ...

    def media_problem(self, item: MediaItem) -> str | None:
        """Why this engine cannot play `item` (None: it can). Asked before a command is
        accepted, so the API can refuse it instead of failing after the commit."""
        ...


class EngineError(Exception):
    """The engine could not carry out a command (down, refused, unknown call)."""
