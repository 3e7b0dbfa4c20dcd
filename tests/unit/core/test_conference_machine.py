from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypedDict, Unpack

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core import conference as csm
from bridge.core import engine as cmd
from bridge.core import participant as psm
from bridge.core.errors import Conflict
from bridge.core.models import (
    Conference,
    ConferenceStatus,
    ConferenceType,
    LeaveReason,
    Participant,
    ParticipantOptions,
    ParticipantStatus,
)

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
S = ConferenceStatus


def conf(**kw: object) -> Conference:
    return Conference(id="cf_1", account_id="ac_1", name="c", created_at=T0, updated_at=T0, **kw)  # type: ignore[arg-type]


class Flags(TypedDict, total=False):
    """The ParticipantOptions these tests vary; the rest keep their defaults."""

    start_on_entry: bool
    destroy_on_exit: bool


def person(pid: str, **opts: Unpack[Flags]) -> Participant:
    return Participant(
        id=pid,
        conference_id="cf_1",
        account_id="ac_1",
        created_at=T0,
        updated_at=T0,
        options=ParticipantOptions(**opts),
    )


def join(c: Conference, p: Participant) -> csm.Decision:
    return csm.participant_joined(c, p, T0)


def leave(c: Conference, p: Participant, reason: LeaveReason = LeaveReason.HANGUP) -> csm.Decision:
    return csm.participant_left(c, p, reason, T0, was_joined=True)


def test_first_listener_populates_and_a_moderator_starts() -> None:
    c = conf()
    d = join(c, person("a", start_on_entry=False))
    assert d.conference.status == S.POPULATED
    d2 = join(d.conference, person("b"))
    assert d2.conference.status == S.IN_PROGRESS
    assert any(isinstance(x, cmd.StartConference) for x in d2.commands)
    assert d2.conference.started_at == T0


def test_start_is_latched_when_the_moderator_leaves() -> None:
    c = join(conf(), person("m")).conference
    c = join(c, person("x", start_on_entry=False)).conference
    assert c.status == S.IN_PROGRESS
    c = leave(c, person("m")).conference
    assert c.status == S.IN_PROGRESS  # latched: stays started while anyone remains
    assert c.participant_count == 1


def test_empty_conference_emits_populated_then_in_progress_in_order() -> None:
    d = join(conf(), person("m"))
    assert [e.data["to"] for e in d.events] == ["populated", "in_progress"]
    assert d.conference.revision == 3


def test_last_leave_returns_to_empty_and_the_conference_is_reusable() -> None:
    c = join(conf(record=True), person("m")).conference
    d = leave(c, person("m"))
    assert d.conference.status == S.EMPTY
    assert d.stop_recording
    assert join(d.conference, person("n")).conference.status == S.IN_PROGRESS


def test_record_starts_only_when_the_conference_starts() -> None:
    d = join(conf(record=True), person("w", start_on_entry=False))
    assert not d.start_recording
    assert join(d.conference, person("m")).start_recording


def test_destroy_on_exit_ends_the_conference_for_everyone() -> None:
    c = join(conf(), person("boss", destroy_on_exit=True, start_on_entry=False)).conference
    c = join(c, person("x")).conference
    d = leave(c, person("boss", destroy_on_exit=True))
    assert d.conference.status == S.TERMINATING
    assert d.end_reason == csm.EndReason.DESTROY_ON_EXIT
    assert any(isinstance(x, cmd.EndConference) for x in d.commands)


def test_destroy_on_exit_does_not_fire_when_the_conference_ended_them() -> None:
    c = join(conf(), person("boss", destroy_on_exit=True)).conference
    c = join(c, person("x")).conference
    c = csm.terminate(c, csm.EndReason.API, T0, present=2).conference
    d = leave(c, person("boss", destroy_on_exit=True), LeaveReason.CONFERENCE_ENDED)
    assert d.conference.status == S.TERMINATING
    d = leave(d.conference, person("x"), LeaveReason.CONFERENCE_ENDED)
    assert d.conference.status == S.TERMINATED


def test_connect_type_ends_below_two() -> None:
    c = conf(type=ConferenceType.CONNECT)
    c = join(join(c, person("a")).conference, person("b")).conference
    d = leave(c, person("a"))
    assert d.conference.status == S.TERMINATING
    assert d.end_reason == csm.EndReason.CONNECT_ENDED


def test_terminate_empty_is_final_and_not_reusable() -> None:
    d = csm.terminate(conf(), csm.EndReason.API, T0, present=0)
    assert d.conference.status == S.TERMINATED
    assert d.conference.ended_at == T0
    with pytest.raises(Conflict):
        csm.terminate(d.conference, csm.EndReason.API, T0, present=0)
    late = join(d.conference, person("z"))
    assert late.conference.status == S.TERMINATED
    assert isinstance(late.commands[0], cmd.Kick)


def test_timeout_counts_from_creation() -> None:
    c = conf(timeout=60)
    assert not csm.timed_out(c, T0 + timedelta(seconds=59))
    assert csm.timed_out(c, T0 + timedelta(seconds=60))
    assert csm.leave_reason_for(csm.EndReason.TIMEOUT) == LeaveReason.TIMEOUT


def test_reservation_opens_only_from_reserved() -> None:
    assert csm.open_reservation(conf(status=S.RESERVED), T0).conference.status == S.EMPTY
    with pytest.raises(Conflict):
        csm.open_reservation(conf(), T0)


# --- property: random observation sequences -------------------------------------------

actions = st.lists(
    st.tuples(
        st.sampled_from(["join", "leave", "fail", "terminate"]),
        st.integers(min_value=0, max_value=5),
        st.booleans(),
        st.booleans(),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(actions)
def test_random_sequences_keep_the_invariants(seq: list[tuple[str, int, bool, bool]]) -> None:
    c = conf(type=ConferenceType.CONFERENCE)
    people = {
        f"p{i}": person(f"p{i}", start_on_entry=(i % 2 == 0), destroy_on_exit=(i == 3))
        for i in range(6)
    }
    order = psm.ORDER
    for action, who, flag, _ in seq:
        pid = f"p{who}"
        p = people[pid]
        before_rev, before_status = c.revision, c.status
        if action == "join":
            moved = psm.joined(p, T0)
            if moved is None:
                continue
            d = csm.participant_joined(c, moved[0], T0)
            if d.conference.status not in (S.TERMINATED, S.TERMINATING):
                people[pid] = moved[0]
        elif action == "leave":
            was_joined = p.status == ParticipantStatus.JOINED
            moved = psm.left(p, LeaveReason.HANGUP if flag else LeaveReason.KICKED, T0)
            if moved is None:
                continue
            new_p = moved[0]
            assert order[new_p.status] >= order[p.status]
            people[pid] = new_p
            d = csm.participant_left(c, new_p, LeaveReason.HANGUP, T0, was_joined=was_joined)
        elif action == "fail":
            moved = psm.failed(p, psm.FailureReason.NO_ANSWER, T0)  # type: ignore[attr-defined]
            if moved is None:
                continue
            people[pid] = moved[0]
            d = csm.participant_left(c, moved[0], LeaveReason.FAILED, T0, was_joined=False)
        else:
            if c.status == S.TERMINATED:
                continue
            d = csm.terminate(c, csm.EndReason.API, T0, present=c.participant_count)
        c = d.conference
        assert c.participant_count >= 0
        assert c.revision >= before_rev
        if c.status != before_status:
            assert c.revision > before_rev
        if before_status == S.TERMINATED:
            assert c.status == S.TERMINATED
        joined = sum(1 for x in people.values() if x.status == ParticipantStatus.JOINED)
        if c.status not in (S.TERMINATED, S.TERMINATING):
            assert c.participant_count == joined


def test_participant_moves_forward_only() -> None:
    p = person("a")
    j, _ = psm.joined(p, T0)  # type: ignore[misc]
    gone, ev = psm.left(j, LeaveReason.HANGUP, T0 + timedelta(seconds=12.34))  # type: ignore[misc]
    assert gone.status == ParticipantStatus.LEFT
    assert ev.data == {"reason": "hangup", "seconds_connected_duration": 12.3}
    assert psm.joined(gone, T0) is None
    assert psm.left(gone, LeaveReason.HANGUP, T0) is None
    assert psm.failed(j, psm.FailureReason.BUSY, T0) is None  # type: ignore[attr-defined]
    never = psm.left(p, LeaveReason.HANGUP, T0)
    assert never is not None and never[0].status == ParticipantStatus.FAILED
    assert replace(p, status=ParticipantStatus.LEFT).status == ParticipantStatus.LEFT
