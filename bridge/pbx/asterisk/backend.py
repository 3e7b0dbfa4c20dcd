"""AsteriskBackend: drives ConfBridge over AMI (panoramisk) and our FastAGI server.

Commands in, observations out; no policy here. The patterns (see dialplan/README.md):

* Lobby for latched start: callers of a conference that has not started wait in
  ``[bridge-lobby]`` with their own media and are Redirected into ConfBridge on
  StartConference. A start_on_entry caller goes straight in (its join starts it).
* listen=false and hold: Redirect to ``[bridge-hold]`` and back; our own moves never
  produce leave/join observations.
* An announcement to one participant (ConfBridge plays only to everyone): the same kind
  of Redirect, to ``[bridge-hold] play``, which plays it and says so (UserEvent
  BridgePlayed); the call is then moved back.
* DTMF in the bridge: the ``no_op`` menu swallows digits; DTMFEnd → DigitPressed; core
  sends SetMute/Kick back.
* Announcer and recorder: ``Local/`` channels in the conference, filtered out (they are
  not in our call registry, so their Join/Leave are ignored).
* End of the conference: ConfbridgeKick ``all`` + Hangup of waiting/held callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import partial
from typing import Any, assert_never

from bridge.core import engine as e
from bridge.core.admission import Outcome
from bridge.core.ids import is_id
from bridge.core.models import Conference, LeaveReason, MediaItem, Participant
from bridge.pbx.asterisk import mapping
from bridge.pbx.asterisk.ami_client import AmiClient, AmiUnavailable
from bridge.pbx.asterisk.calls import Call, Registry, Room
from bridge.pbx.asterisk.dialin import DialIn, reject, set_dynamic_profile
from bridge.pbx.asterisk.fastagi import AgiSession, FastAgiServer, route_by_script
from bridge.pbx.asterisk.location import Where, move_number
from bridge.pbx.backend import CallRouter, EngineError, ObservationSink, Route
from bridge.protocols import ami
from bridge.protocols.ami import ActionResult, AmiAction, AmiEvent
from bridge.protocols.safe import UnsafeValueError, is_safe, safe_value

log = logging.getLogger(__name__)

CONF_PREFIX = "cb-"
JOIN = ("bridge-join", "s")
LOBBY = ("bridge-lobby", "s")
HOLD_SILENT = ("bridge-hold", "s")
HOLD_MOH = ("bridge-hold", "moh")
HOLD_MEDIA = ("bridge-hold", "media")
PLAY_ALONE = ("bridge-hold", "play")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WAV_HEADER = 44  # bytes: a WAV file this size or smaller holds no audio
RECORDING_SETTLE_SECONDS = 3.0  # how long MixMonitor may take to close the file


def _new_uid(kind: str) -> str:
    return f"cb-{kind}-{secrets.token_hex(8)}"


class AsteriskBackend:
    name = "asterisk"

    def __init__(
        self,
        *,
        ami_host: str = "127.0.0.1",
        ami_port: int = 5038,
        ami_username: str = "bridge",
        ami_secret: str = "",
        agi_host: str = "127.0.0.1",
        agi_port: int = 4573,
        dial_endpoint: str = "bridge-loopback",
        recordings_dir_on_pbx: str | None = None,
        ready_timeout: float = 10.0,
        action_timeout: float = 10.0,
    ) -> None:
        self._ami_args = (ami_host, ami_port, ami_username, ami_secret)
        self._agi_host, self._agi_port = agi_host, agi_port
        self._dial_endpoint = safe_value(dial_endpoint, "name")
        if recordings_dir_on_pbx:  # a setting that ends up in MixMonitor(): checked now
            mapping.record_file(recordings_dir_on_pbx)
        self._recordings_dir_on_pbx = recordings_dir_on_pbx or None
        self._ready_timeout = ready_timeout
        self._action_timeout = action_timeout
        self.registry = Registry()
        self.ami: AmiClient | None = None
        self.agi: FastAgiServer | None = None
        self._sink: ObservationSink | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._action_ids = 0
        # internal Local/ channels (Uniqueid of the ;1 half) -> what they are for
        self._announcers: dict[str, tuple[str, str | None]] = {}  # conf id, announcement id
        self._recorders: dict[str, tuple[str, str, str]] = {}  # conf id, recording id, path
        self._recorder_by_conf: dict[str, str] = {}
        self.observations_reported = 0
        self.resyncs = 0

    # ================================================================== lifecycle

    async def start(self, sink: ObservationSink, router: CallRouter) -> None:
        self._sink = sink
        host, port, user, secret = self._ami_args
        self.ami = AmiClient(
            host,
            port,
            user,
            secret,
            on_event=self._on_event,
            on_ready=self._resync,
            events="call,dtmf,system,user",
            action_timeout=self._action_timeout,
        )
        dialin = DialIn(router, self._admit, dial_endpoint=self._dial_endpoint)
        handler = route_by_script({"dialin": dialin, "dialout": self._dialout}, self._unknown_agi)
        self.agi = FastAgiServer(handler, host=self._agi_host, port=self._agi_port)
        await self.agi.start()
        await self.ami.start()
        if not await self.ami.wait_ready(self._ready_timeout):
            log.warning("Asterisk AMI not ready yet; the backend keeps reconnecting")

    async def stop(self) -> None:
        if self.agi is not None:
            await self.agi.close()
        if self.ami is not None:
            await self.ami.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def available(self) -> bool:
        return self.ami is not None and self.ami.ready

    def health(self) -> dict[str, Any]:
        ami_ready = self.ami is not None and self.ami.ready
        return {
            "name": self.name,
            "ok": ami_ready,
            "ami_connected": ami_ready,
            "ami_connects": self.ami.connects if self.ami else 0,
            "ami_last_error": self.ami.last_error if self.ami else None,
            "agi_active": self.agi.active if self.agi else 0,
            "calls": len(self.registry.calls),
            "resyncs": self.resyncs,
        }

    def media_problem(self, item: MediaItem) -> str | None:
        try:
            name = mapping.sound_name(item)
        except UnsafeValueError:
            return "not a sound name Asterisk may play: letters, digits and _ . / - only"
        if name is None:
            return "Asterisk ConfBridge has no text-to-speech: play a sound file instead"
        return None

    # ================================================================== plumbing

    def _report(self, observation: e.Observation) -> None:
        """Into the one observation queue every engine shares with the observer."""
        if self._sink is not None:
            self._sink.report(observation)
            self.observations_reported += 1

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _aid(self) -> str:
        self._action_ids += 1
        return f"cb-{os.getpid()}-{self._action_ids}"

    async def _send(
        self, build: Callable[[str], AmiAction], *, early: bool = False
    ) -> ActionResult:
        if self.ami is None:
            raise EngineError("the Asterisk backend is not started")
        try:
            action = build(self._aid())
            return await self.ami.send(action, before_ready=early)
        except UnsafeValueError as exc:
            raise EngineError(f"refused before sending: {exc}") from exc
        except AmiUnavailable as exc:
            raise EngineError(str(exc)) from exc
        except TimeoutError as exc:
            raise EngineError("Asterisk did not answer in time") from exc

    async def _try(self, build: Callable[[str], AmiAction]) -> ActionResult | None:
        """Best effort (the channel may already be gone): log instead of raising."""
        try:
            result = await self._send(build)
        except EngineError as exc:
            log.info("AMI action not carried out: %s", exc)
            return None
        if not result.ok:
            log.info("AMI %s refused: %s", result.action, result.message)
        return result

    # ================================================================== FastAGI side

    async def _unknown_agi(self, session: AgiSession) -> None:
        await reject(session, Outcome.UNKNOWN)

    def _capacity(self, conf: Conference) -> int | None:
        return conf.max_participants

    async def _prepare(self, session: AgiSession, call: Call) -> None:
        """Dynamic profile + where the dialplan sends the call first."""
        conf, p = call.room.conference, call.participant
        await session.set_variable("BRIDGE_PARTICIPANT", p.id, "token")
        settings = mapping.profile_settings(conf, p, capacity=self._capacity(conf))
        await set_dynamic_profile(session, settings)
        media = _or_none(mapping.wait_media, conf, p)
        if media is not None:
            # Playback(${BRIDGE_LOBBY_MEDIA}): sounds joined by & only
            await session.set_variable(
                "BRIDGE_LOBBY_MEDIA", mapping.checked_playlist(media), "text"
            )
        await session.set_variable("BRIDGE_CONF", call.room.name, "name")
        first = call.desired()
        action = {Where.CONF: "join", Where.LOBBY: "lobby", Where.HOLD: "hold"}[first]
        await session.set_variable("BRIDGE_ACTION", action, "name")

    async def _admit(self, session: AgiSession, route: Route) -> None:
        assert route.conference is not None and route.participant is not None
        p = route.participant
        room = self.registry.room(route.conference)
        call = Call(
            session.env.uniqueid,
            p,
            room,
            channel=session.env.channel if is_safe(session.env.channel, "channel") else None,
            muted=p.muted or not p.options.talker,
            deaf=p.deaf,
        )
        self.registry.add(call)
        await self._prepare(session, call)

    async def _dialout(self, session: AgiSession) -> None:
        """An Originate was answered: the call runs ``[bridge-dialout]`` and lands here."""
        pid = session.env.args[0] if session.env.args else ""
        call = self.registry.by_participant.get(pid)
        if call is None or not call.outbound or call.uniqueid != session.env.uniqueid:
            await reject(session, Outcome.UNKNOWN)
            return
        if is_safe(session.env.channel, "channel"):
            call.channel = session.env.channel
        self._report(e.CallAnswered(pid))
        if call.room.ended:
            await reject(session, Outcome.UNKNOWN)
            return
        await self._prepare(session, call)

    # ================================================================== AMI events

    def _on_event(self, event: AmiEvent) -> None:
        handler = self._HANDLERS.get(event.name)
        if handler is not None:
            handler(self, event)

    def _call_of(self, event: AmiEvent) -> Call | None:
        uid = event.get("Uniqueid")
        return self.registry.calls.get(uid) if uid else None

    def _joined(self, call: Call) -> None:
        if not call.joined_reported:
            call.joined_reported = True
            self._report(e.MemberJoined(call.participant_id, call.uniqueid))

    def _left(self, call: Call, result: str | None = None) -> None:
        """The call is out for good: report once, forget it, announce its leave."""
        was_in_conf = call.where in (Where.CONF, Where.LEFT)
        call.loc.gone()
        call.gone.set()
        self._played(call, every=True)
        if not call.left_reported:
            call.left_reported = True
            reason = call.kick_reason or mapping.leave_reason(result)
            self._report(e.MemberLeft(call.participant_id, reason))
            room = call.room
            if was_in_conf and not room.ended and call.joined_reported:
                files = _or_none(mapping.leave_announcement, call.participant)
                if files is not None:
                    self._spawn(self._announce(room, files, None))
        self.registry.remove(call)

    def _on_confbridge_join(self, event: AmiEvent) -> None:
        call = self._call_of(event)
        if call is None or not call.loc.arrive(Where.CONF, _move_of(event)):
            return
        call.channel = event.get("Channel") or call.channel
        self._joined(call)
        muted_now = (event.get("Muted") or "").lower() == "yes"
        if muted_now != call.muted and call.channel:
            self._spawn(self._apply_mute(call))
        if not call.announced:
            call.announced = True
            files = _or_none(mapping.join_announcement, call.participant)
            if files is not None:
                self._spawn(self._announce(call.room, files, None))
        self._settle(call)

    def _on_confbridge_leave(self, event: AmiEvent) -> None:
        """A real leave (hangup, kick, end) is reported now, not after the UserEvent or
        the Hangup, which wait behind the serial leave sounds; the one our own Redirect
        causes carries that move's number and changes nothing."""
        call = self._call_of(event)
        if call is not None and call.loc.conf_left(_move_of(event)):
            self._left(call)

    def _on_user_event(self, event: AmiEvent) -> None:
        kind = event.get("UserEvent")
        call = self._call_of(event)
        if call is None:
            return
        if kind == "BridgeConfLeave":
            self._left(call, event.get("Result"))
        elif kind in _ARRIVALS:
            if call.loc.arrive(_ARRIVALS[kind], _move_of(event)):
                self._joined(call)
                self._settle(call)
        elif (
            kind == "BridgePlayed"
            and call.loc.place == Where.PLAY
            and call.loc.arrived == _move_of(event)
        ):
            # the dialplan takes the call back itself (numbered: the return move we
            # reserved), and that arrival settles it (the next announcement, if any)
            self._played(call)

    def _played(self, call: Call, *, every: bool = False) -> None:
        """The announcement playing to this call alone is over (or, `every`: the call is
        gone, and so are the ones waiting)."""
        done, call.playing = (call.playing, []) if every else (call.playing[:1], call.playing[1:])
        for announcement_id, _ in done:
            if announcement_id is not None:
                self._report(e.AnnouncementFinished(call.room.conference.id, announcement_id))

    def _on_hangup(self, event: AmiEvent) -> None:
        uid = event.get("Uniqueid") or ""
        call = self.registry.calls.get(uid)
        if call is not None:
            if call.outbound and not call.joined_reported and call.where == Where.ROUTING:
                # not answered: the OriginateResponse reports the failure, with this cause
                call.hangup_cause = event.get("Cause")
                call.gone.set()
                return
            self._left(call)
            return
        announcer = self._announcers.pop(uid, None)
        if announcer is not None and announcer[1] is not None:
            self._report(e.AnnouncementFinished(announcer[0], announcer[1]))
        recorder = self._recorders.pop(uid, None)
        if recorder is not None:
            conf_id, rec_id, path = recorder
            if self._recorder_by_conf.get(conf_id) == uid:
                del self._recorder_by_conf[conf_id]
            self._spawn(self._recording_written(conf_id, rec_id, path))

    async def _recording_written(self, conf_id: str, rec_id: str, path: str) -> None:
        """Asterisk writes the file where ``ami_recordings_dir`` says, which must be the
        bridge's own recordings directory (shared): it is complete once MixMonitor has
        closed it, a moment after the hangup. No audio in it (Asterisk could not write
        there, or the directories are not the same one) is a failed recording."""
        size, deadline = -1, asyncio.get_running_loop().time() + RECORDING_SETTLE_SECONDS
        while True:
            now = await asyncio.to_thread(_file_size, path)
            if (now > WAV_HEADER and now == size) or asyncio.get_running_loop().time() > deadline:
                break
            size = now
            await asyncio.sleep(0.1)
        if now <= WAV_HEADER:
            log.warning(
                "recording %s has no audio at %s: is it shared with Asterisk?", rec_id, path
            )
        self._report(e.RecordingEnded(conf_id, rec_id, size_bytes=now, failed=now <= WAV_HEADER))

    def _on_dtmf(self, event: AmiEvent) -> None:
        if (event.get("Direction") or "").lower() != "received":
            return
        call = self._call_of(event)
        digit = event.get("Digit") or ""
        if call is None or call.where not in (Where.CONF, Where.LOBBY, Where.HOLD, Where.PLAY):
            return
        if is_safe(digit, "digit"):
            self._report(e.DigitPressed(call.participant_id, digit))

    def _on_talking(self, event: AmiEvent) -> None:
        call = self._call_of(event)
        if call is not None and call.where == Where.CONF:
            talking = (event.get("TalkingStatus") or "").lower() == "on"
            self._report(e.TalkingChanged(call.participant_id, talking))

    def _on_mute(self, event: AmiEvent) -> None:
        call = self._call_of(event)
        if call is not None:
            self._report(e.MuteChanged(call.participant_id, event.name == "ConfbridgeMute"))

    _HANDLERS: dict[str, Callable[[AsteriskBackend, AmiEvent], None]] = {
        "ConfbridgeJoin": _on_confbridge_join,
        "ConfbridgeLeave": _on_confbridge_leave,
        "UserEvent": _on_user_event,
        "Hangup": _on_hangup,
        "DTMFEnd": _on_dtmf,
        "ConfbridgeTalking": _on_talking,
        "ConfbridgeMute": _on_mute,
        "ConfbridgeUnmute": _on_mute,
    }

    # ================================================================== moves

    def _settle(self, call: Call) -> None:
        """Move the call where it should be, if it is somewhere it can be moved from."""
        if call.where not in _PLACES or call.room.ended:
            return
        target = call.desired()
        if target == Where.HOLD and call.where == Where.HOLD:
            return
        if target != call.where:
            self._spawn(self._move(call, target, call.loc.move()))

    async def _move(self, call: Call, target: Where, move: int) -> None:
        """Number the move on the channel, then Redirect: the events it causes carry the
        number (manager.conf channelvars), so none of them is taken for a leave."""
        numbered = await self._try(
            lambda aid: ami.setvar("BRIDGE_MOVE", (move, "integer"), aid, channel=call.uniqueid)
        )
        if numbered is None or not numbered.ok:
            self._not_moved(call, target, move)
            return
        if target == Where.PLAY and call.playing:
            context, exten = PLAY_ALONE
            back = await self._place(call, call.resting())
            # the way back is a move of its own (the dialplan sets this number): the
            # ConfbridgeLeave of the way out can then never pass for a leave of the return
            ready = await self._setvars(
                call,
                BRIDGE_PLAY_MEDIA=(mapping.checked_playlist(call.playing[0][1]), "text"),
                BRIDGE_PLAY_CONTEXT=(back[0], "name"),
                BRIDGE_PLAY_EXTEN=(back[1], "name"),
                BRIDGE_PLAY_MOVE=(call.loc.move(), "integer"),
                # read back by a resync after a bridge restart, to report it finished
                BRIDGE_PLAY_ANNOUNCEMENT=(call.playing[0][0] or "none", "token"),
                BRIDGE_MUTED=(_flag(call.muted), "integer"),
            )
            if not ready:
                self._not_moved(call, target, move)
                return
        else:
            context, exten = await self._place(call, target)
            # outside the conference Asterisk keeps no mute: a resync after a bridge
            # restart reads ours back from the channel, to apply it on the way back in
            if target != Where.CONF and not await self._setvars(
                call, BRIDGE_MUTED=(_flag(call.muted), "integer")
            ):
                self._not_moved(call, target, move)
                return
        result = await self._try(lambda aid: ami.redirect(call.uniqueid, context, exten, aid))
        if result is None or not result.ok:
            log.info("could not move %s to %s", call.participant_id, target)
            self._not_moved(call, target, move)

    def _not_moved(self, call: Call, target: Where, move: int) -> None:
        """The call stays where it is; an announcement that could not start is finished.
        A move lost with the AMI link is made after the reconnect (the resync converges)."""
        call.loc.not_moved(call.loc.issued if target == Where.PLAY else move)
        if not self.available and target != Where.PLAY:
            self._lost_with_link(call, f"move to {target}")
        if target == Where.PLAY:
            self._played(call)

    async def _place(self, call: Call, target: Where) -> tuple[str, str]:
        """The dialplan place (context, exten) for `target`, its media set on the channel."""
        if target == Where.CONF:
            return JOIN
        if target == Where.LOBBY:
            return LOBBY
        if call.hold and call.hold_media and is_playlist(call.hold_media):
            await self._setvars(
                call, BRIDGE_HOLD_MEDIA=(mapping.checked_playlist(call.hold_media), "text")
            )
            return HOLD_MEDIA
        return HOLD_MOH if call.hold else HOLD_SILENT

    async def _setvars(self, call: Call, **values: ami.Value) -> bool:
        for name, value in values.items():
            result = await self._try(partial(_setvar, name, value, call.uniqueid))
            if result is None or not result.ok:
                return False
        return True

    async def _apply_mute(self, call: Call) -> None:
        if call.channel is None or call.where != Where.CONF:
            return
        name, channel = call.room.name, call.channel
        build = ami.confbridge_mute if call.muted else ami.confbridge_unmute
        if await self._try(lambda aid: build(name, channel, aid)) is None and not self.available:
            self._lost_with_link(call, "mute")

    async def _announce(self, room: Room, files: str, announcement_id: str | None) -> None:
        uid = _new_uid("ann")
        self._announcers[uid] = (room.conference.id, announcement_id)
        result = await self._try(
            lambda aid: ami.originate(
                "Local/play@bridge-announce",
                aid,
                context="bridge-announce",
                exten="join",
                channel_id=uid,
                other_channel_id=uid + "-2",
                variables={
                    "BRIDGE_CONF": (room.name, "name"),
                    "BRIDGE_ANNOUNCE": (mapping.checked_playlist(files), "text"),
                    # read back by a resync after a bridge restart (see _readopt_announcers)
                    "BRIDGE_ANNOUNCEMENT": (announcement_id or "none", "token"),
                },
            )
        )
        failed = result is None or not result.ok
        if failed and self._announcers.pop(uid, None) is not None and announcement_id is not None:
            self._report(e.AnnouncementFinished(room.conference.id, announcement_id))

    # ================================================================== commands

    async def execute(self, command: e.Command) -> None:
        try:
            await self._execute(command)
        except UnsafeValueError as exc:
            raise EngineError(f"refused before sending: {exc}") from exc

    async def _execute(self, command: e.Command) -> None:
        room = self.registry.room(command.conference)
        match command:  # exhaustive: mypy flags a command this engine does not handle
            case e.StartConference():
                for call in self.registry.in_room(room.conference.id):
                    self._settle(call)
            case e.EndConference():
                await self._end(room)
            case e.Kick():
                await self._kick(self._call(command.participant), command.reason)
            case e.SetMute():
                await self._set_mute(command.participant, command.muted)
            case e.SetDeaf() | e.SetHold():
                self._set_away(command)
            case e.Play():
                await self._play(room, command)
            case e.StartRecording():
                await self._start_recording(room, command)
            case e.StopRecording():
                await self._stop_recording(room)
            case e.PauseRecording():
                await self._pause_recording(room, command.paused)
            case e.Originate():
                await self._originate(room, command.participant)
            case _:
                assert_never(command)

    def _call(self, p: Participant) -> Call:
        call = self.registry.by_participant.get(p.id)
        if call is None:
            raise EngineError(f"no call for participant {p.id}")
        if call.adopted and call.where != Where.CONF:
            call.muted = p.muted or not p.options.talker  # Asterisk keeps no mute outside
        call.adopted = False
        call.participant = p
        return call

    async def _end(self, room: Room) -> None:
        room.ended = True
        await self._try(lambda aid: ami.confbridge_kick(room.name, "all", aid))
        for call in self.registry.in_room(room.conference.id):
            if call.where != Where.CONF:
                await self._try(partial(ami.hangup, call.uniqueid))
        if room.conference.id in self._recorder_by_conf:
            await self._stop_recording(room)

    async def _kick(self, call: Call, reason: LeaveReason) -> None:
        call.kick_reason = reason
        if call.where == Where.CONF and call.channel is not None:
            name, channel = call.room.name, call.channel
            try:
                result = await self._send(lambda aid: ami.confbridge_kick(name, channel, aid))
            except EngineError:
                if self.available:
                    raise
                self._lost_with_link(call, "eject")
                return
            if result.ok:
                return
        hung_up = await self._try(lambda aid: ami.hangup(call.uniqueid, aid))
        if hung_up is None and not self.available:
            self._lost_with_link(call, "eject")

    def _lost_with_link(self, call: Call, what: str) -> None:
        """A command accepted while AMI was up (the API answered it) and lost with the
        link: the resync after the reconnect keeps our flags and carries it out."""
        call.unsynced = True
        log.info(
            "%s of %s lost with AMI; carried out after the reconnect", what, call.participant_id
        )

    async def _set_mute(self, p: Participant, muted: bool) -> None:
        if not muted and not p.options.talker:
            raise EngineError("a talker=false participant is never unmuted")
        call = self._call(p)
        call.muted = muted
        if call.where == Where.CONF and call.channel is not None:
            name, channel = call.room.name, call.channel
            build = ami.confbridge_mute if muted else ami.confbridge_unmute
            try:
                result = await self._send(lambda aid: build(name, channel, aid))
            except EngineError:
                if self.available:
                    raise
                self._lost_with_link(call, "mute")
                return
            if not result.ok:
                raise EngineError(f"ConfbridgeMute/Unmute refused: {result.message}")
            return
        # elsewhere: applied when the call (re)enters the conference; kept on the channel
        # too, for a resync after a bridge restart (best effort: the call may be moving)
        if call.where not in (Where.ROUTING, Where.LEFT):
            await self._setvars(call, BRIDGE_MUTED=(_flag(muted), "integer"))

    def _set_away(self, command: e.SetDeaf | e.SetHold) -> None:
        call = self._call(command.participant)
        if isinstance(command, e.SetDeaf):
            call.deaf = command.deaf
        else:
            call.hold = command.hold
            call.hold_media = mapping.playlist([command.media]) if command.media else None
        self._settle(call)

    async def _play(self, room: Room, command: e.Play) -> None:
        files = mapping.playlist(command.media)
        if files is None:
            raise EngineError("nothing playable: Asterisk has no text-to-speech here")
        if command.participant is not None:
            self._play_alone(self._call(command.participant), files, command.announcement_id)
            return
        await self._announce(room, files, command.announcement_id)

    def _play_alone(self, call: Call, files: str, announcement_id: str | None) -> None:
        """Out of the mix to hear it, then back where it belongs. Announcements that come
        while one plays wait their turn (the return from one settles the next)."""
        call.playing.append((announcement_id, files))
        self._settle(call)

    # ------------------------------------------------------------------ recording

    def _pbx_path(self, path: str) -> str:
        if self._recordings_dir_on_pbx is None:
            return path
        return f"{self._recordings_dir_on_pbx.rstrip('/')}/{os.path.basename(path)}"

    async def _start_recording(self, room: Room, command: e.StartRecording) -> None:
        """A recorder Local/ channel: ;1 sits in the conference (muted, quiet), ;2 runs
        MixMonitor on what it hears. ConfbridgeStartRecord would need write=system."""
        if room.conference.id in self._recorder_by_conf:
            raise EngineError("the conference is already being recorded")
        uid = _new_uid("rec")
        self._recorders[uid] = (room.conference.id, command.recording_id, command.path)
        self._recorder_by_conf[room.conference.id] = uid
        result = await self._send(
            lambda aid: ami.originate(
                "Local/rec@bridge-record",
                aid,
                context="bridge-record",
                exten="join",
                channel_id=uid,
                other_channel_id=uid + "-2",
                variables={
                    "BRIDGE_CONF": (room.name, "name"),
                    "BRIDGE_RECORD_FILE": (
                        mapping.record_file(self._pbx_path(command.path)),
                        "path",
                    ),
                },
            )
        )
        if not result.ok:
            self._recorders.pop(uid, None)
            self._recorder_by_conf.pop(room.conference.id, None)
            raise EngineError(f"recorder not started: {result.message}")

    async def _stop_recording(self, room: Room) -> None:
        uid = self._recorder_by_conf.get(room.conference.id)
        if uid is not None:
            await self._try(lambda aid: ami.hangup(uid, aid))

    async def _pause_recording(self, room: Room, paused: bool) -> None:
        uid = self._recorder_by_conf.get(room.conference.id)
        if uid is None:
            raise EngineError("the conference is not being recorded")
        # MixMonitorMute writes silence while paused (ConfBridge has no record pause).
        result = await self._send(
            lambda aid: ami.AmiAction(
                "MixMonitorMute",
                aid,
                ami.build_action(
                    "MixMonitorMute",
                    [
                        ("Channel", (uid + "-2", "channel")),
                        ("Direction", ("both", "token")),
                        ("State", (1 if paused else 0, "integer")),
                    ],
                    aid,
                ),
            )
        )
        if not result.ok:
            raise EngineError(f"MixMonitorMute refused: {result.message}")

    # ------------------------------------------------------------------ dial-out

    async def _originate(self, room: Room, p: Participant) -> None:
        if p.to is None:
            raise EngineError("dial-out without a target")
        try:
            channel = mapping.dial_channel(p.to, self._dial_endpoint)
        except UnsafeValueError as exc:
            raise EngineError(f"refused dial target: {exc}") from exc
        uid = _new_uid("out")
        call = Call(uid, p, room, outbound=True, muted=p.muted or not p.options.talker, deaf=p.deaf)
        self.registry.add(call)
        caller = p.from_ if p.from_ is not None and is_safe(p.from_, "caller_id") else None
        try:
            action = ami.originate(
                channel,
                self._aid(),
                context="bridge-dialout",
                exten="s",
                timeout_ms=max(1, p.answer_timeout) * 1000,
                caller_id=caller,
                channel_id=uid,
                variables={"BRIDGE_PARTICIPANT": (p.id, "token")},
            )
        except UnsafeValueError as exc:
            self.registry.remove(call)
            raise EngineError(f"refused before sending: {exc}") from exc
        if self.ami is None or not self.ami.ready:
            self.registry.remove(call)
            raise EngineError("AMI is not connected; Originate not sent")
        self._spawn(self._await_originate(call, action, p.answer_timeout))

    async def _await_originate(self, call: Call, action: AmiAction, answer_timeout: int) -> None:
        assert self.ami is not None
        try:
            result = await self.ami.send(action, within=answer_timeout + 15)
        except (AmiUnavailable, TimeoutError) as exc:
            result = ActionResult(action.action_id, action.name, False, repr(exc), None)
        if result.ok:
            return
        reason_code = result.events[0].get("Reason") if result.events else None
        if call.hangup_cause is None:
            # The Hangup event (with the cause) may come just after OriginateResponse.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await call.gone.wait()
        failure = mapping.originate_failure(reason_code, call.hangup_cause)
        if not call.joined_reported and not call.left_reported:
            call.left_reported = True
            self.registry.remove(call)
            self._report(e.CallFailed(call.participant_id, failure))

    # ================================================================== resync

    async def _resync(self) -> None:
        """After every (re)connect, and on a start next to an Asterisk that already has
        our calls: rebuild the call registry from what Asterisk has, and report it.

        Our calls carry BRIDGE_PARTICIPANT, BRIDGE_CONF and BRIDGE_MOVE on every channel
        event (manager.conf channelvars), so ConfbridgeList (members, muted) and
        CoreShowChannels (who is alive, who waits in the lobby or hold contexts) say it
        all. A call we did not know (the bridge restarted) is adopted; one we know is put
        where Asterisk has it, with Asterisk's flags; one Asterisk no longer has is
        forgotten (the Snapshot makes the services mark it left).
        """
        rooms = await self._send(ami.confbridge_list_rooms, early=True)
        members: dict[str, AmiEvent] = {}
        for room_event in rooms.events:
            name = room_event.get("Conference") or ""
            if not name.startswith(CONF_PREFIX) or not is_safe(name, "name"):
                continue
            listing = await self._send(partial(ami.confbridge_list, name), early=True)
            for member in listing.events:
                if uid := _uid_of(member):
                    members[uid] = member
        channels = await self._send(ami.core_show_channels, early=True)
        alive = {uid: ev for ev in channels.events if (uid := _uid_of(ev))}
        await self._readopt_announcers(alive)
        present: dict[str, set[str]] = {}
        flags: dict[str, e.MemberFlags] = {}
        seen: set[str] = set()
        for uid in sorted(set(members) | set(alive)):
            call = self._found(uid, members.get(uid), alive.get(uid))
            if call is None:
                continue
            if call.adopted and uid not in members and not call.unsynced:
                # out of the mix, where Asterisk keeps no mute: ours is on the channel
                muted = await self._getvar(uid, "BRIDGE_MUTED")
                if muted in ("0", "1"):
                    call.muted = muted == "1"
            if call.where == Where.PLAY and not call.playing:
                # out for an announcement this bridge no longer knows (it restarted): the
                # channel says which, so its end is reported when the dialplan says so
                ann = await self._getvar(uid, "BRIDGE_PLAY_ANNOUNCEMENT")
                call.playing.append((ann if ann and is_id(ann, "announcement") else None, ""))
            seen.add(uid)
            present.setdefault(call.room.conference.id, set()).add(call.participant_id)
            if not call.adopted or call.where == Where.CONF:
                flags[call.participant_id] = e.MemberFlags(call.muted, call.deaf, call.hold)
        for call in list(self.registry.calls.values()):
            if call.uniqueid in seen:
                continue
            if call.uniqueid not in alive:  # gone while we were away
                call.left_reported = True  # the Snapshot reports it
                call.loc.gone()
                call.gone.set()
                self.registry.remove(call)
                if not call.joined_reported:
                    self._report(e.MemberLeft(call.participant_id, None))
                continue
            if call.joined_reported:  # alive between our places (a move under way)
                present.setdefault(call.room.conference.id, set()).add(call.participant_id)
        for uid in [u for u in self._announcers if u not in alive]:
            self._on_hangup(AmiEvent((("Event", "Hangup"), ("Uniqueid", uid))))
        for uid in [u for u in self._recorders if u not in alive]:
            self._on_hangup(AmiEvent((("Event", "Hangup"), ("Uniqueid", uid))))
        self.resyncs += 1
        self._report(e.Snapshot({k: frozenset(v) for k, v in present.items()}, flags))
        unsynced = [c for c in self.registry.calls.values() if c.unsynced]
        if unsynced:
            self._spawn(self._converge(unsynced))

    async def _converge(self, calls: list[Call]) -> None:
        """Commands accepted while AMI was up and lost with it: once actions flow again,
        Asterisk is brought to our flags (the Snapshot reported ours for these calls)."""
        assert self.ami is not None
        if not await self.ami.wait_ready(self._ready_timeout):
            return  # still down: the next resync tries again (the calls stay unsynced)
        for call in calls:
            if self.registry.calls.get(call.uniqueid) is not call:
                continue
            call.unsynced = False
            if call.kick_reason is not None:
                continue  # the services kick it again (the Snapshot listed it): not twice
            await self._apply_mute(call)
            self._settle(call)

    async def _getvar(self, uid: str, variable: str) -> str | None:
        result = await self._send(partial(ami.getvar, variable, channel=uid), early=True)
        return (result.response.get("Value") if result.response else None) or None

    async def _readopt_announcers(self, alive: dict[str, AmiEvent]) -> None:
        """Announcer channels this bridge no longer knows (it restarted): their hangup
        still ends their announcement (its id is on the channel)."""
        for uid, channel in alive.items():
            if uid in self._announcers or not _ANNOUNCER.fullmatch(uid):
                continue
            conference_id = conference_id_of(channel.chan_var("BRIDGE_CONF") or "")
            ann = await self._getvar(uid, "BRIDGE_ANNOUNCEMENT")
            if conference_id is not None:
                ok = ann is not None and is_id(ann, "announcement")
                self._announcers[uid] = (conference_id, ann if ok else None)

    def _found(self, uid: str, member: AmiEvent | None, channel: AmiEvent | None) -> Call | None:
        """One of our calls as Asterisk lists it (None: not ours, or not at one of our
        places): known calls follow Asterisk, unknown ones are adopted."""
        event = member or channel
        assert event is not None
        if member is not None:
            place, conf_name = Where.CONF, member.get("Conference")
        else:
            context = event.get("Context") or ""
            place_of = {"bridge-hold": Where.HOLD, "bridge-lobby": Where.LOBBY}
            if context not in place_of:
                return None
            place, conf_name = place_of[context], event.chan_var("BRIDGE_CONF")
            if place == Where.HOLD and (event.get("Exten") or "") == "play":
                place = Where.PLAY
        pid = event.chan_var("BRIDGE_PARTICIPANT") or ""
        conference_id = conference_id_of(conf_name or "")
        if conference_id is None or not is_id(pid, "participant"):
            return None
        call = self.registry.calls.get(uid)
        if call is None or call.participant_id != pid:
            call = self._adopt(uid, pid, conference_id)
        call.loc.adopt(place, move_number(event.chan_var("BRIDGE_MOVE")))
        channel_name = event.get("Channel")
        if channel_name and is_safe(channel_name, "channel"):
            call.channel = channel_name
        call.joined_reported = True
        if call.unsynced:
            pass  # a command of ours was lost with the link: ours win (_converge)
        elif member is not None:  # in the mix: neither held nor deaf; muted as listed
            call.muted = (member.get("Muted") or "").lower() == "yes"
            call.hold = call.deaf = False
        elif place == Where.PLAY:
            pass  # the dialplan takes the call back after the announcement
        elif place == Where.HOLD:  # [bridge-hold] s: listen=false/deaf; moh, media: held
            call.hold = (event.get("Exten") or "") in ("moh", "media")
            call.deaf = call.deaf or not call.hold
        return call

    def _adopt(self, uid: str, pid: str, conference_id: str) -> Call:
        """A live call the bridge did not know (it restarted): a stand-in participant and
        conference until the next command brings the real ones."""
        room = self.registry.rooms.get(conference_id)
        if room is None:
            room = self.registry.rooms[conference_id] = Room(
                Conference(conference_id, "", "", _EPOCH, _EPOCH)
            )
        p = Participant(pid, conference_id, "", _EPOCH, _EPOCH, call_ref=uid)
        call = Call(uid, p, room, adopted=True)
        self.registry.add(call)
        log.info("adopted live call %s of %s from Asterisk", pid, conference_id)
        return call


_ANNOUNCER = re.compile(r"cb-ann-[0-9a-f]{16}")  # the ;1 half (_new_uid), in the conference
_ARRIVALS = {"BridgeLobby": Where.LOBBY, "BridgeHold": Where.HOLD, "BridgePlay": Where.PLAY}
_PLACES = (Where.LOBBY, Where.CONF, Where.HOLD, Where.PLAY)


def _or_none(build: Callable[..., str | None], *args: Any) -> str | None:
    """A stored playlist that is not playable (it never passed today's checks) is skipped
    (MOH / no announcement) instead of failing the call or the event handler."""
    try:
        return build(*args)
    except UnsafeValueError as exc:
        log.warning("media not played: %s", exc)
        return None


def is_playlist(value: str) -> bool:
    try:
        mapping.checked_playlist(value)
    except UnsafeValueError:
        return False
    return True


def _flag(value: bool) -> int:
    return 1 if value else 0


def _uid_of(event: AmiEvent) -> str | None:
    uid = event.get("Uniqueid") or event.get("UniqueID")
    return uid if uid and is_safe(uid, "channel") else None


def conference_id_of(name: str) -> str | None:
    """Our conference id back from its engine name (cb-cf-xxx), or None: not ours."""
    if not name.startswith(CONF_PREFIX):
        return None
    conference_id = name[len(CONF_PREFIX) :].replace("-", "_", 1)
    return conference_id if is_id(conference_id, "conference") else None


def _move_of(event: AmiEvent) -> int:
    return move_number(event.chan_var("BRIDGE_MOVE"))


def _file_size(path: str) -> int:
    return os.path.getsize(path) if os.path.isfile(path) else 0


def _setvar(name: str, value: ami.Value, uniqueid: str, action_id: str) -> AmiAction:
    return ami.setvar(name, value, action_id, channel=uniqueid)


__all__ = ["AsteriskBackend"]
