"""The one definition of a conference's API fields (core/spec.py) and the row conversion
that reads the dataclasses' own fields (store/convert.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bridge.core import spec
from bridge.core.errors import InvalidInput
from bridge.core.models import (
    CallOptions,
    Conference,
    ConferenceStatus,
    DialIn,
    LeaveReason,
    MediaItem,
    Participant,
    ParticipantOptions,
    PlayBeep,
    Recording,
    Reservation,
)
from bridge.store import convert
from bridge.store import tables as t

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CTX = spec.Context(max_participants=40)


def test_create_takes_every_field_and_keeps_the_model_defaults() -> None:
    values = spec.CONFERENCE.parse_create({"play_beep": "never", "timeout": 60}, CTX)
    assert values == {"play_beep": PlayBeep.NEVER, "timeout": 60}
    conf = Conference(id="c", account_id="a", name="n", created_at=NOW, updated_at=NOW, **values)
    assert conf.record is False and conf.pre_actions == ()


def test_a_later_default_is_checked_like_a_sent_value() -> None:
    later: dict[str, spec.Later] = {"max_participants": lambda _: 41}
    with pytest.raises(InvalidInput) as err:
        spec.CONFERENCE.parse_create({}, CTX, later)
    assert err.value.code == "out_of_range"
    assert spec.CONFERENCE.parse_create({"max_participants": 5}, CTX, later) == {
        "max_participants": 5
    }


def test_patch_takes_only_patchable_fields() -> None:
    assert "type" not in spec.CONFERENCE.patch_names
    assert "type" in spec.CONFERENCE.create_names
    assert spec.CONFERENCE.parse_patch({"type": "connect", "record": True}, CTX) == {"record": True}


def test_a_field_that_names_no_attribute_fails_at_definition() -> None:
    with pytest.raises(TypeError, match="langauge"):
        spec.Resource(Conference, (spec.Field("langauge", spec.LANGUAGE),))


def test_show_and_schema_cover_the_same_fields() -> None:
    conf = Conference(id="c", account_id="a", name="n", created_at=NOW, updated_at=NOW)
    assert set(spec.CONFERENCE.show(conf)) == set(spec.CONFERENCE.properties())


def _full_conference() -> Conference:
    say = MediaItem("say", text="hello", language="de")
    return Conference(
        id="c",
        account_id="a",
        name="n",
        created_at=NOW,
        updated_at=NOW,
        status=ConferenceStatus.POPULATED,
        alias="x",
        max_participants=3,
        wait_media=MediaItem("play", file="hold.wav"),
        data={"k": [1]},
        pre_actions=(say,),
        post_actions=(say, say),
        dial_in=DialIn("1234", pin="999", participant_options=ParticipantOptions(talker=False)),
        started_at=NOW,
    )


def test_rows_round_trip_every_model() -> None:
    conf = _full_conference()
    row = convert.conference_to_row(conf)
    assert row["access_code"] == "1234"
    assert convert.conference_from_row(row) == conf
    p = Participant(
        id="p",
        conference_id="c",
        account_id="a",
        created_at=NOW,
        updated_at=NOW,
        call_options=CallOptions(first_page="https://example.com/x"),
        leave_reason=LeaveReason.KICKED,
        hold_media=MediaItem("play", file="m.wav"),
    )
    assert convert.participant_from_row(convert.participant_to_row(p)) == p
    r = Reservation("r", "a", "c", "n", 40, NOW, 30, NOW, NOW, divert="+441")
    assert convert.reservation_from_row(convert.reservation_to_row(r)) == r
    rec = Recording("rec", "c", "a", NOW, NOW, path="x.wav", duration_seconds=1.5)
    assert convert.recording_from_row(convert.recording_to_row(rec)) == rec


def test_every_row_key_is_a_column() -> None:
    for table, row in (
        (t.conferences, convert.conference_to_row(_full_conference())),
        (
            t.reservations,
            convert.reservation_to_row(Reservation("r", "a", "c", "n", 40, NOW, 30, NOW, NOW)),
        ),
    ):
        assert set(row) <= set(table.c.keys()), set(row) - set(table.c.keys())


def test_a_field_of_a_type_without_a_column_form_fails_at_import() -> None:
    @dataclass(frozen=True)
    class Odd:
        when: complex

    with pytest.raises(TypeError, match="when"):
        convert.Rows.of(Odd)
