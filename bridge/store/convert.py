"""Rows <-> core dataclasses, by each dataclass's own fields and their types: every field
is a column of the same name (bridge/store/tables.py, kept explicit)."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from bridge.core.clock import utc
from bridge.core.models import (
    CallOptions,
    Conference,
    DialIn,
    Event,
    MediaItem,
    Participant,
    ParticipantOptions,
    Recording,
    Reservation,
)
from bridge.core.options import (
    call_options_to_dict,
    dial_in_to_dict,
    parse_call_options,
    parse_dial_in,
    parse_media,
    parse_participant_options,
    participant_options_to_dict,
)

M = TypeVar("M")


def _t(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]  # (to the row, from the row)


def _same(value: Any) -> Any:
    return value


def _optional(codec: Codec) -> Codec:
    out, back = codec
    return (
        out if out is _same else lambda x: None if x is None else out(x),
        back if back is _same else lambda x: None if x is None else back(x),
    )


def _media_list(name: str) -> Codec:
    return (
        lambda items: [m.to_dict() for m in items],
        lambda raw: tuple(parse_media(m, name) for m in raw or ()),
    )


_PLAIN = (str, int, bool, float)
# Values stored as JSON: how each goes to its column and comes back.
_JSON: dict[Any, Codec] = {
    MediaItem: (lambda m: m.to_dict(), lambda raw: parse_media(raw, "media")),
    DialIn: (dial_in_to_dict, parse_dial_in),
    ParticipantOptions: (participant_options_to_dict, parse_participant_options),
    CallOptions: (call_options_to_dict, parse_call_options),
}


def _codec(name: str, hint: Any) -> Codec:
    """A dataclass field's column form, from its type: a new field of a known type needs
    no code here, one of a new type fails at import."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return _optional(_codec(name, args[0]))
    if typing.get_origin(hint) is tuple and args[0] is MediaItem:
        return _media_list(name)
    if typing.get_origin(hint) is dict:
        return _same, lambda raw: dict(raw or {})
    if hint is datetime:
        return _same, utc
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return (lambda m: m.value), hint
    if hint in _JSON:
        return _JSON[hint]
    if hint in _PLAIN:
        return _same, _same
    raise TypeError(f"no column form for {name}: {hint!r}")


@dataclass(frozen=True, slots=True)
class Rows(Generic[M]):
    """One dataclass's row conversion: every field is a column of the same name. Fields
    stored as they are skip the codec call (this runs at every commit)."""

    model: type[M]
    plain_out: tuple[str, ...]
    outs: tuple[tuple[str, Callable[[Any], Any]], ...]
    plain_back: tuple[str, ...]
    backs: tuple[tuple[str, Callable[[Any], Any]], ...]

    @classmethod
    def of(cls, model: type[M]) -> Rows[M]:
        hints = typing.get_type_hints(model)
        names = [f.name for f in dataclasses.fields(model)]  # type: ignore[arg-type]
        codecs = [(n, *_codec(n, hints[n])) for n in names]
        return cls(
            model,
            tuple(n for n, out, _ in codecs if out is _same),
            tuple((n, out) for n, out, _ in codecs if out is not _same),
            tuple(n for n, _, back in codecs if back is _same),
            tuple((n, back) for n, _, back in codecs if back is not _same),
        )

    def to_row(self, obj: M) -> dict[str, Any]:
        row = {name: getattr(obj, name) for name in self.plain_out}
        for name, out in self.outs:
            row[name] = out(getattr(obj, name))
        return row

    def from_row(self, r: Mapping[Any, Any]) -> M:
        values = {name: r[name] for name in self.plain_back}
        for name, back in self.backs:
            values[name] = back(r[name])
        return self.model(**values)


CONFERENCE = Rows.of(Conference)
PARTICIPANT = Rows.of(Participant)
RESERVATION = Rows.of(Reservation)
RECORDING = Rows.of(Recording)

conference_from_row = CONFERENCE.from_row
participant_from_row = PARTICIPANT.from_row
participant_to_row = PARTICIPANT.to_row
reservation_from_row = RESERVATION.from_row
reservation_to_row = RESERVATION.to_row
recording_from_row = RECORDING.from_row
recording_to_row = RECORDING.to_row


def conference_to_row(c: Conference) -> dict[str, Any]:
    row = CONFERENCE.to_row(c)
    row["access_code"] = c.dial_in.access_code if c.dial_in else None  # the live-code index
    return row


def event_from_row(r: Mapping[Any, Any]) -> Event:
    return Event(
        id=r["id"],
        type=r["type"],
        account_id=r["account_id"],
        conference_id=r["conference_id"],
        participant_id=r["participant_id"],
        sequence=r["sequence"],
        occurred_at=utc(r["occurred_at"]),
        data=dict(r["data"] or {}),
    )
