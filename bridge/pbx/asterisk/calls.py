"""What the Asterisk backend knows about each call and each conference, in memory.

A call is keyed by its Asterisk Uniqueid (stable for the channel's life; the channel
*name* is kept for the actions that need the exact name). `Location` (location.py) is where
the call is in our dialplan, kept over numbered moves so that the ConfbridgeLeave caused
by our own move is never mistaken for a leave, whatever the event order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bridge.core.ids import engine_name
from bridge.core.models import Conference, ConferenceStatus, LeaveReason, Participant
from bridge.pbx.asterisk.location import Location, Where


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
    loc: Location = field(default_factory=Location)
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
    adopted: bool = False  # rebuilt from Asterisk on a resync: the participant is a stand-in
    # a command for this call was lost with the AMI link (in flight, or its move could not
    # be sent): the next resync converges Asterisk on our flags instead of taking its own
    unsynced: bool = False
    # announcements to this call alone, (announcement id, playlist); the first is playing
    playing: list[tuple[str | None, str]] = field(default_factory=list)

    @property
    def where(self) -> Where:
        return self.loc.where

    @property
    def participant_id(self) -> str:
        return self.participant.id

    def desired(self) -> Where:
        """Where this call should be now."""
        return Where.PLAY if self.playing else self.resting()

    def resting(self) -> Where:
        """Where it belongs when nothing plays to it alone."""
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
