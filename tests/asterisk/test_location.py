"""The call-location state machine (pure): our own moves never lose the call, whatever
order AMI delivers their events in; a real leave is seen at once."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from bridge.pbx.asterisk.location import Location, Where, move_number

Step = Callable[[Location], object]


def where(loc: Location) -> Where:
    """Read anew each time (mypy would otherwise keep an earlier assert's narrowing)."""
    return loc.where


def _in_conf() -> Location:
    loc = Location()
    assert loc.arrive(Where.CONF, 0)
    return loc


def test_hold_and_back_in_any_event_order_ends_in_the_conference() -> None:
    # conf -> hold (move 1) -> conf (move 2): the ConfbridgeLeave of move 1, BridgeHold of
    # move 1, the ConfbridgeLeave of move 0's stay replayed late, and ConfbridgeJoin of move 2
    events: list[Step] = [
        lambda loc: loc.conf_left(1),
        lambda loc: loc.arrive(Where.HOLD, 1),
        lambda loc: loc.arrive(Where.CONF, 2),
    ]
    for order in itertools.permutations(events):
        loc = _in_conf()
        assert loc.move() == 1
        assert where(loc) == Where.MOVING
        assert loc.move() == 2  # unhold sent before anything of the hold arrived
        for step in order:
            step(loc)
            assert where(loc) != Where.LEFT
        assert where(loc) == Where.CONF


def test_a_play_alone_and_its_return_in_any_order() -> None:
    # conf -> play (move 1); the dialplan brings it back itself as move 2 (reserved)
    events: list[Step] = [
        lambda loc: loc.conf_left(1),
        lambda loc: loc.arrive(Where.PLAY, 1),
        lambda loc: loc.arrive(Where.CONF, 2),
    ]
    for order in itertools.permutations(events):
        loc = _in_conf()
        assert (loc.move(), loc.move()) == (1, 2)
        for step in order:
            step(loc)
            assert where(loc) != Where.LEFT
        assert where(loc) == Where.CONF
        assert loc.conf_left(2), "a hangup after the return is a real leave"


def test_a_real_leave_is_seen_at_once_and_only_once() -> None:
    loc = _in_conf()
    assert loc.conf_left(0)
    assert where(loc) == Where.LEFT
    assert not loc.conf_left(0)
    assert not loc.arrive(Where.CONF, 5), "nothing brings a call back from LEFT"


def test_a_leave_of_an_older_stay_is_stale() -> None:
    loc = _in_conf()
    loc.move()
    loc.arrive(Where.HOLD, 1)
    loc.move()
    loc.arrive(Where.CONF, 2)
    assert not loc.conf_left(1) and not loc.conf_left(0)
    assert where(loc) == Where.CONF
    assert loc.conf_left(2)


def test_a_move_not_carried_out_leaves_the_call_where_it_was() -> None:
    loc = _in_conf()
    move = loc.move()
    loc.not_moved(move)
    assert where(loc) == Where.CONF


def test_move_number_reads_what_the_channel_carries() -> None:
    assert move_number(None) == 0 and move_number("") == 0
    assert move_number("7") == 7 and move_number("x") == 0 and move_number("-3") == 0
