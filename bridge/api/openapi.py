"""The OpenAPI 3.1 document, built from the route table and these component schemas."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from bridge import __version__
from bridge.api import facades
from bridge.api.ops import Op
from bridge.core import reservation as rsm
from bridge.core import spec
from bridge.core import validate as v
from bridge.core.errors import CATALOGUE
from bridge.core.events import PAYLOADS, EventType
from bridge.core.models import ConferenceStatus
from bridge.core.options import GENDERS
from bridge.services.media import RECORDING_TARGETS
from bridge.webhooks.outbound import ERROR_CODES

S = dict[str, Any]


def _obj(props: S, required: tuple[str, ...] = (), *, closed: bool = True) -> S:
    schema: S = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


# the field schemas' pieces, shared with the resource definitions (bridge/core/spec.py)
_ref = spec.ref
_pattern = spec.pattern
_range = spec.int_range
_text = spec.text_schema
_nullable = spec.nullable
_enum = spec.enum


def _dial_target() -> S:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": v.DIAL_TARGET_LEN,
        "pattern": _pattern(v.DIAL_TARGET),
        "description": "a number (+4420...), a SIP user (alice) or sip:[user@]host[:port]",
    }


_JSON_TYPES: dict[Any, S] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    type(None): {"type": "null"},
}


def _json_type(hint: Any) -> S:
    """The JSON Schema of one payload field's type (str, bool, int, float, None, list, dict)."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_json_type(a) for a in args]}
    if origin is typing.NotRequired:
        return _json_type(args[0])
    if origin is list:
        return {"type": "array", "items": _json_type(args[0])}
    if origin is dict or hint is Any:
        return {"type": "object"} if origin is dict else {}
    return _JSON_TYPES[hint]


def _event_schema(t: EventType) -> S:
    """One event type's schema: its `type` and the schema of its `data`, from its payload
    type in bridge/core/events.py."""
    td = PAYLOADS[t]
    hints = typing.get_type_hints(td, include_extras=False)
    data = _obj(
        {k: _json_type(h) for k, h in hints.items()},
        tuple(sorted(td.__required_keys__)),  # type: ignore[attr-defined]
    )
    return {
        "type": "object",
        "required": ["id", "type", "sequence", "conference_id"],
        "properties": {"type": {"const": t.value}, "data": data},
    }


def _page(item: str) -> S:
    return _obj(
        {
            "items": {"type": "array", "items": _ref(item)},
            "next_after": _nullable({"type": "string"}),
        },
        ("items",),
        closed=False,
    )


URL: S = spec.URL
DIGIT: S = _nullable({"type": "string", "pattern": "^[0-9A-D#*]$"})
TEXT: S = _text(v.TEXT_LEN)
MEDIA: S = {
    "oneOf": [
        _obj(
            {
                "play": _obj(
                    {
                        "file": {
                            "type": "string",
                            "pattern": _pattern(v.MEDIA_PATH),
                        },
                        "url": {
                            "type": "string",
                            "format": "uri",
                            "maxLength": 2048,
                            "description": "where the file came from (FreeClimb waitUrl); never fetched",
                        },
                    },
                    ("file",),
                )
            },
            ("play",),
        ),
        _obj(
            {
                "say": _obj(
                    {
                        "text": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": v.SPEECH_LEN,
                            "pattern": _pattern(v.SPEECH),
                            "description": "letters and digits of any script, spaces and "
                            ". , ? ! : ; - only",
                        },
                        "gender": _enum(GENDERS),
                        "language": {"type": "string", "pattern": _pattern(v.LANGUAGE)},
                    },
                    ("text",),
                )
            },
            ("say",),
        ),
    ]
}
PARTICIPANT_OPTIONS: S = _obj(
    {
        **{
            k: {"type": "boolean"}
            for k in (
                "talker",
                "listen",
                "start_on_entry",
                "destroy_on_exit",
                "beep_on_entry",
                "start_muted",
                "dtmf_enabled",
            )
        },
        **{k: DIGIT for k in ("exit_digit", "mute_digit", "unmute_digit")},
        **{
            k: _nullable(_ref("Media"))
            for k in ("while_stopped_media", "name", "has_joined_message", "has_left_message")
        },
        "call_control_sequence": _nullable(
            {"type": "string", "pattern": f"^[0-9A-D#*]{{1,{v.DIGIT_SEQUENCE_LEN}}}$"}
        ),
        **{
            k: _nullable(URL)
            for k in ("call_control_url", "leave_conference_url", "notification_url")
        },
    }
)
DIAL_IN: S = _obj(
    {
        "access_code": {"type": "string", "pattern": _pattern(v.ACCESS_CODE)},
        "pin": _nullable({"type": "string", "pattern": _pattern(v.PIN)}),
        "moderator_pin": _nullable({"type": "string", "pattern": _pattern(v.PIN)}),
        "participant_options": _ref("ParticipantOptions"),
        "moderator_options": _ref("ParticipantOptions"),
    },
    ("access_code",),
)
CONFERENCE_FIELDS: S = spec.CONFERENCE.properties()
ANY_OBJECT: S = {"type": "object"}

SCHEMAS: dict[str, S] = {
    "Error": _obj(
        {
            "error": _obj(
                {
                    "code": _enum(CATALOGUE),
                    "message": {"type": "string"},
                    "details": {"type": "object"},
                },
                ("code", "message", "details"),
            )
        },
        ("error",),
    ),
    "Media": MEDIA,
    "ParticipantOptions": PARTICIPANT_OPTIONS,
    "DialIn": DIAL_IN,
    "ConferenceCreate": _obj(CONFERENCE_FIELDS),
    "ConferenceUpdate": _obj(
        {
            **spec.CONFERENCE.properties(patch=True),
            "status": _enum([ConferenceStatus.TERMINATED]),
        },
    ),
    "Conference": {"type": "object", "required": ["id", "status", "revision"]},
    "ConferencePage": _page("Conference"),
    "Event": {
        "oneOf": [_event_schema(t) for t in EventType],
        "discriminator": {"propertyName": "type"},
    },
    "EventPage": _obj(
        {
            "items": {"type": "array", "items": _ref("Event")},
            "next_after_sequence": _nullable({"type": "integer"}),
        },
        ("items",),
        closed=False,
    ),
    "ParticipantCreate": _obj(
        {
            "to": _dial_target(),
            "from": _nullable({"type": "string", "pattern": _pattern(v.CALLER_ID)}),
            "name": _nullable(_text(v.TEXT_LEN, 0)),  # display name
            "seconds_answer_timeout": _range(v.ANSWER_TIMEOUT),
            "hold_media": _nullable(_ref("Media")),
            "participant": _ref("ParticipantOptions"),
            "secondary_call": _obj(
                {
                    "call_recording": {"type": "boolean"},
                    "minutes_max_call_duration": _range(v.CALL_MINUTES),
                    **{
                        k: _nullable(URL)
                        for k in ("first_page", "final_page", "error_page", "next_page")
                    },
                }
            ),
            "muted": {"type": "boolean"},
            "dtmf_enabled": {"type": "boolean"},
        },
        ("to",),
    ),
    "ParticipantUpdate": _obj(
        {
            **{k: {"type": "boolean"} for k in ("muted", "deaf", "listen", "hold", "dtmf_enabled")},
            "hold_media": _nullable(_ref("Media")),
        }
    ),
    "Participant": {"type": "object", "required": ["id", "status", "conference_id"]},
    "ParticipantPage": _page("Participant"),
    "AnnouncementCreate": _obj(
        {
            "media": {
                "oneOf": [
                    _ref("Media"),
                    {
                        "type": "array",
                        "items": _ref("Media"),
                        "minItems": 1,
                        "maxItems": v.MEDIA_ITEMS,
                    },
                ]
            },
            "participant_id": {"type": "string"},
        },
        ("media",),
    ),
    "Announcement": ANY_OBJECT,
    "Recording": {"type": "object", "required": ["id", "status"]},
    "RecordingPage": _page("Recording"),
    "RecordingUpdate": _obj({"status": _enum(RECORDING_TARGETS)}, ("status",)),
    "ReservationCreate": _obj(
        {
            "conference_name": {"type": "string", "pattern": _pattern(v.RESERVATION_NAME)},
            "max_participants": _range((rsm.MIN_SIZE, rsm.MAX_SIZE)),
            "start_time": {
                "type": "string",
                "description": "YYYY-MM-DD_hh:mm:ss or YYYY-MM-DD-hh-mm (UTC) or RFC 3339; 5 min to 24 h ahead",
            },
            "duration": _range((rsm.MIN_DURATION, rsm.MAX_DURATION)),
            "divert": _nullable(_dial_target()),
            "conference": _ref("ConferenceCreate"),
        },
        ("conference_name", "max_participants", "start_time", "duration"),
    ),
    "ReservationExtend": _obj(
        {"extend_minutes": _range((rsm.MIN_EXTEND, rsm.MAX_EXTEND))}, ("extend_minutes",)
    ),
    "Reservation": {"type": "object", "required": ["reservation_token", "status"]},
    "ReservationPage": _page("Reservation"),
    "ReservationExtended": ANY_OBJECT,
    "ReservationRemoved": ANY_OBJECT,
    "SubscriptionCreate": _obj(
        {
            "url": URL,
            "event_types": {
                "type": "array",
                "items": _enum(sorted({*EventType, *{t.family for t in EventType}})),
                "maxItems": v.EVENT_TYPES,
            },
            "secret": {
                "type": "string",
                "minLength": v.SECRET_LEN[0],
                "maxLength": v.SECRET_LEN[1],
                "pattern": _pattern(v.SECRET),
            },
        },
        ("url",),
    ),
    "Subscription": ANY_OBJECT,
    "SubscriptionPage": _page("Subscription"),
    "Deleted": ANY_OBJECT,
    "DeliveryPage": {
        "type": "object",
        "description": "last_error is a stable code, never what the target said: "
        + ", ".join(ERROR_CODES)
        + " or http_status_<status>. A target_not_allowed delivery is dead-lettered at once.",
    },
    "Retrying": ANY_OBJECT,
    "AccountCreate": _obj({"name": TEXT, "is_admin": {"type": "boolean"}}, ("name",)),
    "Account": ANY_OBJECT,
    "WebhookSecret": _obj({"webhook_secret": {"type": "string"}}, ("webhook_secret",)),
    "AccountPage": {"type": "object"},
    "KeyCreate": _obj({"label": _nullable(_text(v.TEXT_LEN, 0))}),
    "ApiKey": ANY_OBJECT,
    "ApiKeyPage": {"type": "object"},
    "Health": ANY_OBJECT,
}


QUERY: dict[str, S] = {
    "limit": _range(v.PAGE_SIZE),
    "after": {"type": "string", "pattern": _pattern(v.PAGE_AFTER)},
    "status": {"type": "string"},
    "name": {"type": "string"},
    "after_sequence": {
        "type": "integer",
        "minimum": 0,
        "maximum": 10**v.AFTER_SEQUENCE_DIGITS - 1,
    },
    "conference_id": {"type": "string"},
    "types": {"type": "string", "pattern": "^[a-z_.*,]{0,2000}$"},  # the event stream's filter
    "last_event_id": {"type": "string", "pattern": "^[0-9]{1,19}-ev_[0-9a-z]{26}$"},
}
_ERROR_TEXT = {
    "400": "Invalid input: nothing was changed",
    "401": "Missing or invalid API key",
    "403": "Not allowed for this key",
    "404": "No such resource",
    "409": "Not possible in the resource's current state",
}
# Each status's description lists its codes, read from the error catalogue.
ERRORS = {
    status: text
    + ". Codes: "
    + "; ".join(f"{code} ({e.message})" for code, e in CATALOGUE.items() if str(e.status) == status)
    for status, text in _ERROR_TEXT.items()
}


# What names a created resource in its response: the links below pass it on.
CREATED_ID = {"reservations": "reservation_token"}


def _links(op: Op, ops: tuple[Op, ...]) -> dict[str, S]:
    """OpenAPI links from a create to every operation on what it created: its id (from the
    response body) fills the new path parameter, the create's own path parameters carry over
    (clients and property-based tests follow them)."""
    if op.method != "POST" or op.status != 201:
        return {}
    own = re.findall(r"{(\w+)}", op.path)
    links: dict[str, S] = {}
    for target in ops:
        rest = target.path.removeprefix(op.path + "/")
        if rest == target.path or not rest.startswith("{") or rest.count("{") > 1:
            continue  # not under this collection, or it needs more than the new id
        new = rest[1 : rest.index("}")]
        field = CREATED_ID.get(op.path.rsplit("/", 1)[-1], "id")
        params = {name: f"$request.path.{name}" for name in own}
        params[new] = f"$response.body#/{field}"
        links[target.operation_id] = {"operationId": target.operation_id, "parameters": params}
    return links


ACTING_AS: S = {
    "name": "X-Bridge-Account",
    "in": "header",
    "required": False,
    "description": "Admin keys only: act on this account (an account id) as if its own key "
    "had been sent. A tenant key that sends it is refused (403 admin_only); an unknown "
    "account is 404 account_not_found.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}


def build(ops: tuple[Op, ...]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        params: list[S] = [
            {
                "name": n,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": 64},
            }
            for n in re.findall(r"{(\w+)}", op.path)
        ]
        params += [
            {"name": n, "in": "query", "required": False, "schema": QUERY[n]} for n in op.query
        ]
        params += op.extra.get("headers", [])  # request headers an operation reads
        success: S = {"description": op.summary}
        if op.response:
            success["content"] = {op.content_type: {"schema": _ref(op.response)}}
        elif op.content_type != "application/json" or op.path == "/openapi.json":
            success["content"] = {
                op.content_type: {
                    "schema": {"type": "string"}
                    if op.content_type != "application/json"
                    else {"type": "object"}
                }
            }
        links = _links(op, ops)
        if links:
            success["links"] = links
        responses: dict[str, Any] = {str(op.status): success}
        security = op.extra.get("security")  # a facade authenticates in its own way
        for code, text in ERRORS.items():
            if op.auth == "public" and not security and code in ("401", "403", "409"):
                continue
            responses[code] = {
                "description": text,
                "content": {"application/json": {"schema": _ref("Error")}},
            }
        operation: S = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": params,
            "responses": responses,
        }
        if op.auth != "public":
            operation["security"] = [{"bearer": []}, {"basic": []}]
            params.append(ACTING_AS)  # api/admin_view.py
        elif security:
            operation["security"] = security
        if op.body:
            operation["requestBody"] = {
                "required": op.method == "POST",
                "content": {"application/json": {"schema": _ref(op.body)}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "Conference Bridge API",
            "version": __version__,
            "description": "Conferences, participants and reservations on ConfBridge, mod_conference or the embedded engine.",
        },
        "tags": list(facades.TAGS),
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "user = account id, password = API key",
                },
            },
        },
    }
    return facades.describe(ops, doc)  # the facades fill in their operations' bodies
