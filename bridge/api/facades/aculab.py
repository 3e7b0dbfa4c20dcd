"""Aculab Cloud's conference web services and its connect_to_conference action, over
bridge.services.

Every web service answers GET and POST, with form, query or JSON parameters. Basic auth:
user = `cloudID/username`, password = an API key (the key names the account). Errors have
Aculab's JSON shape: {"error": {code, text, datetime, link, reason}, "request": {url,
datetime}}, where `reason` is our stable code. Limits are the reservation use cases'.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired, Required, TypedDict

from aiohttp import web

from bridge.api.facades import common as c
from bridge.api.facades.schema import enum, fields, pattern
from bridge.api.ops import Op
from bridge.core.clock import utc
from bridge.core.errors import InvalidInput, NotFound
from bridge.core.models import (
    Conference,
    ConferenceStatus,
    Participant,
    ParticipantStatus,
    Reservation,
    ReservationStatus,
)
from bridge.services import conferences, connect, participants, reservations
from bridge.services.accounts import Principal
from bridge.services.context import Services

TAG = "aculab"
BASE = "/webservices"
DOC = "/docs#tag-aculab"
STATUS = {
    ConferenceStatus.RESERVED: "RESERVED",
    ConferenceStatus.EMPTY: "HOLDING",
    ConferenceStatus.POPULATED: "HOLDING",
    ConferenceStatus.IN_PROGRESS: "ACTIVE",
    ConferenceStatus.TERMINATING: "ACTIVE",
    ConferenceStatus.TERMINATED: "COMPLETED",
}
LISTED = [s.value for s in ReservationStatus if s != ReservationStatus.CANCELLED]
PRESENT = [ParticipantStatus.JOINING.value, ParticipantStatus.JOINED.value]

# --- the bodies, declared once: the handlers read them, the OpenAPI document too ----------

Datetime = Annotated[str, pattern(r"\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}", "UTC")]
StartTime = Annotated[str, pattern(r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}", "UTC")]
Status = Annotated[str, enum([*STATUS.values(), *(s.upper() for s in LISTED)])]
Digit = Annotated[str | None, {"pattern": "^[0-9A-D#*]$"}]


class AculabReservationToken(TypedDict):
    reservation_token: str


class AculabExtended(TypedDict):
    extended: Literal[True]


class AculabRemoved(TypedDict):
    removed: Literal[True]


class AculabOptionsSet(TypedDict):
    options_set: Literal[True]


class AculabEjected(TypedDict):
    ejected: Literal[True]


class AculabConference(TypedDict):
    """One conference_list entry (reservation_token while RESERVED only)."""

    conference_name: str
    max_participants: int
    start_time: StartTime
    start_datetime: Datetime
    duration: int
    divert: str
    status: Status
    reservation_token: NotRequired[str]


class AculabConferenceList(TypedDict):
    conferences: list[AculabConference]


class AculabParticipant(TypedDict):
    participant_id: str
    muted: bool
    dtmf_enabled: bool


class AculabParticipantList(TypedDict):
    status: Status
    participants: list[AculabParticipant]


class AculabConnected(TypedDict):
    participant_id: str
    conference_name: str
    status: Status


class AculabErrorDetail(TypedDict):
    code: Annotated[str, {"description": "0001 missing, 0002 malformed or out of range, HTTP n"}]
    text: str
    datetime: Datetime
    link: str
    reason: Annotated[str, {"description": "our stable error code"}]


class AculabRequest(TypedDict):
    url: str
    datetime: Datetime


class AculabError(TypedDict):
    """Aculab's error body."""

    error: AculabErrorDetail
    request: AculabRequest


class AculabReservationCreate(TypedDict):
    conference_name: str
    max_participants: int
    start_time: Annotated[str, {"description": "UTC, YYYY-MM-DD_hh:mm:ss or YYYY-MM-DD-hh-mm"}]
    duration: Annotated[int, {"description": "minutes"}]
    divert: NotRequired[str]


class AculabReservationModify(TypedDict):
    reservation_token: str
    duration: Annotated[int, {"description": "minutes to add"}]


class AculabReservationRemove(TypedDict):
    reservation_token: str


class AculabNothing(TypedDict):
    """No parameters."""


class AculabConferenceRef(TypedDict, total=False):
    """conference_name or reservation_token names the conference."""

    conference_name: str
    reservation_token: str


class AculabParticipantEject(AculabConferenceRef, total=False):
    participant_id: Required[str]


class AculabParticipantSetOptions(AculabParticipantEject, total=False):
    muted: bool
    dtmf_enabled: bool


class AculabFileToPlay(TypedDict):
    file_to_play: str


class AculabTextToSay(TypedDict):
    text_to_say: str


class AculabPlayList(TypedDict):
    play_list: Annotated[list[AculabFileToPlay | AculabTextToSay], {"minItems": 1, "maxItems": 1}]


class AculabPlay(TypedDict):
    """A play action."""

    play: AculabPlayList


class AculabWebPage(TypedDict, total=False):
    url: Required[str]
    method: str


Page = str | AculabWebPage | None


class AculabConferenceParticipant(TypedDict, total=False):
    talker: bool
    start_on_entry: bool
    destroy_on_exit: bool
    beep_on_entry: bool
    exit_digit: Digit
    mute_digit: Digit
    unmute_digit: Digit
    while_stopped_media: AculabPlay | None
    name: AculabPlay | None
    has_joined_message: AculabPlay | None
    has_left_message: AculabPlay | None


class AculabSecondaryCall(TypedDict, total=False):
    call_recording: bool
    call_recording_encryption: Any
    minutes_max_call_duration: int
    first_page: Page
    final_page: Page
    error_page: Page


class AculabConnectToConference(TypedDict, total=False):
    """Aculab's connect_to_conference action."""

    name: Required[str]
    hold_media: AculabPlay | None
    seconds_answer_timeout: int
    conference_participant: AculabConferenceParticipant | None
    secondary_call: AculabSecondaryCall | None
    next_page: Page


class AculabConnect(TypedDict):
    call_to: str
    call_from: NotRequired[str | None]
    connect_to_conference: Annotated[
        AculabConnectToConference | str,
        {"description": "the action object (as JSON text in a form or query parameter)"},
    ]


PARTICIPANT_FIELDS = fields(AculabConferenceParticipant)
MEDIA_FIELDS = ("while_stopped_media", "name", "has_joined_message", "has_left_message")
CALL_FIELDS = fields(AculabSecondaryCall)
ACTION_FIELDS = fields(AculabConnectToConference)
PAGE_FIELDS = fields(AculabWebPage)


def aculab_time(dt: datetime) -> str:
    return utc(dt).strftime("%Y-%m-%d_%H:%M:%S")


def render_error(request: web.Request, exc: Exception) -> web.Response:
    status, code, message, _ = c.status_of(exc)
    if status == 400:
        number = "0001" if code in ("missing_parameter", "empty_update") else "0002"
    else:
        number = f"HTTP {status}"
    now = aculab_time(datetime.now().astimezone())
    body: AculabError = {
        "error": {"code": number, "text": message, "datetime": now, "link": DOC, "reason": code},
        "request": {"url": request.path, "datetime": now},
    }
    headers = {"WWW-Authenticate": 'Basic realm="aculab"'} if status == 401 else None
    return c.reply(body, status, headers)


def _cloud_user(user: str, principal: Principal) -> bool:
    cloud, sep, name = user.partition("/")
    return bool(sep and cloud and name)


facade = c.facade(render_error, _cloud_user)


def _required(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise InvalidInput("missing_parameter", f"{name}: a mandatory parameter", field=name)
    return value


def _bool(params: dict[str, Any], name: str, default: bool) -> bool:
    return c.flag(params[name], name) if name in params else default


def conference_entry(r: Reservation) -> AculabConference:
    entry: AculabConference = {
        "conference_name": r.conference_name,
        "max_participants": r.max_participants,
        "start_time": utc(r.start_time).strftime("%Y-%m-%d-%H-%M"),
        "start_datetime": aculab_time(r.start_time),
        "duration": r.duration_minutes,
        "divert": r.divert or "",
        "status": r.status.value.upper(),
    }
    if r.status == ReservationStatus.RESERVED:
        entry["reservation_token"] = r.id
    return entry


def unreserved_entry(conf: Conference, size: int) -> AculabConference:
    start = conf.started_at or conf.created_at
    return {
        "conference_name": conf.name,
        "max_participants": conf.max_participants or size,
        "start_time": utc(start).strftime("%Y-%m-%d-%H-%M"),
        "start_datetime": aculab_time(start),
        "duration": 0,
        "divert": "",
        "status": STATUS[conf.status],
    }


def participant_entry(p: Participant) -> AculabParticipant:
    return {"participant_id": p.id, "muted": p.muted, "dtmf_enabled": p.dtmf_enabled}


async def _target(s: Services, account: str, params: dict[str, Any]) -> Conference:
    token = params.get("reservation_token")
    if token:
        r = await reservations.get(s, account, c.text(token, "reservation_token"))
        return await conferences.get(s, account, r.conference_id)
    name = c.text(_required(params, "conference_name"), "conference_name")
    conf = await connect.open_by_name(s, account, name)
    if conf is None:
        raise NotFound("conference_not_found", f"no open conference called {name!r}")
    return conf


# --- web services --------------------------------------------------------------------


async def reservation_create(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    c.reject_unknown(
        params,
        fields(AculabReservationCreate),
        "conference_reservation_create",
    )
    body: dict[str, Any] = {
        "conference_name": _required(params, "conference_name"),
        "max_participants": c.whole(_required(params, "max_participants"), "max_participants"),
        "start_time": _required(params, "start_time"),
        "duration": c.whole(_required(params, "duration"), "duration"),
    }
    if params.get("divert"):
        body["divert"] = params["divert"]
    r = await reservations.create(c.services(request), principal.account_id, body)
    reply: AculabReservationToken = {"reservation_token": r.id}
    return c.reply(reply)


async def reservation_modify(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    c.reject_unknown(params, fields(AculabReservationModify), "conference_reservation_modify")
    token = c.text(_required(params, "reservation_token"), "reservation_token")
    minutes = c.whole(_required(params, "duration"), "duration")
    await reservations.extend(
        c.services(request), principal.account_id, token, {"extend_minutes": minutes}
    )
    reply: AculabExtended = {"extended": True}
    return c.reply(reply)


async def reservation_remove(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    c.reject_unknown(params, fields(AculabReservationRemove), "conference_reservation_remove")
    token = c.text(_required(params, "reservation_token"), "reservation_token")
    await reservations.remove(c.services(request), principal.account_id, token)
    reply: AculabRemoved = {"removed": True}
    return c.reply(reply)


async def conference_list(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    c.reject_unknown(params, fields(AculabNothing), "conference_list")
    s = c.services(request)
    account = principal.account_id
    booked = await c.every(
        lambda after, n: reservations.list_(s, account, status=LISTED, after=after, limit=n)
    )
    entries = [conference_entry(r) for r in booked]
    live = [ConferenceStatus.POPULATED.value, ConferenceStatus.IN_PROGRESS.value]
    for conf in await c.every(
        lambda after, n: conferences.list_(s, account, status=live, name=None, after=after, limit=n)
    ):
        if conf.reservation_id is None:
            entries.append(unreserved_entry(conf, s.limits.unreserved_max_participants))
    reply: AculabConferenceList = {"conferences": entries}
    return c.reply(reply)


async def participant_list(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    c.reject_unknown(params, fields(AculabConferenceRef), "conference_participant_list")
    s = c.services(request)
    conf = await _target(s, principal.account_id, params)
    found = await c.every(
        lambda after, n: participants.list_(
            s, principal.account_id, conf.id, status=PRESENT, after=after, limit=n
        )
    )
    reply: AculabParticipantList = {
        "status": STATUS[conf.status],
        "participants": [participant_entry(p) for p in found],
    }
    return c.reply(reply)


async def participant_set_options(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    c.reject_unknown(
        params,
        fields(AculabParticipantSetOptions),
        "conference_participant_set_options",
    )
    s = c.services(request)
    conf = await _target(s, principal.account_id, params)
    pid = c.text(_required(params, "participant_id"), "participant_id")
    body: dict[str, Any] = {
        k: c.flag(params[k], k) for k in ("muted", "dtmf_enabled") if k in params
    }
    await participants.update(s, principal.account_id, conf.id, pid, body)
    reply: AculabOptionsSet = {"options_set": True}
    return c.reply(reply)


async def participant_eject(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    c.reject_unknown(
        params,
        fields(AculabParticipantEject),
        "conference_participant_eject",
    )
    s = c.services(request)
    conf = await _target(s, principal.account_id, params)
    pid = c.text(_required(params, "participant_id"), "participant_id")
    await participants.eject(s, principal.account_id, conf.id, pid)
    reply: AculabEjected = {"ejected": True}
    return c.reply(reply)


# --- connect_to_conference ---------------------------------------------------------------


def _media(value: Any, field: str) -> dict[str, Any]:
    """Aculab's play action ({"play": {"play_list": [{"file_to_play"} | {"text_to_say"}]}})
    as our media object."""
    play = value.get("play") if isinstance(value, dict) else None
    items = play.get("play_list") if isinstance(play, dict) else None
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        raise InvalidInput(
            "invalid_field",
            f"{field}: must be a play action with one play_list item",
            field=field,
        )
    item = items[0]
    if set(item) == {"file_to_play"}:
        return {"play": {"file": item["file_to_play"]}}
    if set(item) == {"text_to_say"}:
        return {"say": {"text": item["text_to_say"]}}
    raise InvalidInput(
        "invalid_field", f"{field}: a play_list item is file_to_play or text_to_say", field=field
    )


def _page_url(value: Any, field: str) -> Any:
    """A page: its URL, or {"url": ...} as Aculab's web page request object."""
    if isinstance(value, dict):
        c.reject_unknown(value, PAGE_FIELDS, field)
        return value.get("url")
    return value


def translate_action(action: Any) -> tuple[str, dict[str, Any]]:
    """The connect_to_conference object as (conference name, our dial-out body)."""
    if not isinstance(action, dict):
        raise InvalidInput("invalid_field", "connect_to_conference: must be an object")
    c.reject_unknown(action, ACTION_FIELDS, "connect_to_conference")
    name = c.text(_required(action, "name"), "name")
    body: dict[str, Any] = {}
    if action.get("hold_media") is not None:
        body["hold_media"] = _media(action["hold_media"], "hold_media")
    if "seconds_answer_timeout" in action:
        body["seconds_answer_timeout"] = action["seconds_answer_timeout"]
    part = action.get("conference_participant") or {}
    if not isinstance(part, dict):
        raise InvalidInput("invalid_field", "conference_participant: must be an object")
    c.reject_unknown(part, PARTICIPANT_FIELDS, "conference_participant")
    participant = {k: val for k, val in part.items() if k not in MEDIA_FIELDS}
    for key in MEDIA_FIELDS:
        if part.get(key) is not None:
            participant[key] = _media(part[key], f"conference_participant.{key}")
    body["participant"] = participant
    call = action.get("secondary_call") or {}
    if not isinstance(call, dict):
        raise InvalidInput("invalid_field", "secondary_call: must be an object")
    c.reject_unknown(call, CALL_FIELDS, "secondary_call")
    # call_recording_encryption is accepted; recordings are stored as the operator configures
    secondary = {k: call[k] for k in ("call_recording", "minutes_max_call_duration") if k in call}
    for key in ("first_page", "final_page", "error_page"):
        if call.get(key) is not None:
            secondary[key] = _page_url(call[key], f"secondary_call.{key}")
    if action.get("next_page") is not None:
        secondary["next_page"] = _page_url(action["next_page"], "next_page")
    body["secondary_call"] = secondary
    return name, body


async def connect_to_conference(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    """Connect a call: dial `call_to` (from `call_from`) and join it to the conference the
    action names, as a secondary call; the conference is opened unreserved if none is."""
    c.reject_unknown(params, fields(AculabConnect), "request")
    action = _required(params, "connect_to_conference")
    if isinstance(action, str):  # a form or query parameter carries the object as JSON
        try:
            action = json.loads(action)
        except json.JSONDecodeError as exc:
            raise InvalidInput("invalid_json", "connect_to_conference: not a JSON object") from exc
    name, body = translate_action(action)
    body["to"] = _required(params, "call_to")
    if params.get("call_from") is not None:
        body["from"] = params["call_from"]
    conf, p = await connect.connect(c.services(request), principal.account_id, name, body)
    reply: AculabConnected = {
        "participant_id": p.id,
        "conference_name": name,
        "status": STATUS[conf.status],
    }
    return c.reply(reply)


Service = Callable[[web.Request, Principal, dict[str, Any]], Any]
# (web service, handler, summary, its parameters, its reply)
SERVICES: tuple[tuple[str, Service, str, Any, Any], ...] = (
    (
        "conference_reservation_create",
        reservation_create,
        "reserve a conference",
        AculabReservationCreate,
        AculabReservationToken,
    ),
    (
        "conference_reservation_modify",
        reservation_modify,
        "extend a reservation by 15-60 minutes",
        AculabReservationModify,
        AculabExtended,
    ),
    (
        "conference_reservation_remove",
        reservation_remove,
        "remove a reservation not yet started",
        AculabReservationRemove,
        AculabRemoved,
    ),
    (
        "conference_list",
        conference_list,
        "reserved and active conferences",
        AculabNothing,
        AculabConferenceList,
    ),
    (
        "conference_participant_list",
        participant_list,
        "an ACTIVE or HOLDING conference's participants",
        AculabConferenceRef,
        AculabParticipantList,
    ),
    (
        "conference_participant_set_options",
        participant_set_options,
        "mute or set dtmf_enabled (ACTIVE only)",
        AculabParticipantSetOptions,
        AculabOptionsSet,
    ),
    (
        "conference_participant_eject",
        participant_eject,
        "eject a participant (ACTIVE only)",
        AculabParticipantEject,
        AculabEjected,
    ),
    (
        "connect_to_conference",
        connect_to_conference,
        "the connect_to_conference action: dial a call and join it",
        AculabConnect,
        AculabConnected,
    ),
)


def _named(handler: Service, name: str) -> Any:
    async def endpoint(
        request: web.Request, principal: Principal, params: dict[str, Any]
    ) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request, principal, params)
        return response

    endpoint.__name__ = endpoint.__qualname__ = name
    return facade(endpoint)


OPS: tuple[Op, ...] = tuple(
    c.route(
        TAG,
        method,
        f"{BASE}/{name}",
        _named(handler, f"aculab_{name}_{method.lower()}"),
        f"Aculab: {summary}",
        params,
        reply,
        form=True,
    )
    for name, handler, summary, params, reply in SERVICES
    for method in ("GET", "POST")
    if method == "POST" or name != "connect_to_conference"
)
