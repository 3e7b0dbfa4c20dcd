"""The embedded engine's Backend: the bridge itself answers SIP phones and mixes them.

Calls arrive through the `UserAgent` as a `CallHandle` (a reference and its media); each is
routed with the spine's router (the dialled
user part is the access code) and answered or refused with the SIP status of the decision.
When a PIN is needed the call is answered, digits are collected from RFC 4733 events (pin.py)
and the call is routed again, up to three attempts, each wrong one re-prompted. A wrong PIN
can no longer be refused with 403 (the call is answered by then): after the last attempt the
caller hears an error tone, then BYE.

Admitted calls join the `Room` of their conference, which mixes on a 20 ms tick. A call
first hears the conference's pre_actions alone (in the lobby room, status joining), then
enters the mixing, where the room hears its name and joined message; on leaving, the room
hears its name and left message, and a call we disconnect hears the post_actions before
BYE (prompts.py). Commands change members and rooms; observations go, in order, into the
one queue every engine shares with the observer (pbx/observations.py).

The engine owns the conference side of each call, a `Leg` keyed by the call reference; the
UA keeps the SIP side. Calls go down (answer, reject, hangup, originate), events come up
(arrived, ended), and "joined" is decided in one place, `_enter`: an inbound call's
`answer` returns only after its ACK, so every call that enters the mixing is up. Digits do
not pass through the UA: the engine makes itself the sink of each call's media when it
files the call's `Leg` (`_add_leg`), and `_digit` sends them where the leg says.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, assert_never

from bridge.core import engine as cmd
from bridge.core import engine as obs
from bridge.core.admission import Outcome
from bridge.core.dialing import parse_dial_target
from bridge.core.models import (
    Conference,
    ConferenceStatus,
    FailureReason,
    LeaveReason,
    MediaItem,
    Participant,
    PlayBeep,
)
from bridge.core.pin import PinDialog, PinPrompt
from bridge.media import tones
from bridge.media.mixer import IMPLEMENTATION, mix
from bridge.media.wav import WavRecorder
from bridge.pbx.backend import CallRouter, EngineError, InboundCall, ObservationSink, Route
from bridge.pbx.embedded import prompts, rtp_core
from bridge.pbx.embedded.media_source import MediaLibrary
from bridge.pbx.embedded.media_timeout import MediaTimeout
from bridge.pbx.embedded.pin import PinEntry
from bridge.pbx.embedded.room import Member, Room, Source
from bridge.pbx.embedded.rtp_stream import PortPool
from bridge.pbx.embedded.user_agent import CallHandle, UserAgent
from bridge.protocols.sip import NameAddr, SipBuildError, SipUri, caller_address, target_uri

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Leg:
    """The engine's side of one call: whose it is, and where its digits go."""

    call: CallHandle
    participant_id: str | None = None
    conference_id: str | None = None
    pin: PinEntry | None = None  # digits feed a PIN entry
    report_digits: bool = False  # digits are the participant's (DigitPressed)

    @property
    def ref(self) -> str:
        return self.call.ref


class EmbeddedBackend:
    name = "embedded"

    def __init__(
        self,
        sip_host: str = "127.0.0.1",
        sip_port: int = 5060,
        rtp_port_min: int = 20000,
        rtp_port_max: int = 20999,
        media_dir: Path | str = "data/media",
        recordings_dir: Path | str = "data/recordings",
        *,
        default_dial_host: str | None = None,
        advertised_host: str | None = None,
        sip_users: Mapping[str, str] | None = None,
        sip_realm: str | None = None,
        sip_tcp: bool = True,
        rtp_timeout: float = 60.0,
    ) -> None:
        """Defaults are Config's; the app passes its settings (nothing binds before start).

        `sip_users` (name -> password, or `md5:<H(A1) hex>`) turns on digest authentication
        and registration in `sip_realm` (default: the advertised host); `sip_tcp` adds
        SIP over TCP on the SIP port. A call that sends no RTP for `rtp_timeout` seconds
        is hung up (0: never).
        """
        self.sip_host = sip_host
        self.sip_port = sip_port
        advertised = advertised_host or ("127.0.0.1" if sip_host in ("0.0.0.0", "") else sip_host)
        self.default_dial_host = default_dial_host or advertised
        self.recordings_dir = Path(recordings_dir).resolve()
        self.library = MediaLibrary(Path(media_dir))
        self.ua = UserAgent(
            sip_host, advertised, PortPool(rtp_port_min, rtp_port_max), self,
            users=sip_users, realm=sip_realm, tcp=sip_tcp,
        )  # fmt: skip
        self.rooms: dict[str, Room] = {}
        self.legs: dict[str, Leg] = {}  # call reference -> the engine's side of the call
        self.by_participant: dict[str, Leg] = {}
        self._dialing: dict[str, asyncio.Task[None]] = {}
        self._dialing_conf: dict[str, str] = {}  # participant id -> conference id, while ringing
        self._pin_room = Room("pin", mix, on_talking=lambda pid, talking: None)
        self._play_beep: dict[str, PlayBeep] = {}
        self._farewells: dict[str, prompts.Farewell] = {}  # participant id -> its leave media
        self._sink: ObservationSink | None = None
        self._router: CallRouter | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listening = False
        self.rtp_timeout = rtp_timeout

    # lifecycle ------------------------------------------------------------------------

    async def start(self, sink: ObservationSink, router: CallRouter) -> None:
        self._sink, self._router = sink, router
        if self.rtp_timeout > 0:
            self._spawn(self._watch_media(MediaTimeout(self.rtp_timeout)))
        await self.ua.listen(self.sip_port)
        self._listening = True
        self._report(obs.Snapshot())  # a fresh engine: nobody is in any conference

    async def stop(self) -> None:
        self.ua.close()
        for room in [*self.rooms.values(), self._pin_room]:
            if room.recorder is not None:
                room.recorder.close()
            await room.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._listening = False

    @property
    def sip_address(self) -> tuple[str, int]:
        return self.ua.advertised, self.ua.port

    @property
    def available(self) -> bool:
        return True  # in this process: there is no link to lose

    def health(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sip": self.ua.describe() if self._listening else "not listening",
            "calls": len(self.ua.calls),
            "conferences": len(self.rooms),
            "mixer": IMPLEMENTATION,
            "rtp_core": rtp_core.IMPLEMENTATION,
            "rtp_ports_in_use": len(self.ua.ports.in_use),
            "malformed_sip": self.ua.endpoint.malformed,
        }

    def media_problem(self, item: MediaItem) -> str | None:
        return self.library.problem(item)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _report(self, observation: obs.Observation) -> None:
        if self._sink is not None:  # the shared queue, in the order things happened
            self._sink.report(observation)

    # calls in (CallEvents) ------------------------------------------------------------

    def call_arrived(self, call: CallHandle) -> None:
        self._spawn(self._admit(self._add_leg(Leg(call))))

    def _add_leg(self, leg: Leg) -> Leg:
        """File the engine's side of a call, and take the digits of its media."""
        self.legs[leg.ref] = leg
        leg.call.stream.on_digit = functools.partial(self._digit, leg)
        return leg

    def _digit(self, leg: Leg, digit: str) -> None:
        """An RFC 4733 digit, straight from the call's media as the tick drains it."""
        if self.legs.get(leg.ref) is not leg:
            return  # the call is over for the engine
        if leg.pin is not None:
            leg.pin.feed(digit)
        elif leg.report_digits and leg.participant_id is not None:
            self._report(obs.DigitPressed(leg.participant_id, digit))

    def call_ended(self, ref: str) -> None:
        leg = self.legs.pop(ref, None)
        if leg is None:
            return
        if leg.pin is not None:
            leg.pin.wake()
        self._pin_room.remove(ref)  # giving a PIN, or hearing the post_actions
        if leg.participant_id is not None:
            self._leave(leg, None)

    def _live(self, leg: Leg) -> bool:
        return self.ua.live(leg.ref)

    def _hang_up(self, leg: Leg, status: int = 480) -> None:
        """End the call from our side (the UA sends no `call_ended` for it) and forget it."""
        if self.legs.get(leg.ref) is leg:
            del self.legs[leg.ref]
        self.ua.hangup(leg.ref, status)

    async def _watch_media(self, watch: MediaTimeout) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(5.0, watch.timeout / 4))
            for call in watch.expired(list(self.ua.calls.values()), loop.time()):
                log.warning("call %s sent no RTP for %.0f s: hanging up", call.ref, watch.timeout)
                self.ua.hangup(call.ref)
                self.call_ended(call.ref)

    async def _admit(self, leg: Leg) -> None:
        assert self._router is not None
        call = leg.call  # the router keeps the caller's name only if it is text
        request = InboundCall(
            call.access_code, call.caller_id, call.ref, caller_name=call.caller_name
        )
        try:
            route = await self._router.route(request)
            if route.admission.outcome == Outcome.NEED_PIN:
                await self._admit_with_pin(leg, request)
                return
            if route.admission.outcome != Outcome.ADMIT:
                self._refuse(leg, route)
                return
            await self._answer_and_join(leg, route)
        except Exception:
            log.exception("could not route call %s", leg.ref)
            self._hang_up(leg, 500)  # 500 if not answered yet, else BYE

    def _refuse(self, leg: Leg, route: Route) -> None:
        status = route.admission.sip_status  # core/admission.py's table
        headers: list[tuple[str, str]] = []
        if route.admission.outcome == Outcome.DIVERT and route.admission.divert:
            try:
                target = self._dial_uri(route.admission.divert)
            except (SipBuildError, ValueError):
                status = 486  # a divert target we cannot write: busy is the honest answer
            else:
                headers.append(("Contact", f"<{target}>"))
        self.legs.pop(leg.ref, None)
        self.ua.reject(leg.ref, status, headers)

    async def _answer_and_join(self, leg: Leg, route: Route) -> None:
        conf, participant = route.conference, route.participant
        assert conf is not None and participant is not None
        leg.participant_id, leg.conference_id = participant.id, conf.id
        wait, greeting = await self._entry_media(conf, participant)
        if not await self.ua.answer(leg.ref):  # returns once the ACK is in
            self.legs.pop(leg.ref, None)
            self._report(obs.MemberLeft(participant.id, None))  # cancelled: joining -> failed
            return
        self._join(leg, conf, participant, wait, greeting)

    async def _admit_with_pin(self, leg: Leg, first: InboundCall) -> None:
        """The PIN dialogue (core/pin.py decides it): each entry routed (the router judges
        it), a wrong or empty one re-prompted, until the attempts are used up."""
        assert self._router is not None
        if not await self.ua.answer(leg.ref):
            self.legs.pop(leg.ref, None)
            return
        entry = leg.pin = PinEntry()
        member = Member(leg.ref, leg.call.stream)
        self._pin_room.add(member)
        route: Route | None = None
        dialog, outcome = PinDialog(), Outcome.NEED_PIN
        while (prompt := dialog.next_prompt(outcome)) is not None:
            member.private.clear()
            retry = prompt is PinPrompt.RETRY
            member.private.append(Source(prompts.pin_retry() if retry else prompts.pin_prompt()))
            pin = dialog.pin(await entry.collect(lambda: self._live(leg), dialog.policy))
            route = await self._router.route(replace(first, pin=pin)) if pin else None
            outcome = Outcome.WRONG_PIN if route is None else route.admission.outcome
            if not self._live(leg):
                break
        if route is None or route.admission.outcome != Outcome.ADMIT:
            if self._live(leg):  # else call_ended cleaned up
                self._reject_answered(leg, member)
            return
        leg.pin = None
        self._pin_room.remove(leg.ref)
        conf, participant = route.conference, route.participant
        assert conf is not None and participant is not None
        leg.participant_id, leg.conference_id = participant.id, conf.id
        wait, greeting = await self._entry_media(conf, participant)
        if not self._live(leg):
            self._report(obs.MemberLeft(participant.id, None))
            return
        self._join(leg, conf, participant, wait, greeting)

    def _reject_answered(self, leg: Leg, member: Member) -> None:
        """No admission after answer: an error tone, then BYE (a 403 is no longer possible)."""
        member.private.clear()
        leg.pin = None

        def done() -> None:
            self._pin_room.remove(leg.ref)
            self._hang_up(leg)

        member.private.append(Source(prompts.pin_rejected(), on_done=done))

    # membership -----------------------------------------------------------------------

    def _room(self, conf: Conference) -> Room:
        room = self.rooms.get(conf.id)
        if room is None:
            room = Room(
                conf.id,
                mix,
                on_talking=lambda pid, talking: self._report(obs.TalkingChanged(pid, talking)),
                started=conf.status == ConferenceStatus.IN_PROGRESS,
            )
            self.rooms[conf.id] = room
        self._play_beep[conf.id] = conf.play_beep
        return room

    async def _wait_source(self, conf: Conference, p: Participant) -> Source | None:
        item = p.options.while_stopped_media or conf.wait_media
        if item is None:
            return None
        frames = await prompts.spoken(self.library, (item,), f"wait media for {conf.id}")
        return Source(frames, loop=True) if frames else None

    async def _entry_media(
        self, conf: Conference, p: Participant
    ) -> tuple[Source | None, list[bytes]]:
        """The wait media, and the pre_actions the call hears before it is mixed."""
        greeting = await prompts.spoken(self.library, conf.pre_actions, f"pre_actions of {conf.id}")
        return await self._wait_source(conf, p), greeting

    def _join(
        self,
        leg: Leg,
        conf: Conference,
        p: Participant,
        wait: Source | None,
        greeting: list[bytes],
    ) -> None:
        """The call is `p`'s from now on; it enters the mixing once it heard `greeting`."""
        self._room(conf)
        member = Member(
            p.id, leg.call.stream, talker=p.options.talker, muted=p.muted, deaf=p.deaf, hold=p.hold
        )
        member.wait = wait
        leg.report_digits = True
        self.by_participant[p.id] = leg
        self._farewells[p.id] = prompts.farewell(conf, p)
        if not greeting:
            self._enter(leg, conf, p, member)
            return
        # Heard alone in the lobby room, not mixed: VoIPbin's `joining` runs the pre_actions.
        # The move happens after the lobby's tick, not inside it.
        loop = asyncio.get_running_loop()

        def greeted() -> None:
            loop.call_soon(self._enter, leg, conf, p, member)

        member.private.append(Source(greeting, on_done=greeted))
        self._pin_room.add(member)

    def _enter(self, leg: Leg, conf: Conference, p: Participant, member: Member) -> None:
        """Into the mixing: the entry beep, then everyone (the joiner too, as with the
        Asterisk announcer and FreeSWITCH's enter sound) hears the name and joined message.
        The one place a participant is reported joined: its call is up (ACKed) by now."""
        self._pin_room.remove(p.id)
        if self.by_participant.get(p.id) is not leg or not self._live(leg):
            return  # it left while hearing the pre_actions
        room = self.rooms.get(conf.id) or self._room(conf)
        beep = self._play_beep.get(conf.id, conf.play_beep)
        if beep.on_entry and p.options.beep_on_entry and room.members:
            room.overlay.append(Source(tones.entry_beep()))
        room.add(member)
        self._announce(room, prompts.join_items(p), f"joined message of {p.id}")
        self._report(obs.MemberJoined(p.id, leg.ref))

    def _announce(self, room: Room, items: tuple[MediaItem, ...], what: str) -> None:
        if items:
            self._spawn(self._announce_loaded(room, items, what))

    async def _announce_loaded(self, room: Room, items: tuple[MediaItem, ...], what: str) -> None:
        frames = await prompts.spoken(self.library, items, what)
        if frames and room.members and self.rooms.get(room.name) is room:
            room.overlay.append(Source(frames))

    def _leave(self, leg: Leg, reason: LeaveReason | None) -> None:
        pid, conf_id = leg.participant_id, leg.conference_id
        if pid is None or self.by_participant.get(pid) is not leg:
            return
        del self.by_participant[pid]
        farewell = self._farewells.pop(pid, None)
        self._pin_room.remove(pid)  # still hearing the pre_actions: it never entered
        room = self.rooms.get(conf_id or "")
        if room is not None and room.remove(pid) is not None:
            beep = self._play_beep.get(room.name, PlayBeep.NEVER)
            if beep.on_exit and room.members:
                room.overlay.append(Source(tones.exit_beep()))
            if farewell is not None and room.members:
                self._announce(room, farewell.to_room, f"left message of {pid}")
            if not room.members:
                self._spawn(room.close())  # restarts on the next join
        self._report(obs.MemberLeft(pid, reason))

    # commands -------------------------------------------------------------------------

    async def execute(self, command: cmd.Command) -> None:
        if not self._listening:
            raise EngineError("the embedded engine is not running")
        conf = command.conference
        if conf.id in self.rooms:
            self._play_beep[conf.id] = conf.play_beep
        match command:  # exhaustive: mypy flags a command this engine does not handle
            case cmd.StartConference():
                self._room(conf).started = True
            case cmd.EndConference():
                await self._end(conf)
            case cmd.Kick():
                self._kick(command.participant, command.reason)
            case cmd.SetMute():
                self._member(command.participant).muted = command.muted
            case cmd.SetDeaf():
                self._member(command.participant).deaf = command.deaf
            case cmd.SetHold():
                await self._hold(command)
            case cmd.Play():
                await self._play(command)
            case cmd.StartRecording():
                self._start_recording(conf, command.path)
            case cmd.StopRecording():
                self._stop_recording(conf, command.recording_id)
            case cmd.PauseRecording():
                self._room(conf).recording_paused = command.paused
            case cmd.Originate():
                self._originate(command)
            case _:
                assert_never(command)

    def _member(self, p: Participant) -> Member:
        leg = self.by_participant.get(p.id)
        room = self.rooms.get(p.conference_id)
        member = room.members.get(p.id) if room is not None else None
        if member is None:
            member = self._pin_room.members.get(p.id)  # still hearing the pre_actions
        if leg is None or member is None:
            raise EngineError(f"participant {p.id} has no call on this engine")
        return member

    async def _end(self, conf: Conference) -> None:
        for pid, leg in list(self.by_participant.items()):
            if leg.conference_id == conf.id:  # in the mixing, or hearing the pre_actions
                self._kick_call(pid, None)
        for pid, task in list(self._dialing.items()):
            if self._dialing_conf.get(pid) == conf.id:
                task.cancel()
        room = self.rooms.pop(conf.id, None)
        if room is not None:
            await room.close()
            if room.recorder is not None:
                room.recorder.close()

    def _kick(self, p: Participant, reason: LeaveReason) -> None:
        task = self._dialing.get(p.id)
        if task is not None:
            task.cancel()  # still ringing: the originate task reports the failure
            return
        if not self._kick_call(p.id, reason):
            self._report(obs.MemberLeft(p.id, reason))  # no call here: converge anyway

    def _kick_call(self, pid: str, reason: LeaveReason | None) -> bool:
        leg = self.by_participant.get(pid)
        if leg is None:
            return False
        farewell = self._farewells.get(pid)
        self._leave(leg, reason)
        leg.report_digits = False
        if farewell is not None and farewell.to_call and self._live(leg):
            self._spawn(self._send_off(leg, farewell.to_call))
        else:
            self._hang_up(leg)
        return True

    async def _send_off(self, leg: Leg, items: tuple[MediaItem, ...]) -> None:
        """post_actions: a call we disconnect hears them alone, out of the mixing, then BYE."""
        frames = await prompts.spoken(self.library, items, f"post_actions for {leg.ref}")
        if not frames or not self._live(leg):
            self._hang_up(leg)
            return

        def done() -> None:
            self._pin_room.remove(leg.ref)
            self._hang_up(leg)

        member = Member(leg.ref, leg.call.stream)
        member.private.append(Source(frames, on_done=done))
        self._pin_room.add(member)

    async def _hold(self, command: cmd.SetHold) -> None:
        member = self._member(command.participant)
        source = None
        if command.hold and command.media is not None:
            source = Source(await self.library.item_frames(command.media), loop=True)
        member.hold_source = source
        member.hold = command.hold

    async def _play(self, command: cmd.Play) -> None:
        conf, ann = command.conference, command.announcement_id

        def done() -> None:
            if ann is not None:
                self._report(obs.AnnouncementFinished(conf.id, ann))

        try:
            frames = await self.library.frames(command.media)
        except EngineError:
            done()  # announcement.started is out: its finish must follow (as on Asterisk)
            raise

        source = Source(frames, on_done=done)
        if command.participant is not None:
            self._member(command.participant).private.append(source)
            return
        room = self.rooms.get(conf.id)
        if room is None or not room.members:
            raise EngineError(f"conference {conf.id} has nobody to play to")
        room.overlay.append(source)

    def _start_recording(self, conf: Conference, path: str) -> None:
        target = Path(path).resolve()
        if self.recordings_dir not in target.parents:
            raise EngineError(f"recording path {path!r} is outside the recordings directory")
        room = self._room(conf)
        if room.recorder is not None:
            raise EngineError(f"conference {conf.id} is already being recorded")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            room.recorder = WavRecorder(target)
        except OSError as exc:
            raise EngineError(f"cannot record to {path!r}: {exc}") from None
        room.recording_paused = False

    def _stop_recording(self, conf: Conference, recording_id: str) -> None:
        room = self.rooms.get(conf.id)
        recorder = room.recorder if room is not None else None
        if room is None or recorder is None:
            self._report(obs.RecordingEnded(conf.id, recording_id, failed=True))
            return
        recorder.close()
        room.recorder = None
        size = os.path.getsize(recorder.path) if os.path.exists(recorder.path) else 0
        seconds = round(recorder.samples_written / 8000, 2)
        self._report(obs.RecordingEnded(conf.id, recording_id, size, seconds))

    # dial-out -------------------------------------------------------------------------

    def _dial_uri(self, to: str) -> SipUri:
        """The Request-URI for a target: a sip: URI as given; a number or user at the
        default dial host (a registered phone, or the host the admin configured)."""
        target = parse_dial_target(to)  # ValueError for anything but a DialTarget
        if target.kind == "sip":
            return target_uri(str(target), self.default_dial_host)
        return target_uri(f"sip:{target.user}@{self.default_dial_host}", self.default_dial_host)

    def _originate(self, command: cmd.Originate) -> None:
        p = command.participant
        try:
            target = self._dial_uri(p.to or "")
            caller = caller_address(p.from_ or "bridge", self.ua.advertised)
        except (SipBuildError, ValueError) as exc:
            log.warning("cannot dial %s: %s", p.id, exc)
            self._report(obs.CallFailed(p.id, FailureReason.REJECTED))
            return
        self._dialing_conf[p.id] = command.conference.id
        self._dialing[p.id] = self._spawn(self._dial(command, target, caller))

    async def _dial(self, command: cmd.Originate, target: SipUri, caller: NameAddr) -> None:
        p, conf = command.participant, command.conference
        try:
            result = await self.ua.originate(target, caller, float(p.answer_timeout))
        except asyncio.CancelledError:  # the UA ended the call it had started
            self._report(obs.CallFailed(p.id, FailureReason.CANCELLED))
            return
        except EngineError:
            self._report(obs.CallFailed(p.id, FailureReason.CAPACITY))
            return
        finally:
            self._dialing.pop(p.id, None)
            self._dialing_conf.pop(p.id, None)
        if result.call is None:
            self._report(obs.CallFailed(p.id, result.failure or FailureReason.ERROR))
            return
        leg = self._add_leg(Leg(result.call, p.id, conf.id))
        self._report(obs.CallAnswered(p.id))
        wait, greeting = await self._entry_media(conf, p)
        if not self._live(leg):
            self.legs.pop(leg.ref, None)
            self._report(obs.MemberLeft(p.id, None))
            return
        self._join(leg, conf, p, wait, greeting)
