"""FreeSwitchBackend: the Backend contract on mod_conference, over ESL.

Commands become ``api``/``bgapi`` lines on one inbound ESL connection
(``EslConnection``: its own thread, a timeout on every command). Observations come
from CUSTOM ``conference::maintenance`` events, released in Event-Sequence order.
Dial-in callers arrive on the outbound socket server (``outbound.py``).

Members are keyed by channel UUID and checked against the conference's unique id:
Member-IDs come from one FreeSWITCH-wide counter and change on every move, so they
are only cached (from ``add-member``) to address API commands.

Policy stays in core: every digit is reported, latched start is core's decision
(``wait-mod`` + ``moderator`` on FreeSWITCH, or our lobby for per-caller wait media).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import uuid as uuidlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, assert_never

from bridge.core import engine as e
from bridge.core.models import (
    Conference,
    FailureReason,
    LeaveReason,
    MediaItem,
    Participant,
    PlayBeep,
)
from bridge.pbx.backend import CallRouter, EngineError, ObservationSink
from bridge.pbx.freeswitch import mapping
from bridge.pbx.freeswitch.connection import EslConnection, EslError, State
from bridge.pbx.freeswitch.outbound import CallSession, JoinPlan, OutboundServer
from bridge.protocols import esl
from bridge.protocols.esl_events import ConferenceEvent, conference_event
from bridge.protocols.safe import UnsafeValueError, is_safe, safe_value

log = logging.getLogger(__name__)

SUBSCRIPTIONS = ("BACKGROUND_JOB", "CUSTOM", "conference::maintenance")
_ORIGINATE_SLACK = 10.0  # seconds on top of the answer timeout for the bgapi result


@dataclass(slots=True)
class _Member:
    """One call we put (or are putting) into a conference."""

    participant: Participant
    name: str  # the conference's engine name
    uuid: str
    member_id: int | None = None
    conference_uuid: str | None = None
    joined: bool = False  # MemberJoined reported
    leave_reason: LeaveReason | None = None  # what we asked for (kick, exit digit)
    session: CallSession | None = None  # the outbound-socket call, for dial-ins
    in_lobby: bool = False
    dialing: bool = False  # a dial-out not answered yet
    on_hold: bool = False  # FreeSWITCH says hold (our hold also deafens: not a deaf change)


@dataclass(slots=True)
class _ConferenceState:
    conference_id: str
    play_beep: PlayBeep = PlayBeep.ALWAYS  # the profile's enter/exit sounds are on
    recordings: dict[str, str] = field(default_factory=dict)  # recording id -> path
    # (file) -> announcement ids waiting for that file's play-file(-member)-done
    announcements: dict[str, collections.deque[str]] = field(default_factory=dict)


class FreeSwitchBackend:
    name = "freeswitch"

    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        outbound_host: str = "127.0.0.1",
        outbound_port: int | None = 8084,
        profile: str = "cb",
        dial_prefix: str = "sofia/gateway/carrier/",
        media_root: str | None = None,
        command_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        backoff_initial: float = 0.5,
        order_hold: float = 0.02,
        pin_timeout: float | None = None,  # None: core/pin.py's digit timeout
    ) -> None:
        self._host = host
        self._port = port
        # fail at start-up, not in the ESL thread: the password goes on the wire as a token
        self._password = safe_value(password, "token")
        self._outbound_listen = (outbound_host, outbound_port)
        self.profile = safe_value(profile, "name")
        # checked at start-up: only a plain endpoint prefix (sofia/gateway/<gw>/, loopback/)
        self._dial_prefix = mapping.dial_prefix(dial_prefix)
        self._media_root = media_root
        self._command_timeout = command_timeout
        self._connect_timeout = connect_timeout
        self._backoff_initial = backoff_initial
        self._order_hold = order_hold
        self._pin_timeout = pin_timeout
        self._conn: EslConnection | None = None
        self._sink: ObservationSink | None = None
        self.outbound: OutboundServer | None = None
        self._members: dict[str, _Member] = {}  # channel uuid -> member
        self._by_participant: dict[str, str] = {}  # participant id -> channel uuid
        self._conferences: dict[str, _ConferenceState] = {}  # engine name -> state
        self._tasks: set[asyncio.Task[Any]] = set()
        self._state: State = "stopped"
        self._subscribed = False
        self.version: tuple[int, int, int] | None = None
        self.tts: bool | None = None  # a speech (TTS) interface is loaded; None: not known yet
        self.ready = asyncio.Event()  # set after each (re)connect's resync
        self.resyncs = 0
        self.events_applied = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self, sink: ObservationSink, router: CallRouter) -> None:
        """Returns at once; connecting, subscribing and the first resync run in the
        background (FreeSWITCH may come up after the bridge)."""
        self._sink = sink
        loop = asyncio.get_running_loop()
        self._conn = EslConnection(
            self._host,
            self._port,
            self._password,
            loop,
            self._on_event,
            self._on_state,
            connect_timeout=self._connect_timeout,
            command_timeout=self._command_timeout,
            backoff_initial=self._backoff_initial,
            order_hold=self._order_hold,
        )
        self._spawn(self._connect(self._conn))
        listen_host, listen_port = self._outbound_listen
        if listen_port is not None:
            self.outbound = OutboundServer(
                self,
                router,
                listen_host=listen_host,
                listen_port=listen_port,
                command_timeout=self._command_timeout,
                pin_timeout=self._pin_timeout,
            )
            await self.outbound.start()

    async def stop(self) -> None:
        if self.outbound is not None:
            await self.outbound.stop()
        if self._conn is not None:
            await self._conn.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def available(self) -> bool:
        return self._conn is not None and self._state == "connected"

    def health(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "esl": self._state,
            "version": ".".join(map(str, self.version)) if self.version else None,
            "members": sum(1 for m in self._members.values() if m.member_id is not None),
            "lobby": sum(1 for m in self._members.values() if m.in_lobby),
            "outbound_calls": self.outbound.calls if self.outbound else 0,
        }

    def media_problem(self, item: MediaItem) -> str | None:
        """Files are FreeSWITCH's to find; say needs a TTS module (``tts``, probed on every
        connect), without one mod_conference answers ``-ERR (say) Error!``."""
        if item.kind == "say" and self.tts is False:
            return "FreeSWITCH has no text-to-speech module loaded; say is unavailable"
        return None

    async def _connect(self, conn: EslConnection) -> None:
        try:
            await conn.start()
        except EslError as exc:
            log.error("FreeSWITCH ESL at %s:%s: %s", self._host, self._port, exc)

    def _on_state(self, state: State) -> None:
        self._state = state
        if state == "connected":
            self._spawn(self._after_connect())
        elif state in ("disconnected", "stopped", "failed"):
            self.ready.clear()

    async def _after_connect(self) -> None:
        """Subscribe (the connection re-subscribes by itself later), probe the version
        once, and resync: events may have been lost while we were away."""
        conn = self._conn
        assert conn is not None
        try:
            if not self._subscribed:
                await conn.subscribe(*SUBSCRIPTIONS)
                self._subscribed = True
            if self.version is None:
                reply = await conn.api(esl.version())
                self.version = mapping.parse_version(reply.body)
            await self._resync(conn)
            types = await conn.api(esl.command("show", "interface_types"))
            self.tts = mapping.has_speech(types.body)
        except EslError as exc:
            log.warning("FreeSWITCH setup after connect failed: %s", exc)
            return
        self.ready.set()

    # ------------------------------------------------------------------ plumbing

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("FreeSWITCH task failed", exc_info=task.exception())

    def _report(self, o: e.Observation) -> None:
        if self._sink is not None:  # the one queue every engine shares with the observer
            self._sink.report(o)

    async def drained(self) -> None:
        """Every observation made so far has been applied (tests, benchmarks)."""
        if self._sink is not None:
            await self._sink.drained()

    async def _api(self, cmd: esl.ApiCommand, *, missing_ok: bool = False) -> str:
        if self._conn is None or self._state != "connected":
            raise EngineError(f"FreeSWITCH is not connected ({self._state})")
        try:
            reply = await self._conn.api(cmd)
        except EslError as exc:
            raise EngineError(f"{cmd.line()}: {exc}") from exc
        if not reply.ok:
            if missing_ok and ("not found" in reply.body or "No such channel" in reply.body):
                return reply.body
            raise EngineError(f"{cmd.line()}: {reply.body.strip()}")
        return reply.body

    def _conf_state(self, conference: Conference) -> _ConferenceState:
        name = mapping.conference_name(conference)
        state = self._conferences.get(name)
        if state is None:
            state = self._conferences[name] = _ConferenceState(conference.id)
        return state

    def _member_of(self, p: Participant) -> _Member:
        uuid = self._by_participant.get(p.id)
        member = self._members.get(uuid) if uuid else None
        if member is None:
            raise EngineError(f"participant {p.id} has no call on FreeSWITCH")
        member.participant = p
        return member

    def _in_conference(self, p: Participant) -> tuple[_Member, int]:
        member = self._member_of(p)
        if member.member_id is None:
            raise EngineError(f"participant {p.id} is not in the conference yet")
        return member, member.member_id

    def _track(self, p: Participant, name: str, uuid: str, session: CallSession | None) -> _Member:
        member = _Member(p, name, uuid, session=session)
        self._members[uuid] = member
        self._by_participant[p.id] = uuid
        return member

    def _forget(self, member: _Member) -> None:
        self._members.pop(member.uuid, None)
        if self._by_participant.get(member.participant.id) == member.uuid:
            del self._by_participant[member.participant.id]

    # ------------------------------------------------------------------ CallHost (dial-in)

    def _plan(self, conference: Conference, p: Participant) -> tuple[str, dict[str, str]]:
        end = mapping.end_flag(self.version)
        target = mapping.join_target(conference, p, self.profile, end)
        return target, mapping.channel_variables(conference, p, self._media_root)

    def admitted(
        self, conference: Conference, participant: Participant, session: CallSession
    ) -> JoinPlan:
        name = mapping.conference_name(conference)
        self._conf_state(conference)
        self._track(participant, name, session.uuid, session)
        target, variables = self._plan(conference, participant)
        lobby = mapping.lobby_media(conference, participant, self._media_root)
        return JoinPlan(variables, target, lobby)

    def entered_lobby(self, uuid: str) -> None:
        member = self._members.get(uuid)
        if member is None or member.joined:
            return
        member.in_lobby = True
        member.joined = True  # joined from the API's point of view, waiting
        self._report(e.MemberJoined(member.participant.id, uuid))

    def digit(self, uuid: str, digit: str) -> None:
        member = self._members.get(uuid)
        if member is not None:
            self._report(e.DigitPressed(member.participant.id, digit))

    def call_ended(self, uuid: str) -> None:
        member = self._members.get(uuid)
        if member is None:
            return
        self._forget(member)
        self._report(e.MemberLeft(member.participant.id, member.leave_reason))

    def hang_up_after_conference(self, uuid: str) -> bool:
        member = self._members.get(uuid)
        return member is None or mapping.ends_with_conference(member.participant)

    # ------------------------------------------------------------------ events

    def _on_event(self, event: esl.Event) -> None:
        ce = conference_event(event)
        if ce is None or mapping.conference_id_of(ce.conference_name) is None:
            return  # not ours: other conferences may share this FreeSWITCH
        self.events_applied += 1
        handler = _HANDLERS.get(ce.action)
        if handler is not None:
            handler(self, ce)

    def _event_member(self, ce: ConferenceEvent) -> _Member | None:
        member = self._members.get(ce.channel_uuid or "")
        if member is None or member.name != ce.conference_name:
            return None
        if (
            member.conference_uuid is not None
            and ce.conference_uuid is not None
            and member.conference_uuid != ce.conference_uuid
        ):
            return None  # a stale event from an earlier instance of this conference
        return member

    def _add_member(self, ce: ConferenceEvent) -> None:
        member = self._members.get(ce.channel_uuid or "")
        if member is None or member.name != ce.conference_name:
            return
        member.member_id = ce.member_id
        member.conference_uuid = ce.conference_uuid
        member.in_lobby = False
        if member.dialing:  # add-member can overtake the originate result
            member.dialing = False
            self._report(e.CallAnswered(member.participant.id))
        if not member.joined:
            member.joined = True
            self._report(e.MemberJoined(member.participant.id, member.uuid))
        opts = member.participant.options
        if opts.has_joined_message is not None:
            media = tuple(m for m in (opts.name, opts.has_joined_message) if m is not None)
            self._spawn(self._announce_quietly(ce.conference_name, media))

    def _del_member(self, ce: ConferenceEvent) -> None:
        member = self._event_member(ce)
        if member is None:
            return
        self._forget(member)
        self._report(e.MemberLeft(member.participant.id, member.leave_reason))
        opts = member.participant.options
        if opts.has_left_message is not None and (ce.conference_size or 0) > 0:
            media = tuple(m for m in (opts.name, opts.has_left_message) if m is not None)
            self._spawn(self._announce_quietly(ce.conference_name, media))

    def _talking(self, ce: ConferenceEvent) -> None:
        member = self._event_member(ce)
        if member is not None:
            talking = ce.action == "start-talking"
            self._report(e.TalkingChanged(member.participant.id, talking))

    def _mute(self, ce: ConferenceEvent) -> None:
        member = self._event_member(ce)
        if member is None:
            return
        muted = ce.action == "mute-member"
        if not muted and not member.participant.options.talker and ce.member_id is not None:
            # talker=false is never unmuted, whoever tried (API user, a stray control)
            cmd = esl.conf_mute(ce.conference_name, ce.member_id, quiet=True)
            self._spawn(self._quietly(cmd))
            return
        self._report(e.MuteChanged(member.participant.id, muted))

    def _deaf(self, ce: ConferenceEvent) -> None:
        """A deaf change, ours or made on the PBX (``conference ... deaf``). Not while on
        hold (our hold deafens too) and not for listen=false members (always deaf)."""
        member = self._event_member(ce)
        if member is None or member.on_hold or not member.participant.options.listen:
            return
        deaf = ce.action == "deaf-member"
        self._report(e.FlagsChanged(member.participant.id, deaf=deaf))

    def _hold(self, ce: ConferenceEvent) -> None:
        member = self._event_member(ce)
        if member is None:
            return
        member.on_hold = ce.action == "hold-member"
        self._report(e.FlagsChanged(member.participant.id, hold=member.on_hold))

    def _dtmf(self, ce: ConferenceEvent) -> None:
        member = self._event_member(ce)
        if member is None:
            return
        for digit in ce.dtmf_key or "":
            if is_safe(digit, "digit"):
                self._report(e.DigitPressed(member.participant.id, digit))

    def _recording_stopped(self, ce: ConferenceEvent) -> None:
        state = self._conferences.get(ce.conference_name)
        path = ce.headers.get("Path")
        if state is None or path is None:
            return
        rec_id = next((r for r, p in state.recordings.items() if p == path), None)
        if rec_id is None:
            return
        del state.recordings[rec_id]
        size = ce.headers.get("Record-File-Size", "0")
        millis = ce.headers.get("Milliseconds-Elapsed", "0")
        self._report(
            e.RecordingEnded(
                state.conference_id,
                rec_id,
                size_bytes=int(size) if size.isdigit() else 0,
                duration_seconds=int(millis) / 1000 if millis.isdigit() else 0.0,
            )
        )

    def _play_done(self, ce: ConferenceEvent) -> None:
        state = self._conferences.get(ce.conference_name)
        if state is None:
            return
        file = ce.file or ""
        waiting = state.announcements.get(file)
        if not waiting:
            # a relative name (esl_media_dir "sounds") comes back with the sound-prefix
            waiting = next(
                (
                    queue
                    for key, queue in state.announcements.items()
                    if queue and not key.startswith("/") and file.endswith("/" + key)
                ),
                None,
            )
        if not waiting:
            return
        self._report(e.AnnouncementFinished(state.conference_id, waiting.popleft()))

    def _destroyed(self, ce: ConferenceEvent) -> None:
        state = self._conferences.pop(ce.conference_name, None)
        if state is None:
            return
        for rec_id in state.recordings:  # no stop-recording came: the file may be cut short
            self._report(e.RecordingEnded(state.conference_id, rec_id, failed=True))

    async def _quietly(self, cmd: esl.ApiCommand) -> None:
        with contextlib.suppress(EngineError):
            await self._api(cmd, missing_ok=True)

    async def _announce_quietly(self, name: str, media: tuple[MediaItem, ...]) -> None:
        for item in mapping.announcements(name, media, None, self._media_root):
            await self._quietly(item.command)

    # ------------------------------------------------------------------ resync

    async def _resync(self, conn: EslConnection) -> None:
        reply = await conn.api(esl.conference_list_all(json_format=True))
        try:
            listing = json.loads(reply.body) if reply.body.lstrip().startswith("[") else []
        except ValueError:
            log.warning("conference json_list: unreadable reply %r", reply.body[:80])
            return
        present: dict[str, set[str]] = {}
        flags: dict[str, e.MemberFlags] = {}
        seen: set[str] = set()
        for conf in listing if isinstance(listing, list) else []:
            name = str(conf.get("conference_name", ""))
            conference_id = mapping.conference_id_of(name)
            if conference_id is None:
                continue
            for row in conf.get("members", []):
                uuid = str(row.get("uuid", ""))
                if row.get("type") != "caller" or not is_safe(uuid, "uuid"):
                    continue
                pid = await self._participant_of(conn, uuid)
                if pid is None:
                    continue
                seen.add(uuid)
                member = self._members.get(uuid)
                if member is None:  # the bridge restarted: rebuild from the channel
                    p = Participant(pid, conference_id, "", _EPOCH, _EPOCH, call_ref=uuid)
                    member = self._track(p, name, uuid, None)
                member.member_id = row.get("id") if isinstance(row.get("id"), int) else None
                member.conference_uuid = conf.get("conference_uuid")
                member.joined = True
                present.setdefault(conference_id, set()).add(pid)
                said = mapping.member_flags_of(row.get("flags"), member.participant)
                if said is not None:
                    member.on_hold = said.hold
                    flags[pid] = said
        for member in list(self._members.values()):
            if member.uuid in seen:
                continue
            if member.in_lobby:
                conference_id = mapping.conference_id_of(member.name) or ""
                present.setdefault(conference_id, set()).add(member.participant.id)
            elif member.member_id is not None:
                self._forget(member)  # gone while we were away
        self.resyncs += 1
        self._report(e.Snapshot({k: frozenset(v) for k, v in present.items()}, flags))

    async def _participant_of(self, conn: EslConnection, uuid: str) -> str | None:
        member = self._members.get(uuid)
        if member is not None:
            return member.participant.id
        cmd = esl.command("uuid_getvar", safe_value(uuid, "uuid"), mapping.PARTICIPANT_VARIABLE)
        body = (await conn.api(cmd)).body.strip()
        return body if is_safe(body, "token") and body.startswith("pa_") else None

    # ------------------------------------------------------------------ commands

    async def execute(self, command: e.Command) -> None:
        try:
            await self._execute(command)
        except UnsafeValueError as exc:
            raise EngineError(f"refused to send {type(command).__name__}: {exc}") from exc

    async def _execute(self, command: e.Command) -> None:
        if isinstance(command, e.Originate):
            await self._originate(command.conference, command.participant)
            return
        name = mapping.conference_name(command.conference)
        if not isinstance(command, e.EndConference):
            await self._sync_beep(name, command.conference)
        match command:  # exhaustive: mypy flags a command this engine does not handle
            case e.StartConference():
                await self._start(command.conference)
            case e.EndConference():
                await self._end(name)
            case e.Kick():
                await self._kick(name, command.participant, command.reason)
            case e.SetMute():
                await self._set_mute(name, command.participant, command.muted)
            case e.SetDeaf():
                await self._set_deaf(name, command.participant, command.deaf)
            case e.SetHold():
                await self._set_hold(name, command.participant, command.hold, command.media)
            case e.Play():
                await self._play(name, command)
            case e.StartRecording():
                path = safe_value(command.path, "path")
                self._conf_state(command.conference).recordings[command.recording_id] = path
                await self._api(esl.conf_recording(name, "start", path))
            case e.StopRecording() | e.PauseRecording():
                await self._recording(name, command)
            case _:
                assert_never(command)

    async def _sync_beep(self, name: str, conference: Conference) -> None:
        """play_beep can change while the conference runs: follow it with enter/exit_sound."""
        state = self._conferences.get(name)
        if state is None or state.play_beep == conference.play_beep:
            return
        old, new = state.play_beep, conference.play_beep
        state.play_beep = new
        if old.on_entry != new.on_entry:
            await self._api(esl.conf_enter_sound(name, "on" if new.on_entry else "off"))
        if old.on_exit != new.on_exit:
            await self._api(esl.conf_exit_sound(name, "on" if new.on_exit else "off"))

    async def _start(self, conference: Conference) -> None:
        """Latched start. Members inside FreeSWITCH were released by the moderator flag;
        callers in our lobby move in now."""
        name = mapping.conference_name(conference)
        for member in list(self._members.values()):
            if member.name == name and member.in_lobby and member.session is not None:
                target, _ = self._plan(conference, member.participant)
                try:
                    await member.session.release(target)
                except (ConnectionError, TimeoutError) as exc:
                    log.warning("could not release %s from the lobby: %s", member.uuid, exc)

    async def _end(self, name: str) -> None:
        """Every call ends: members leave (hup all), then calls that must end are killed;
        a call that goes on to a next page keeps its channel."""
        members = [m for m in self._members.values() if m.name == name]
        await self._api(esl.conf_hup(name, "all"), missing_ok=True)
        for member in members:
            if mapping.ends_with_conference(member.participant):
                await self._api(esl.uuid_kill(member.uuid), missing_ok=True)

    async def _kick(self, name: str, p: Participant, reason: LeaveReason) -> None:
        member = self._member_of(p)
        member.leave_reason = reason
        if member.member_id is None:  # in the lobby, or still ringing: end the call
            await self._api(esl.uuid_kill(member.uuid), missing_ok=True)
        elif reason == LeaveReason.KICKED:
            await self._api(esl.conf_kick(name, member.member_id), missing_ok=True)
        else:
            await self._api(esl.conf_hup(name, member.member_id), missing_ok=True)

    async def _set_mute(self, name: str, p: Participant, muted: bool) -> None:
        if not muted and not p.options.talker:
            raise EngineError(f"participant {p.id} is not a talker; never unmuted")
        member = self._member_of(p)
        if member.member_id is None:
            return  # joins with the mute flag of member.participant
        builder = esl.conf_mute if muted else esl.conf_unmute
        await self._api(builder(name, member.member_id))

    async def _set_deaf(self, name: str, p: Participant, deaf: bool) -> None:
        member = self._member_of(p)
        if member.member_id is None:
            return
        builder = esl.conf_deaf if deaf else esl.conf_undeaf
        await self._api(builder(name, member.member_id))

    async def _set_hold(
        self, name: str, p: Participant, hold: bool, media: MediaItem | None
    ) -> None:
        """hold alone does not deafen on FreeSWITCH: hold + deaf silences both ways."""
        member, member_id = self._in_conference(p)
        if hold:
            sound = None if media is None else mapping.media_path(media, self._media_root)
            await self._api(esl.conf_hold(name, member_id, sound))
            await self._api(esl.conf_deaf(name, member_id))
        else:
            await self._api(esl.conf_unhold(name, member_id))
            if not (p.deaf or not p.options.listen):
                await self._api(esl.conf_undeaf(name, member_id))
        member.participant = p

    async def _play(self, name: str, command: e.Play) -> None:
        member_id = None
        if command.participant is not None:
            _, member_id = self._in_conference(command.participant)
        items = mapping.announcements(name, command.media, member_id, self._media_root)
        last_file = items[-1].file if items else None
        if command.announcement_id is not None and last_file is not None:
            waiting = self._conf_state(command.conference).announcements
            waiting.setdefault(last_file, collections.deque()).append(command.announcement_id)
        try:
            for item in items:
                await self._api(item.command)
        except EngineError:
            # announcement.started is out: its finish must follow even when FreeSWITCH
            # refused the item (a missing file, say without TTS)
            if command.announcement_id is not None:
                queue = self._conf_state(command.conference).announcements.get(last_file or "")
                if queue is not None and command.announcement_id in queue:
                    queue.remove(command.announcement_id)
                self._report(
                    e.AnnouncementFinished(
                        command.conference.id, command.announcement_id, failed=True
                    )
                )
            raise
        if command.announcement_id is not None and last_file is None:
            # say has no "done" event: finished once FreeSWITCH took it
            self._report(e.AnnouncementFinished(command.conference.id, command.announcement_id))

    async def _recording(self, name: str, command: e.StopRecording | e.PauseRecording) -> None:
        state = self._conf_state(command.conference)
        path = state.recordings.get(command.recording_id)
        if path is None:
            raise EngineError(f"no recording {command.recording_id} on {name}")
        if isinstance(command, e.StopRecording):
            await self._api(esl.conf_recording(name, "stop", path), missing_ok=True)
        else:
            if command.paused:
                await self._api(esl.conf_recording(name, "pause", path))
            else:
                await self._api(esl.conf_recording(name, "resume", path))

    # ------------------------------------------------------------------ dial-out

    async def _originate(self, conference: Conference, p: Participant) -> None:
        if p.to is None:
            raise EngineError(f"participant {p.id} has nothing to dial")
        name = mapping.conference_name(conference)
        self._conf_state(conference)
        call_uuid = str(uuidlib.uuid4())
        target, variables = self._plan(conference, p)
        if mapping.lobby_media(conference, p, self._media_root) is not None:
            log.info("dial-out %s waits with the conference MOH (no lobby for dial-outs)", p.id)
        timeout = max(1, p.answer_timeout)
        all_vars: dict[str, str | int] = {
            "origination_uuid": call_uuid,
            "originate_timeout": timeout,
            **variables,
        }
        # built only from the re-parsed target and the configured prefix (no "/" from `to`)
        endpoint = mapping.dial_endpoint(p.to, self._dial_prefix)
        if p.from_ is not None:
            # refused, not dropped: a caller id that is not a number or SIP user never
            # reaches an originate variable (UnsafeValueError -> EngineError)
            all_vars["origination_caller_id_number"] = safe_value(p.from_, "caller_id")
        callee = mapping.callee_number(p.to)
        if callee is not None:
            # set the callee id or the leg flips its caller id on answer
            all_vars["origination_callee_id_number"] = callee
        cmd = esl.originate(
            endpoint,
            app="conference",
            app_arg=target,
            variables=all_vars,
        )
        if self._conn is None or self._state != "connected":
            raise EngineError(f"FreeSWITCH is not connected ({self._state})")
        self._track(p, name, call_uuid, None).dialing = True
        self._spawn(self._dial(self._conn, cmd, p, call_uuid, timeout + _ORIGINATE_SLACK))

    async def _dial(
        self, conn: EslConnection, cmd: esl.ApiCommand, p: Participant, uuid: str, budget: float
    ) -> None:
        try:
            job = await conn.bgapi(cmd, timeout=budget)
        except EslError as exc:
            log.warning("originate for %s: %s", p.id, exc)
            self._failed(uuid, FailureReason.NO_ANSWER)
            with contextlib.suppress(EslError):
                await conn.api(esl.uuid_kill(uuid))
            return
        member = self._members.get(uuid)
        if job.ok:
            if member is not None and member.dialing:
                member.dialing = False
                self._report(e.CallAnswered(p.id))
            if p.call_options is not None:  # secondary_call.minutes_max_call_duration
                limit = esl.sched_hangup(p.call_options.minutes_max_call_duration * 60, uuid)
                with contextlib.suppress(EslError):
                    await conn.api(limit)
        else:
            self._failed(uuid, mapping.failure_reason(job.body))

    def _failed(self, uuid: str, reason: FailureReason) -> None:
        member = self._members.get(uuid)
        if member is None or member.joined:
            return
        self._forget(member)
        self._report(e.CallFailed(member.participant.id, reason))


_EPOCH = datetime.fromtimestamp(0, UTC)  # placeholder times on rebuilt participants

_HANDLERS = {
    "add-member": FreeSwitchBackend._add_member,
    "del-member": FreeSwitchBackend._del_member,
    "start-talking": FreeSwitchBackend._talking,
    "stop-talking": FreeSwitchBackend._talking,
    "mute-member": FreeSwitchBackend._mute,
    "unmute-member": FreeSwitchBackend._mute,
    "deaf-member": FreeSwitchBackend._deaf,
    "undeaf-member": FreeSwitchBackend._deaf,
    "hold-member": FreeSwitchBackend._hold,
    "unhold-member": FreeSwitchBackend._hold,
    "dtmf": FreeSwitchBackend._dtmf,
    "stop-recording": FreeSwitchBackend._recording_stopped,
    "play-file-done": FreeSwitchBackend._play_done,
    "play-file-member-done": FreeSwitchBackend._play_done,
    "conference-destroy": FreeSwitchBackend._destroyed,
}
