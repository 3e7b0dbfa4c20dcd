"""Participant, call, media and dial-in options: parsed from JSON, validated, and back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any
from urllib.parse import urlsplit

from bridge.core import validate as v
from bridge.core.errors import invalid_field
from bridge.core.models import CallOptions, DialIn, MediaItem, ParticipantOptions
from bridge.core.netpolicy import OutboundPolicy

_BOOL_OPTIONS = (
    "talker",
    "listen",
    "start_on_entry",
    "destroy_on_exit",
    "beep_on_entry",
    "start_muted",
    "dtmf_enabled",
)
_DIGIT_OPTIONS = ("exit_digit", "mute_digit", "unmute_digit")
_MEDIA_OPTIONS = ("while_stopped_media", "name", "has_joined_message", "has_left_message")
_URL_OPTIONS = ("call_control_url", "leave_conference_url", "notification_url")
GENDERS = ("male", "female", "neutral")
PARTICIPANT_OPTION_FIELDS = frozenset(f.name for f in fields(ParticipantOptions))


def parse_media(value: Any, field: str) -> MediaItem:
    """`{"play": {"file": "beep.wav"}}` or `{"say": {"text": "...", "language": "en"}}`."""
    body = v.expect_mapping(value, field)
    if len(body) != 1 or next(iter(body)) not in ("play", "say"):
        raise invalid_field(field, 'must be {"play": {"file": ...}} or {"say": {"text": ...}}')
    kind, inner_raw = next(iter(body.items()))
    inner = v.expect_mapping(inner_raw, f"{field}.{kind}")
    if kind == "play":
        v.reject_unknown(inner, {"file", "url"}, f"{field}.play")
        url = v.optional_url(inner.get("url"), f"{field}.play.url")
        file = inner.get("file")
        if file is None and url is not None:  # the media directory holds the URL's file
            file = urlsplit(url).path.rsplit("/", 1)[-1]
        return MediaItem("play", file=v.media_path(file, f"{field}.play.file"), url=url)
    v.reject_unknown(inner, {"text", "language", "gender"}, f"{field}.say")
    text = v.speech(inner.get("text"), f"{field}.say.text")
    lang = v.language(inner.get("language", "en"), f"{field}.say.language")
    gender = inner.get("gender")
    if gender is not None:
        gender = v.choice(gender, f"{field}.say.gender", GENDERS)
    return MediaItem("say", text=text, language=lang, gender=gender)


def parse_media_list(
    value: Any, field: str, *, max_items: int = v.MEDIA_ITEMS
) -> tuple[MediaItem, ...]:
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return (parse_media(value, field),)
    if not isinstance(value, list) or not 1 <= len(value) <= max_items:
        raise invalid_field(field, f"must be a media object or a list of 1 to {max_items}")
    return tuple(parse_media(item, f"{field}[{i}]") for i, item in enumerate(value))


def parse_participant_options(
    value: Any,
    field: str = "participant",
    base: ParticipantOptions | None = None,
    *,
    policy: OutboundPolicy | None = None,
) -> ParticipantOptions:
    """Unset fields keep `base` (the documented defaults when no base is given). `policy`
    checks the URLs a tenant sends (validate.url); values read back from the store pass none."""
    body = v.expect_mapping(value, field) if value is not None else {}
    v.reject_unknown(body, PARTICIPANT_OPTION_FIELDS, field)
    current = asdict(base) if base is not None else {}
    values: dict[str, Any] = {}
    for name in _BOOL_OPTIONS:
        if name in body:
            values[name] = v.boolean(body[name], f"{field}.{name}")
    for name in _DIGIT_OPTIONS:
        if name in body:
            values[name] = v.digit(body[name], f"{field}.{name}")
    for name in _MEDIA_OPTIONS:
        if name in body:
            raw = body[name]
            values[name] = None if raw is None else parse_media(raw, f"{field}.{name}")
    for name in _URL_OPTIONS:
        if name in body:
            values[name] = v.optional_url(body[name], f"{field}.{name}", policy)
    if "call_control_sequence" in body:
        values["call_control_sequence"] = v.digit_sequence(
            body["call_control_sequence"], f"{field}.call_control_sequence"
        )
    merged = {**current, **values}
    for name in _MEDIA_OPTIONS:
        raw_media = merged.get(name)
        if isinstance(raw_media, dict):  # from asdict(base): rebuild the dataclass
            merged[name] = MediaItem(**raw_media)
    opts = ParticipantOptions(**merged)
    digits = [d for d in (opts.exit_digit, opts.mute_digit) if d is not None]
    if len(set(digits)) != len(digits) or (
        opts.unmute_digit is not None and opts.unmute_digit == opts.exit_digit
    ):
        raise invalid_field(field, "exit_digit must differ from mute_digit and unmute_digit")
    if opts.unmute_digit is not None and opts.mute_digit is None:
        raise invalid_field(f"{field}.unmute_digit", "needs a mute_digit")
    if opts.call_control_sequence is not None and opts.call_control_url is None:
        raise invalid_field(f"{field}.call_control_url", "is required with call_control_sequence")
    return opts


def participant_options_to_dict(opts: ParticipantOptions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(opts):
        value = getattr(opts, f.name)
        out[f.name] = value.to_dict() if isinstance(value, MediaItem) else value
    return out


def parse_call_options(
    value: Any, field: str = "secondary_call", *, policy: OutboundPolicy | None = None
) -> CallOptions:
    body = v.expect_mapping(value, field) if value is not None else {}
    v.reject_unknown(
        body,
        {
            "call_recording",
            "minutes_max_call_duration",
            "first_page",
            "final_page",
            "error_page",
            "next_page",
        },
        field,
    )
    return CallOptions(
        call_recording=v.boolean(body.get("call_recording", False), f"{field}.call_recording"),
        minutes_max_call_duration=v.integer(
            body.get("minutes_max_call_duration", 240),
            f"{field}.minutes_max_call_duration",
            minimum=v.CALL_MINUTES[0],
            maximum=v.CALL_MINUTES[1],
        ),
        first_page=v.optional_url(body.get("first_page"), f"{field}.first_page", policy),
        final_page=v.optional_url(body.get("final_page"), f"{field}.final_page", policy),
        error_page=v.optional_url(body.get("error_page"), f"{field}.error_page", policy),
        next_page=v.optional_url(body.get("next_page"), f"{field}.next_page", policy),
    )


def call_options_to_dict(opts: CallOptions) -> dict[str, Any]:
    return asdict(opts)


def parse_dial_in(
    value: Any, field: str = "dial_in", *, policy: OutboundPolicy | None = None
) -> DialIn | None:
    if value is None:
        return None
    body = v.expect_mapping(value, field)
    v.reject_unknown(
        body,
        {"access_code", "pin", "moderator_pin", "participant_options", "moderator_options"},
        field,
    )
    pin = v.pin(body.get("pin"), f"{field}.pin")
    moderator_pin = v.pin(body.get("moderator_pin"), f"{field}.moderator_pin")
    if pin is not None and pin == moderator_pin:
        raise invalid_field(f"{field}.moderator_pin", "must differ from pin")
    return DialIn(
        access_code=v.access_code(body.get("access_code"), f"{field}.access_code"),
        pin=pin,
        moderator_pin=moderator_pin,
        participant_options=parse_participant_options(
            body.get("participant_options"), f"{field}.participant_options", policy=policy
        ),
        moderator_options=parse_participant_options(
            body.get("moderator_options"), f"{field}.moderator_options", policy=policy
        ),
    )


def dial_in_to_dict(d: DialIn, *, reveal_pins: bool = True) -> dict[str, Any]:
    return {
        "access_code": d.access_code,
        "pin": d.pin if reveal_pins else None,
        "moderator_pin": d.moderator_pin if reveal_pins else None,
        "participant_options": participant_options_to_dict(d.participant_options),
        "moderator_options": participant_options_to_dict(d.moderator_options),
    }
