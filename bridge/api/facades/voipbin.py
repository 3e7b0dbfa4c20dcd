"""VoIPbin's conference and conferencecall resources under /v1.0, over bridge.services.

Auth: `Authorization: Bearer <API key>` or `?accesskey=<API key>` (VoIPbin's access key).
Times are `YYYY-MM-DD hh:mm:ss.ffffff` UTC, `9999-01-01 00:00:00.000000` for "not yet".
VoIPbin documents no error body, so errors have our JSON error shape.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, NotRequired, TypedDict, TypeVar

from aiohttp import web

from bridge.api.facades import common as c
from bridge.api.facades.schema import enum, fields, pattern
from bridge.api.ops import Op
from bridge.core.clock import utc
from bridge.core.errors import InvalidInput, Unauthorized
from bridge.core.models import (
    PRESENT_PARTICIPANT,
    Conference,
    ConferenceStatus,
    ConferenceType,
    MediaItem,
    Participant,
    ParticipantStatus,
)
from bridge.services import conferences, media, participants
from bridge.services.accounts import Principal
from bridge.services.context import Services

TAG = "voipbin"
CONFS = "/v1.0/conferences"
CONF = CONFS + "/{id}"
CALLS = "/v1.0/conferencecalls"
CALL = CALLS + "/{id}"
NOT_YET = "9999-01-01 00:00:00.000000"
STATUS = {
    ConferenceStatus.RESERVED: "starting",
    ConferenceStatus.EMPTY: "starting",
    ConferenceStatus.POPULATED: "progressing",
    ConferenceStatus.IN_PROGRESS: "progressing",
    ConferenceStatus.TERMINATING: "terminating",
    ConferenceStatus.TERMINATED: "terminated",
}
CALL_STATUS = {
    ParticipantStatus.JOINING: "joining",
    ParticipantStatus.JOINED: "joined",
    ParticipantStatus.LEAVING: "leaving",
    ParticipantStatus.LEFT: "leaved",
    ParticipantStatus.FAILED: "leaved",
}
AUTH_PARAMS = frozenset({"accesskey", "token"})
MAX_PAGE = 100

# --- the bodies, declared once: the views return them, the OpenAPI document reads them ----

Tm = Annotated[
    str,
    pattern(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}", f"UTC; {NOT_YET} = not yet"),
]


class VoipbinTalkOption(TypedDict):
    text: str
    language: str
    gender: NotRequired[str]


class VoipbinTalk(TypedDict):
    type: Literal["talk"]
    option: VoipbinTalkOption


class VoipbinPlayOption(TypedDict):
    stream_urls: list[str | None]


class VoipbinPlay(TypedDict):
    """A play action: media set through /v1 (VoIPbin's facade takes talk actions only)."""

    type: Literal["play"]
    option: VoipbinPlayOption


class VoipbinConference(TypedDict):
    """VoIPbin's conference struct."""

    id: str
    customer_id: str
    type: Annotated[str, enum(ConferenceType)]
    status: Annotated[str, enum(STATUS.values())]
    name: str
    detail: str
    data: dict[str, Any]
    timeout: int
    pre_actions: list[VoipbinTalk | VoipbinPlay]
    post_actions: list[VoipbinTalk | VoipbinPlay]
    conferencecall_ids: list[str]
    recording_id: str
    recording_ids: list[str]
    tm_create: Tm
    tm_update: Tm
    tm_delete: Tm


class VoipbinConferencecall(TypedDict):
    """VoIPbin's conferencecall struct."""

    id: str
    customer_id: str
    conference_id: str
    reference_type: Literal["call"]
    reference_id: str
    status: Annotated[str, enum(CALL_STATUS.values())]
    tm_create: Tm
    tm_update: Tm
    tm_delete: Tm


class VoipbinConferenceList(TypedDict):
    result: list[VoipbinConference]
    next_page_token: Annotated[str, {"description": "empty on the last page"}]


class VoipbinConferencecallList(TypedDict):
    result: list[VoipbinConferencecall]
    next_page_token: Annotated[str, {"description": "empty on the last page"}]


class VoipbinTalkOptionIn(TypedDict):
    text: str
    gender: NotRequired[str]
    language: NotRequired[str]


class VoipbinTalkIn(TypedDict):
    type: Literal["talk"]
    option: VoipbinTalkOptionIn


class VoipbinConferenceUpdate(TypedDict, total=False):
    name: str
    detail: str
    data: dict[str, Any]
    timeout: int
    pre_actions: list[VoipbinTalkIn]
    post_actions: list[VoipbinTalkIn]


class VoipbinConferenceCreate(VoipbinConferenceUpdate, total=False):
    type: Annotated[str, enum(ConferenceType)]


class VoipbinPaging(TypedDict, total=False):
    page_size: Annotated[int, {"minimum": 1, "maximum": MAX_PAGE}]
    page_token: Annotated[str, {"description": "a next_page_token"}]


class VoipbinNothing(TypedDict):
    """No parameters."""


CREATE = fields(VoipbinConferenceCreate)
UPDATE = fields(VoipbinConferenceUpdate)
PAGING = fields(VoipbinPaging)
TALK = fields(VoipbinTalkIn)
TALK_OPTION = fields(VoipbinTalkOptionIn)
R = TypeVar("R", Conference, Participant)


def tm(dt: datetime | None) -> str:
    return NOT_YET if dt is None else utc(dt).strftime("%Y-%m-%d %H:%M:%S.%f")


def credentials(request: web.Request) -> tuple[str, str]:
    key = request.query.get("accesskey") or request.query.get("token")
    if key:
        return "", key
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return "", value.strip()
    raise Unauthorized(
        "missing_credentials", "send your API key: 'Authorization: Bearer <key>' or ?accesskey="
    )


facade = c.facade(c.our_error, lambda _user, _principal: True, credentials)


def action_view(m: MediaItem) -> VoipbinTalk | VoipbinPlay:
    if m.kind == "say":
        option: VoipbinTalkOption = {"text": m.text or "", "language": m.language}
        if m.gender is not None:
            option["gender"] = m.gender
        return {"type": "talk", "option": option}
    return {"type": "play", "option": {"stream_urls": [m.url or m.file]}}


def actions_in(value: Any, field: str) -> list[dict[str, Any]]:
    """VoIPbin talk actions as our say media (the use case validates text, language, gender)."""
    if not isinstance(value, list):
        raise InvalidInput("invalid_field", f"{field}: must be a list of actions", field=field)
    out: list[dict[str, Any]] = []
    for i, action in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(action, dict) or action.get("type") != "talk":
            raise InvalidInput(
                "unsupported_action", f"{where}: only talk actions are supported", field=where
            )
        c.reject_unknown(action, TALK, where)
        option = action.get("option")
        if not isinstance(option, dict):
            raise InvalidInput("invalid_field", f"{where}.option: must be an object", field=where)
        c.reject_unknown(option, TALK_OPTION, f"{where}.option")
        out.append({"say": dict(option)})
    return out


def _body(params: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    params = {k: v for k, v in params.items() if k not in AUTH_PARAMS}
    c.reject_unknown(params, allowed, "conference")
    body = dict(params)
    for key in ("pre_actions", "post_actions"):
        if key in body:
            body[key] = actions_in(body[key], key) or None  # [] = none
    return body


async def conference_view(s: Services, conf: Conference) -> VoipbinConference:
    present = [x.value for x in PRESENT_PARTICIPANT]
    calls = await c.every(
        lambda after, n: participants.list_(
            s, conf.account_id, conf.id, status=present, after=after, limit=n
        )
    )
    recordings = await media.list_recordings(s, conf.account_id, conf.id)
    return {
        "id": conf.id,
        "customer_id": conf.account_id,
        "type": conf.type.value,
        "status": STATUS[conf.status],
        "name": conf.name,
        "detail": conf.detail or "",
        "data": conf.data,
        "timeout": conf.timeout,
        "pre_actions": [action_view(m) for m in conf.pre_actions],
        "post_actions": [action_view(m) for m in conf.post_actions],
        "conferencecall_ids": [p.id for p in calls],
        "recording_id": conf.recording_id or "",
        "recording_ids": [r.id for r in recordings],
        "tm_create": tm(conf.created_at),
        "tm_update": tm(conf.updated_at),
        "tm_delete": tm(conf.ended_at if conf.status == ConferenceStatus.TERMINATED else None),
    }


def call_view(p: Participant) -> VoipbinConferencecall:
    return {
        "id": p.id,
        "customer_id": p.account_id,
        "conference_id": p.conference_id,
        "reference_type": "call",
        "reference_id": p.call_ref or p.id,
        "status": CALL_STATUS[p.status],
        "tm_create": tm(p.created_at),
        "tm_update": tm(p.updated_at),
        "tm_delete": tm(p.left_at),
    }


def _paging(params: dict[str, Any]) -> tuple[int, str | None]:
    rest = {k: v for k, v in params.items() if k not in AUTH_PARAMS}
    c.reject_unknown(rest, PAGING, "list")
    size = c.whole(params.get("page_size", MAX_PAGE), "page_size")
    if not 1 <= size <= MAX_PAGE:
        raise InvalidInput(
            "invalid_field", f"page_size: must be 1 to {MAX_PAGE}", field="page_size"
        )
    token = params.get("page_token") or None
    if token is not None and (not isinstance(token, str) or not token.replace("_", "").isalnum()):
        raise InvalidInput(
            "invalid_field", "page_token: must be a next_page_token", field="page_token"
        )
    return size, token


def _split(found: list[R], size: int) -> tuple[list[R], str]:
    """A page read one row long: its rows, and the next page's token ("" = the last page)."""
    page = found[:size]
    return page, page[-1].id if len(found) > size else ""


@facade
async def voipbin_create_conference(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    s = c.services(request)
    conf = await conferences.create(s, principal.account_id, _body(params, CREATE))
    return c.reply(await conference_view(s, conf))


@facade
async def voipbin_list_conferences(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    s = c.services(request)
    size, token = _paging(params)
    found = await conferences.list_(
        s, principal.account_id, status=[], name=None, after=token, limit=size + 1
    )
    page, next_token = _split(found, size)
    body: VoipbinConferenceList = {
        "result": [await conference_view(s, x) for x in page],
        "next_page_token": next_token,
    }
    return c.reply(body)


@facade
async def voipbin_get_conference(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    s = c.services(request)
    conf = await conferences.get(s, principal.account_id, request.match_info["id"])
    return c.reply(await conference_view(s, conf))


@facade
async def voipbin_update_conference(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    s = c.services(request)
    conf = await conferences.update(
        s, principal.account_id, request.match_info["id"], _body(params, UPDATE)
    )
    return c.reply(await conference_view(s, conf))


@facade
async def voipbin_delete_conference(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    s = c.services(request)
    conf = await conferences.update(
        s, principal.account_id, request.match_info["id"], {"status": "terminated"}
    )
    return c.reply(await conference_view(s, conf))


@facade
async def voipbin_list_conferencecalls(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    s = c.services(request)
    size, token = _paging(params)
    found = await participants.list_for_account(
        s, principal.account_id, after=token, limit=size + 1
    )
    page, next_token = _split(found, size)
    body: VoipbinConferencecallList = {
        "result": [call_view(p) for p in page],
        "next_page_token": next_token,
    }
    return c.reply(body)


@facade
async def voipbin_get_conferencecall(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    p = await participants.find(c.services(request), principal.account_id, request.match_info["id"])
    return c.reply(call_view(p))


@facade
async def voipbin_delete_conferencecall(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    s = c.services(request)
    p = await participants.find(s, principal.account_id, request.match_info["id"])
    left = await participants.eject(s, principal.account_id, p.conference_id, p.id)
    return c.reply(call_view(left))


_route = partial(c.route, TAG)
OPS: tuple[Op, ...] = (
    _route(
        "POST",
        CONFS,
        voipbin_create_conference,
        "VoIPbin: create a conference",
        VoipbinConferenceCreate,
        VoipbinConference,
    ),
    _route(
        "GET",
        CONFS,
        voipbin_list_conferences,
        "VoIPbin: list conferences (page_size, page_token)",
        VoipbinPaging,
        VoipbinConferenceList,
    ),
    _route(
        "GET",
        CONF,
        voipbin_get_conference,
        "VoIPbin: get a conference",
        VoipbinNothing,
        VoipbinConference,
    ),
    _route(
        "PUT",
        CONF,
        voipbin_update_conference,
        "VoIPbin: update a conference",
        VoipbinConferenceUpdate,
        VoipbinConference,
    ),
    _route(
        "DELETE",
        CONF,
        voipbin_delete_conference,
        "VoIPbin: delete (terminate) a conference",
        VoipbinNothing,
        VoipbinConference,
    ),
    _route(
        "GET",
        CALLS,
        voipbin_list_conferencecalls,
        "VoIPbin: list conferencecalls (page_size, page_token)",
        VoipbinPaging,
        VoipbinConferencecallList,
    ),
    _route(
        "GET",
        CALL,
        voipbin_get_conferencecall,
        "VoIPbin: get a conferencecall",
        VoipbinNothing,
        VoipbinConferencecall,
    ),
    _route(
        "DELETE",
        CALL,
        voipbin_delete_conferencecall,
        "VoIPbin: remove the participant (conferencecall)",
        VoipbinNothing,
        VoipbinConferencecall,
    ),
)
