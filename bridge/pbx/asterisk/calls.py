"""What the Asterisk backend knows about each call and each conference, in memory.

A call is keyed by its Asterisk Uniqueid (stable for the channel's life; the channel
*name* is kept for the actions that need the exact name). `Where` is where the call is
in our dialplan; a Redirect sets MOVING until the call reports its arrival, so the
ConfbridgeLeave caused by our own move is never mistaken for a leave.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum

from bridge.core.ids import engine_name
from bridge.core.models import Conference, ConferenceStatus, LeaveReason, Participant


class Where(StrEnum):
    ROUTING = "routing"  # in the FastAGI handler, or dialling out
    LOBBY = "lobby"  # waiting for the conference to start (own wait media)
    CONF = "conf"  # inside ConfBridge()
    HOLD = "hold"  # held or listen=false: outside the mix
    MOVING = "moving"  # a Redirect we sent is under way
    LEFT = "left"  # out of ConfBridge, the leave not reported yet


@dataclass
class Room:
    """One of our conferences as the backend sees it."""

    conference: Conference
    started: bool = False  # latched start: the lobby is released
    ended: bool = False  # EndConference was executed: nobody may (re)enter

    @property
    def name(self) -> str:
        return engine_name(self.conference.id)

    def follow(self, conf: Conference) -> None:
        self.conference = conf
        if conf.status == ConferenceStatus.IN_PROGRESS:
            self.started = True
        elif conf.status in (ConferenceStatus.EMPTY, ConferenceStatus.POPULATED):
            self.started = False  # back to empty: the next joiners wait again
        elif conf.status in (ConferenceStatus.TERMINATING, ConferenceStatus.TERMINATED):
            self.ended = True


@dataclass
class Call:
    uniqueid: str
    participant: Participant
    room: Room
    channel: str | None = None
    outbound: bool = False
    where: Where = Where.ROUTING
    muted: bool = False
    hold: bool = False
    deaf: bool = False
    hold_media: str | None = None
    joined_reported: bool = False
    left_reported: bool = False
    announced: bool = False
    kick_reason: LeaveReason | None = None
    hangup_cause: str | None = None  # Q.850 cause of an unanswered dial-out
    gone: asyncio.Event = field(default_factory=asyncio.Event)  # hung up or reported left

    @property
    def participant_id(self) -> str:
        return self.participant.id

    def desired(self) -> Where:
        """Where this call should be now."""
        if self.hold or self.deaf:
            return Where.HOLD
        if self.room.started or self.participant.options.start_on_entry:
            return Where.CONF
        return Where.LOBBY


@dataclass
class Registry:
    calls: dict[str, Call] = field(default_factory=dict)  # Uniqueid -> call
    by_participant: dict[str, Call] = field(default_factory=dict)
    rooms: dict[str, Room] = field(default_factory=dict)  # conference id -> room

    def room(self, conf: Conference) -> Room:
        room = self.rooms.get(conf.id)
        if room is None:
            room = self.rooms[conf.id] = Room(conf)
        room.follow(conf)
        return room

    def add(self, call: Call) -> None:
        self.calls[call.uniqueid] = call
        self.by_participant[call.participant_id] = call

    def remove(self, call: Call) -> None:
        self.calls.pop(call.uniqueid, None)
        if self.by_participant.get(call.participant_id) is call:
            del self.by_participant[call.participant_id]

    def in_room(self, conference_id: str) -> list[Call]:
        return [c for c in self.calls.values() if c.room.conference.id == conference_id]
