"""The outbound ESL socket server: FreeSWITCH connects here once per dial-in call.

The dialplan's ``socket <host>:<port> async full`` hands each caller to us
(freeswitch-conf/dialplan). One ``CallSession`` per connection: read the channel
data, ask the router (core's admission decision), collect a PIN by DTMF when one is
needed, then refuse (busy, divert, not found, rejected, full) or admit: set the
member's channel variables and run ``conference`` — or keep the caller in our lobby
with their own wait media until the conference starts.

Replies on this socket come back in order, interleaved with the channel's events
(``myevents``), so commands are matched FIFO, each with a timeout.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass, replace
from typing import Final, Literal, Protocol

from bridge.core.admission import Outcome
from bridge.core.dialing import parse_dial_target
from bridge.core.models import Conference, Participant
from bridge.core.pin import PinDialog, PinPolicy, PinPrompt
from bridge.pbx.backend import CallRouter, InboundCall
from bridge.protocols import esl
from bridge.protocols.safe import UnsafeValueError, is_safe, safe_value

log = logging.getLogger(__name__)

# What each refusal becomes on the channel; FreeSWITCH turns the cause into the SIP code.
REFUSAL_CAUSE: Final[dict[Outcome, str]] = {
    Outcome.UNKNOWN: "UNALLOCATED_NUMBER",  # 404
    Outcome.WRONG_PIN: "CALL_REJECTED",  # 403
    Outcome.BUSY: "USER_BUSY",  # 486
    Outcome.FULL: "NORMAL_TEMPORARY_FAILURE",  # 503
    Outcome.DIVERT: "NORMAL_CLEARING",  # after the redirect
}
PIN_PROMPT: Final = "conference/conf-pin.wav"
BAD_PIN: Final = "conference/conf-bad-pin.wav"
PROMPT_TIMEOUT: Final = 30.0  # seconds a prompt may take to play to its end

Phase = Literal["routing", "lobby", "conference", "ended"]


@dataclass(frozen=True, slots=True)
class JoinPlan:
    """How an admitted caller joins: variables to set, then the lobby or the conference."""

    variables: dict[str, str]
    target: str  # the conference application argument
    lobby_media: str | None = None  # play this until released, instead of joining now


class CallHost(Protocol):
    """What a session needs from the engine (FreeSwitchBackend implements it)."""

    def admitted(
        self, conference: Conference, participant: Participant, session: CallSession
    ) -> JoinPlan: ...

    def entered_lobby(self, uuid: str) -> None: ...

    def digit(self, uuid: str, digit: str) -> None: ...

    def call_ended(self, uuid: str) -> None: ...

    def hang_up_after_conference(self, uuid: str) -> bool: ...


class CallSession:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: CallHost,
        router: CallRouter,
        *,
        command_timeout: float = 5.0,
        pin_timeout: float | None = None,  # None: core/pin.py's digit timeout
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._host = host
        self._router = router
        self._timeout = command_timeout
        self._pin_policy = None if pin_timeout is None else PinPolicy(digit_timeout=pin_timeout)
        self._parser = esl.EslParser()
        self._replies: collections.deque[asyncio.Future[esl.EslMessage]] = collections.deque()
        self._digits: asyncio.Queue[str] = asyncio.Queue()
        # (app, arg) -> futures resolved by that app's CHANNEL_EXECUTE_COMPLETE
        self._completions: dict[tuple[str, str], list[asyncio.Future[None]]] = {}
        self._gone = asyncio.Event()
        self._answered = False
        self._lobby_media: str | None = None  # the wait media, played again while waiting
        self.uuid = ""
        self.phase: Phase = "routing"

    # ------------------------------------------------------------------ wire

    async def _command(self, data: bytes) -> esl.EslMessage:
        if self._gone.is_set():
            raise ConnectionError("the call is gone")
        future: asyncio.Future[esl.EslMessage] = asyncio.get_running_loop().create_future()
        self._replies.append(future)
        self._writer.write(data)
        await self._writer.drain()
        return await asyncio.wait_for(future, self._timeout)

    async def _execute(self, app: str, arg: str | None = None) -> None:
        reply = await self._command(esl.sendmsg_execute(app, arg))
        if not isinstance(reply, esl.CommandReply) or not reply.ok:
            raise ConnectionError(f"execute {app} refused: {reply!r}")

    async def _read_loop(self) -> None:
        try:
            while data := await self._reader.read(65536):
                for msg in self._parser.feed(data):
                    self._dispatch(msg)
        except (ConnectionError, esl.EslProtocolError) as exc:
            log.warning("outbound ESL session %s: %s", self.uuid or "?", exc)
        finally:
            self._ended()
            for future in self._replies:
                if not future.done():
                    future.set_exception(ConnectionError("FreeSWITCH closed the socket"))
            self._replies.clear()

    def _dispatch(self, msg: esl.EslMessage) -> None:
        if isinstance(msg, esl.CommandReply | esl.ApiResponse):
            if self._replies:
                future = self._replies.popleft()
                if not future.done():
                    future.set_result(msg)
        elif isinstance(msg, esl.Event):
            self._on_event(msg)
        elif isinstance(msg, esl.DisconnectNotice):
            self._ended()  # linger: the channel hung up; events may still follow

    def _on_event(self, event: esl.Event) -> None:
        if event.name == "DTMF":
            digit = event.get("DTMF-Digit", "") or ""
            # inside the conference the caller-controls report digits; here only before
            if self.phase in ("routing", "lobby") and is_safe(digit, "digit"):
                self._digits.put_nowait(digit)
                if self.phase == "lobby":
                    self._host.digit(self.uuid, digit)
        elif event.name == "CHANNEL_EXECUTE_COMPLETE":
            key = (event.get("Application") or "", event.get("Application-Data") or "")
            for waiter in self._completions.pop(key, []):
                if not waiter.done():
                    waiter.set_result(None)
            if (
                key == ("playback", self._lobby_media)
                and self.phase == "lobby"
                and event.get("Application-Response") == "FILE PLAYED"  # not a missing file
            ):
                asyncio.get_running_loop().create_task(self._play_lobby_media())
            if event.get("Application") == "conference" and self.phase == "conference":
                self.phase = "ended"
                if self._host.hang_up_after_conference(self.uuid):
                    asyncio.get_running_loop().create_task(self._hangup("NORMAL_CLEARING"))
        elif event.name == "CHANNEL_HANGUP":
            self._ended()

    def _ended(self) -> None:
        if self._gone.is_set():
            return
        self._gone.set()
        for waiters in self._completions.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(ConnectionError("the call is gone"))
        self._completions.clear()
        self.phase = "ended"
        if self.uuid:
            self._host.call_ended(self.uuid)

    # ------------------------------------------------------------------ the call

    async def run(self) -> None:
        reader = asyncio.get_running_loop().create_task(self._read_loop())
        try:
            await self._serve()
            await self._gone.wait()  # linger until FreeSWITCH says the call is over
        except (ConnectionError, TimeoutError, esl.EslProtocolError) as exc:
            log.warning("outbound ESL session %s ended: %s", self.uuid or "?", exc)
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                self._writer.write(esl.exit_command())
                await self._writer.drain()
            self._writer.close()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await reader
            self._ended()

    async def _serve(self) -> None:
        data = await self._command(esl.connect())
        if not isinstance(data, esl.CommandReply) or not data.ok:
            raise ConnectionError(f"connect refused: {data!r}")
        channel = data.headers
        uuid = channel.get("Unique-ID", "")
        if not is_safe(uuid, "uuid"):
            raise ConnectionError("channel data without a usable Unique-ID")
        self.uuid = uuid
        await self._command(esl.myevents())
        await self._command(esl.linger())
        code = channel.get("variable_bridge_access_code") or channel.get(
            "Caller-Destination-Number", ""
        )
        caller = channel.get("Caller-Caller-ID-Number")
        if not is_safe(code, "digits"):
            await self._refuse(Outcome.UNKNOWN, None)
            return
        name = channel.get("Caller-Caller-ID-Name")
        call = InboundCall(
            code, caller if is_safe(caller, "caller_id") else None, uuid, caller_name=name
        )
        route = await self._router.route(call)
        dialog = PinDialog(self._pin_policy)  # core/pin.py decides; this only does IO
        while (prompt := dialog.next_prompt(route.admission.outcome)) is not None:
            if prompt is PinPrompt.RETRY:
                # to its end: in async mode a second execute would run nested inside the
                # first playback, and the caller would hear the PIN prompt first
                await self._play_to_end(BAD_PIN)
            pin = dialog.pin(await self._collect_pin(dialog.policy))
            if pin is None:
                wrong = replace(route.admission, outcome=Outcome.WRONG_PIN)
                route = replace(route, admission=wrong)
                continue
            route = await self._router.route(
                InboundCall(call.access_code, call.caller_id, uuid, pin, call.caller_name)
            )
        outcome = route.admission.outcome
        if outcome == Outcome.ADMIT and route.conference and route.participant:
            await self._admit(route.conference, route.participant)
        else:
            await self._refuse(PinDialog.final(outcome), route.admission.divert)

    async def _play_to_end(self, file: str) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._completions.setdefault(("playback", file), []).append(waiter)
        await self._execute("playback", file)
        await asyncio.wait_for(waiter, PROMPT_TIMEOUT)

    async def _answer(self) -> None:
        if not self._answered:
            await self._execute("answer")
            self._answered = True

    async def _collect_pin(self, policy: PinPolicy) -> str:
        """Prompt, then digits until ``#``, max_digits or a pause of digit_timeout."""
        await self._answer()
        while not self._digits.empty():
            self._digits.get_nowait()
        await self._execute("playback", PIN_PROMPT)
        pin = ""
        while len(pin) < policy.max_digits:
            try:
                digit = await asyncio.wait_for(self._digits.get(), policy.digit_timeout)
            except TimeoutError:
                break
            if digit == "#":
                break
            pin += digit
        return pin

    async def _refuse(self, outcome: Outcome, divert: str | None) -> None:
        if outcome == Outcome.DIVERT and divert:
            # re-parsed: a number, a SIP user or sip:user@host[:port], nothing else
            # (no dial string, no URI parameters or headers, nothing to expand)
            try:
                target = str(parse_dial_target(divert))
                # an unanswered SIP call gets a 302; an answered one (after a PIN) a REFER
                await self._execute(
                    "deflect" if self._answered else "redirect",
                    esl.app_argument("redirect", target),
                )
            except (ValueError, UnsafeValueError):
                log.warning("divert target of call %s refused; hanging up", self.uuid)
        await self._hangup(REFUSAL_CAUSE.get(outcome, "CALL_REJECTED"))

    async def _hangup(self, cause: str) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError):
            await self._command(esl.sendmsg_hangup(cause))

    async def _admit(self, conference: Conference, participant: Participant) -> None:
        plan = self._host.admitted(conference, participant, self)
        await self._answer()
        for name, value in plan.variables.items():
            # sendmsg_execute checks the whole argument (no $ { } , | quotes or spaces)
            value = safe_value(value, "dial_target")
            await self._execute("set", f"{safe_value(name, 'variable')}={value}")
        if plan.lobby_media is not None:
            self.phase = "lobby"
            # Not endless_playback (nor loop_playback): they never read the caller's DTMF,
            # so FreeSWITCH sends no DTMF event and a waiting caller's digits are lost.
            # playback reads them (with no terminators none stops it); we play it again
            # each time it ends, until release() moves the caller in.
            self._lobby_media = plan.lobby_media
            await self._execute("set", "playback_terminators=none")
            await self._play_lobby_media()
            self._host.entered_lobby(self.uuid)
        else:
            self.phase = "conference"
            await self._execute("conference", plan.target)

    async def _play_lobby_media(self) -> None:
        if self.phase != "lobby" or self._lobby_media is None:
            return
        with contextlib.suppress(ConnectionError, TimeoutError):
            await self._execute("playback", self._lobby_media)

    # ------------------------------------------------------------------ engine side

    async def release(self, target: str) -> None:
        """Lobby -> conference: queue the join, then break the wait media so it runs."""
        if self.phase != "lobby":
            return
        self.phase = "conference"
        await self._execute("conference", target)
        await self._command(esl.api(esl.command("uuid_break", safe_value(self.uuid, "uuid"))))

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        await self._hangup(cause)


class OutboundServer:
    """Accepts FreeSWITCH's outbound socket connections; one CallSession each."""

    def __init__(
        self,
        host: CallHost,
        router: CallRouter,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 8084,
        command_timeout: float = 5.0,
        pin_timeout: float | None = None,  # None: core/pin.py's digit timeout
    ) -> None:
        self._host = host
        self._router = router
        self._listen = (listen_host, listen_port)
        self._timeout = command_timeout
        self._pin_timeout = pin_timeout
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def calls(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, *self._listen)

    async def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = CallSession(
            reader,
            writer,
            self._host,
            self._router,
            command_timeout=self._timeout,
            pin_timeout=self._pin_timeout,
        )
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await session.run()
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # stop() ended the call: return normally, or asyncio's stream callback (3.11)
            # logs the cancellation with a traceback
        finally:
            self._tasks.discard(task)
