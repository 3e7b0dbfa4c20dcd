"""Test doubles, named as such.

FakeBackend stands in for an engine in the spine's tests: it records every command and
answers the way a well-behaved engine does (dial-outs answer and join, kicks and ends
make members leave), through the same observation sink a real engine uses.
"""

from __future__ import annotations

from typing import Any

from bridge.core import engine as e
from bridge.core.models import FailureReason, LeaveReason
from bridge.pbx.backend import CallRouter, InboundCall, ObservationSink, Route


class FakeBackend:
    name = "fake"

    def __init__(self) -> None:
        self.commands: list[e.Command] = []
        self.present: dict[str, set[str]] = {}  # conference id -> participant ids
        self.sink: ObservationSink | None = None
        self.router: CallRouter | None = None
        self.answer_dial_outs = True
        self.fail_next_with: FailureReason | None = None
        self.refuse: set[type] = set()
        self.available = True  # False: the control link is down (the API answers 503)

    async def start(self, sink: ObservationSink, router: CallRouter) -> None:
        self.sink, self.router = sink, router

    async def stop(self) -> None:
        pass

    def health(self) -> dict[str, Any]:
        return {"name": self.name}

    def media_problem(self, item: Any) -> str | None:
        return None

    def of(self, kind: type) -> list[Any]:
        return [c for c in self.commands if isinstance(c, kind)]

    async def _report(self, o: e.Observation) -> None:
        assert self.sink is not None
        self.sink.report(o)

    async def execute(self, command: e.Command) -> None:
        from bridge.pbx.backend import EngineError

        if type(command) in self.refuse:
            raise EngineError(f"refused {type(command).__name__}")
        self.commands.append(command)
        if isinstance(command, e.Originate):
            pid = command.participant.id
            if self.fail_next_with is not None:
                reason, self.fail_next_with = self.fail_next_with, None
                await self._report(e.CallFailed(pid, reason))
            elif self.answer_dial_outs:
                await self._report(e.CallAnswered(pid))
                await self.join(command.conference.id, pid)
        elif isinstance(command, e.Kick):
            await self.leave(command.conference.id, command.participant.id, command.reason)
        elif isinstance(command, e.EndConference):
            for pid in sorted(self.present.get(command.conference.id, ())):
                await self.leave(command.conference.id, pid, None)

    # what phones do -----------------------------------------------------------------

    async def join(self, conference_id: str, participant_id: str) -> None:
        self.present.setdefault(conference_id, set()).add(participant_id)
        await self._report(e.MemberJoined(participant_id, call_ref=f"fake-{participant_id}"))

    async def leave(
        self, conference_id: str, participant_id: str, reason: LeaveReason | None
    ) -> None:
        self.present.get(conference_id, set()).discard(participant_id)
        await self._report(e.MemberLeft(participant_id, reason))

    async def dial_in(
        self, access_code: str, *, pin: str | None = None, caller: str = "1001"
    ) -> Route:
        """A phone dials `access_code`; admitted callers join at once."""
        assert self.router is not None
        route = await self.router.route(InboundCall(access_code, caller, f"call-{caller}", pin))
        if route.participant is not None and route.conference is not None:
            await self.join(route.conference.id, route.participant.id)
        return route

    async def press(self, participant_id: str, digit: str) -> None:
        await self._report(e.DigitPressed(participant_id, digit))

    async def talk(self, participant_id: str, talking: bool) -> None:
        await self._report(e.TalkingChanged(participant_id, talking))
