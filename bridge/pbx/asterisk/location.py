"""Where one call is in our dialplan: a pure state machine over numbered moves.

Every Redirect the bridge sends is numbered: ``BRIDGE_MOVE`` is set on the channel
first, and manager.conf ``channelvars`` makes every channel event carry it. An arrival
(ConfbridgeJoin, the BridgeHold / BridgeLobby / BridgePlay UserEvents) or a ConfbridgeLeave is thus
tied to the move that caused it, and the order in which AMI delivers them does not
matter:

* an arrival older than the last one seen is stale and changes nothing;
* a ConfbridgeLeave carrying a newer move than the call's last arrival was caused by
  that move (ours); one carrying the move of the stay in the conference that is under
  way is a real leave (hangup, kick), reported at once; any other is stale.

Nothing here does IO; the backend feeds it events and asks ``where``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Where(StrEnum):
    ROUTING = "routing"  # in the FastAGI handler, or dialling out
    LOBBY = "lobby"  # waiting for the conference to start (own wait media)
    CONF = "conf"  # inside ConfBridge()
    HOLD = "hold"  # held or listen=false: outside the mix
    PLAY = "play"  # out of the mix for an announcement to this call alone
    MOVING = "moving"  # a move we sent has not arrived yet
    LEFT = "left"  # out of ConfBridge for good (the leave is reported)


@dataclass
class Location:
    place: Where = Where.ROUTING  # the last place the call was seen to arrive at
    arrived: int = 0  # the move number of that arrival
    issued: int = 0  # the last move number we sent (or are about to)

    @property
    def where(self) -> Where:
        if self.place == Where.LEFT:
            return Where.LEFT
        return Where.MOVING if self.issued > self.arrived else self.place

    def move(self) -> int:
        """A new move: its number goes on the channel before the Redirect."""
        self.issued = max(self.issued, self.arrived) + 1
        return self.issued

    def not_moved(self, move: int) -> None:
        """The Redirect for ``move`` was not carried out: the call stays where it is (it
        carries ``move`` already when the Setvar went through)."""
        if move == self.issued and self.place != Where.LEFT:
            self.arrived = move

    def arrive(self, place: Where, move: int) -> bool:
        """The call reports it is at ``place`` because of ``move``. False: stale."""
        if self.place == Where.LEFT or move < self.arrived:
            return False
        self.place, self.arrived = place, move
        self.issued = max(self.issued, move)
        return True

    def conf_left(self, move: int) -> bool:
        """A ConfbridgeLeave carrying ``move``. True: a real leave (not a move of ours)."""
        if self.place != Where.CONF or move != self.arrived:
            return False  # caused by a later move of ours, or older than what we know
        self.place = Where.LEFT
        return True

    def gone(self) -> None:
        self.place = Where.LEFT

    def adopt(self, place: Where, move: int) -> None:
        """What Asterisk listed on a resync is the truth, whatever we thought."""
        self.place, self.arrived, self.issued = place, move, move


def move_number(value: str | None) -> int:
    """``BRIDGE_MOVE`` as the channel reports it: unset (the first routing) is move 0."""
    try:
        return max(0, int(value or "0"))
    except ValueError:
        return 0
