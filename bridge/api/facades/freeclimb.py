"""FreeClimb's Conference and Participant resources under /apiserver, over bridge.services.

Basic auth: user = the account id, password = an API key of that account. Names, statuses
and dates are FreeClimb's (camelCase, RFC 1123 GMT); every rule is the use case's.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import partial
from typing import Annotated, Any, Literal, Protocol, TypedDict, TypeVar

from aiohttp import web
from yarl import URL

from bridge.api.facades import common as c
from bridge.api.facades.schema import enum, fields, pattern
from bridge.api.ops import Op
from bridge.core.clock import utc
from bridge.core.errors import InvalidInput, Unauthorized
from bridge.core.models import (
    Conference,
    ConferenceStatus,
    Participant,
    ParticipantStatus,
    Recording,
)
from bridge.services import conferences, media, participants
from bridge.services.accounts import Principal

API_BASE = "/apiserver"
BASE = API_BASE + "/Accounts/{accountId}/Conferences"
ONE = BASE + "/{conferenceId}"
PARTS = ONE + "/Participants"
PART = PARTS + "/{callId}"
RECS = ONE + "/Recordings"
REC = RECS + "/{recordingId}"
TAG = "freeclimb"
PAGE_SIZE = 100
V = TypeVar("V")
ERRORS_DOC = "/docs#tag-freeclimb"

PLAY_BEEP = {
    "always": "always",
    "never": "never",
    "entryOnly": "entry_only",
    "exitOnly": "exit_only",
}
PLAY_BEEP_OUT = {ours: theirs for theirs, ours in PLAY_BEEP.items()}
STATUS = {
    ConferenceStatus.RESERVED: "creating",
    ConferenceStatus.EMPTY: "empty",
    ConferenceStatus.POPULATED: "populated",
    ConferenceStatus.IN_PROGRESS: "inProgress",
    ConferenceStatus.TERMINATING: "inProgress",
    ConferenceStatus.TERMINATED: "terminated",
}
STATUS_IN = {
    "creating": ["reserved"],
    "empty": ["empty"],
    "populated": ["populated"],
    "inProgress": ["in_progress", "terminating"],
    "terminated": ["terminated"],
    "internalError": [],
}

# --- the bodies, declared once: the views return them, the OpenAPI document reads them ----

RFC1123 = pattern(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" \d{4} \d{2}:\d{2}:\d{2} GMT",
    "RFC 1123, GMT",
)
Date = Annotated[str | None, RFC1123]
Beep = Annotated[str, enum(PLAY_BEEP)]
Cursor = Annotated[str, {"maxLength": 64, "description": "from nextPageUri"}]
Url = Annotated[str, {"format": "uri"}]


class FreeClimbSubresourceUris(TypedDict):
    participants: str
    recordings: str


class FreeClimbResource(TypedDict):
    """What every FreeClimb result starts with (its MutableResourceModel)."""

    uri: str
    dateCreated: Date
    dateUpdated: Date
    revision: int


class FreeClimbConference(FreeClimbResource):
    """FreeClimb's ConferenceResult."""

    conferenceId: str
    accountId: str
    alias: str | None
    playBeep: Beep
    record: bool
    status: Annotated[str, enum(STATUS.values())]
    waitUrl: str | None
    actionUrl: str | None
    statusCallbackUrl: str | None
    subresourceUris: FreeClimbSubresourceUris


class FreeClimbParticipant(FreeClimbResource):
    """FreeClimb's ParticipantResult."""

    accountId: str
    conferenceId: str
    callId: str
    talk: bool
    listen: bool
    startConfOnEnter: bool


class FreeClimbRecording(FreeClimbResource):
    """FreeClimb's RecordingResult (callId is null: a conference recording)."""

    recordingId: str
    accountId: str
    callId: str | None
    durationSec: int
    conferenceId: str


class FreeClimbPage(TypedDict):
    total: int
    start: int
    end: int
    page: int
    numPages: int
    pageSize: int
    nextPageUri: str | None


class FreeClimbConferenceList(FreeClimbPage):
    conferences: list[FreeClimbConference]


class FreeClimbParticipantList(FreeClimbPage):
    participants: list[FreeClimbParticipant]


class FreeClimbRecordingList(FreeClimbPage):
    recordings: list[FreeClimbRecording]


class FreeClimbError(TypedDict):
    """FreeClimb's error body: code is the HTTP status; details.code our stable code."""

    code: int
    info: str
    url: str
    details: Annotated[
        dict[str, Any], {"required": ["code"], "properties": {"code": {"type": "string"}}}
    ]


class FreeClimbConferenceCreate(TypedDict, total=False):
    alias: str
    playBeep: Beep
    record: bool
    waitUrl: Url
    actionUrl: Url
    statusCallbackUrl: Url


class FreeClimbConferenceUpdate(TypedDict, total=False):
    alias: str
    playBeep: Beep
    status: Literal["terminated"]


class FreeClimbConferenceFilter(TypedDict, total=False):
    status: Annotated[str, enum(STATUS_IN)]
    alias: str
    dateCreated: Annotated[str, {"description": "a day (YYYY-MM-DD) or the RFC 1123 value"}]
    dateUpdated: Annotated[str, {"description": "a day (YYYY-MM-DD) or the RFC 1123 value"}]
    cursor: Cursor


class FreeClimbParticipantUpdate(TypedDict, total=False):
    talk: bool
    listen: bool


class FreeClimbParticipantFilter(FreeClimbParticipantUpdate, total=False):
    cursor: Cursor


class FreeClimbRecordingFilter(TypedDict, total=False):
    cursor: Cursor


class FreeClimbNothing(TypedDict):
    """No parameters."""


CREATE = fields(FreeClimbConferenceCreate)
UPDATE = fields(FreeClimbConferenceUpdate)
LIST = fields(FreeClimbConferenceFilter)
PART_LIST = fields(FreeClimbParticipantFilter)
PART_UPDATE = fields(FreeClimbParticipantUpdate)
REC_LIST = fields(FreeClimbRecordingFilter)


def rfc1123(dt: datetime | None) -> str | None:
    return None if dt is None else format_datetime(utc(dt), usegmt=True)


def conference_uri(account_id: str, conference_id: str) -> str:
    return f"/Accounts/{account_id}/Conferences/{conference_id}"


class _Stamped(Protocol):
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def revision(self) -> int: ...


def resource(uri: str, row: _Stamped) -> FreeClimbResource:
    return {
        "uri": uri,
        "dateCreated": rfc1123(row.created_at),
        "dateUpdated": rfc1123(row.updated_at),
        "revision": row.revision,
    }


def conference_view(conf: Conference) -> FreeClimbConference:
    uri = conference_uri(conf.account_id, conf.id)
    wait = conf.wait_media
    return {
        **resource(uri, conf),
        "conferenceId": conf.id,
        "accountId": conf.account_id,
        "alias": conf.alias,
        "playBeep": PLAY_BEEP_OUT[conf.play_beep.value],
        "record": conf.record,
        "status": STATUS[conf.status],
        "waitUrl": (wait.url or wait.file) if wait is not None and wait.kind == "play" else None,
        "actionUrl": conf.action_url,
        "statusCallbackUrl": conf.status_callback_url,
        "subresourceUris": {
            "participants": f"{uri}/Participants",
            "recordings": f"{uri}/Recordings",
        },
    }


def participant_view(p: Participant) -> FreeClimbParticipant:
    return {
        **resource(f"{conference_uri(p.account_id, p.conference_id)}/Participants/{p.id}", p),
        "accountId": p.account_id,
        "conferenceId": p.conference_id,
        "callId": p.id,
        "talk": p.options.talker and not p.muted,
        "listen": not p.deaf,
        "startConfOnEnter": p.options.start_on_entry,
    }


def recording_view(r: Recording) -> FreeClimbRecording:
    return {
        **resource(f"{conference_uri(r.account_id, r.conference_id)}/Recordings/{r.id}", r),
        "recordingId": r.id,
        "accountId": r.account_id,
        "callId": None,  # a conference recording belongs to no single call
        "durationSec": int(r.duration_seconds),
        "conferenceId": r.conference_id,
    }


def render_error(request: web.Request, exc: Exception) -> web.Response:
    """FreeClimb's error body: a numeric code, info, a documentation url and details; our
    stable code is in details.code."""
    status, code, message, details = c.status_of(exc)
    body: FreeClimbError = {
        "code": status,
        "info": message,
        "url": ERRORS_DOC,
        "details": {"code": code, **details},
    }
    headers = {"WWW-Authenticate": 'Basic realm="freeclimb"'} if status == 401 else None
    return c.reply(body, status, headers)


def _account_user(user: str, principal: Principal) -> bool:
    return user == principal.account_id


facade = c.facade(render_error, _account_user)


def _account(request: web.Request, principal: Principal) -> str:
    if request.match_info["accountId"] != principal.account_id:
        raise Unauthorized("account_mismatch", "the API key does not belong to this account")
    return principal.account_id


def _translate(params: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    c.reject_unknown(params, allowed, "conference")
    body: dict[str, Any] = {}
    if "alias" in params:
        body["alias"] = params["alias"]
        if params["alias"]:
            body["name"] = params["alias"]
    if "playBeep" in params:
        value = params["playBeep"]
        if value not in PLAY_BEEP:
            raise InvalidInput(
                "invalid_field",
                "playBeep: must be always, never, entryOnly or exitOnly",
                field="playBeep",
            )
        body["play_beep"] = PLAY_BEEP[value]
    if "record" in params:
        body["record"] = c.flag(params["record"], "record")
    if params.get("waitUrl"):
        body["wait_media"] = {"play": {"url": params["waitUrl"]}}
    if "actionUrl" in params:
        body["action_url"] = params["actionUrl"]
    if "statusCallbackUrl" in params:
        body["status_callback_url"] = params["statusCallbackUrl"]
    if "status" in params:
        if params["status"] != "terminated":
            raise InvalidInput(
                "invalid_field", "status: only 'terminated' can be set", field="status"
            )
        body["status"] = "terminated"
    return body


def _page(
    request: web.Request, rows: list[tuple[str, V]], cursor: str | None
) -> tuple[FreeClimbPage, list[V]]:
    """One page of FreeClimb's list over every matching (id, view) row, in id order: the
    cursor is the last id of the previous page, so a page stays put while rows are added;
    nextPageUri is relative to the API base, like every `uri`."""
    total = len(rows)
    start = sum(1 for rid, _ in rows if cursor is not None and rid <= cursor)
    items = [view for _, view in rows[start : start + PAGE_SIZE]]
    end = start + len(items)
    next_uri = None
    if end < total:
        query = {**request.query, "cursor": rows[end - 1][0]}
        path = request.rel_url.path.removeprefix(API_BASE)
        next_uri = str(URL(path).with_query(query))
    meta: FreeClimbPage = {
        "total": total,
        "start": start,
        "end": max(end - 1, start),
        "page": start // PAGE_SIZE,
        "numPages": max(1, -(-total // PAGE_SIZE)),
        "pageSize": PAGE_SIZE,
        "nextPageUri": next_uri,
    }
    return meta, items


def _conference_list(
    request: web.Request, rows: list[tuple[str, FreeClimbConference]], cursor: str | None
) -> web.Response:
    meta, items = _page(request, rows, cursor)
    body: FreeClimbConferenceList = {**meta, "conferences": items}
    return c.reply(body)


def _cursor(params: dict[str, Any]) -> str | None:
    raw = params.get("cursor")
    if raw is not None and (
        not isinstance(raw, str) or len(raw) > 64 or not raw.replace("_", "").isalnum()
    ):
        raise InvalidInput("invalid_field", "cursor: must come from nextPageUri", field="cursor")
    return raw


@facade
async def freeclimb_create_conference(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    account = _account(request, principal)
    conf = await conferences.create(c.services(request), account, _translate(params, CREATE))
    return c.reply(conference_view(conf))


@facade
async def freeclimb_list_conferences(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    account = _account(request, principal)
    c.reject_unknown(params, LIST, "conference list")
    statuses: list[str] = []
    if "status" in params:
        wanted = params["status"]
        if wanted not in STATUS_IN:
            raise InvalidInput("invalid_field", f"status: unknown {wanted!r}", field="status")
        if not STATUS_IN[wanted]:  # internalError: a status the bridge never reaches
            return _conference_list(request, [], _cursor(params))
        statuses = STATUS_IN[wanted]
    s = c.services(request)
    confs = await c.every(
        lambda after, n: conferences.list_(
            s, account, status=statuses, name=None, after=after, limit=n
        )
    )
    rows = [(x.id, conference_view(x)) for x in confs]
    alias = params.get("alias")
    if alias is not None:
        rows = [(i, x) for i, x in rows if x["alias"] == alias]
    for field in ("dateCreated", "dateUpdated"):
        if field in params:  # a day (YYYY-MM-DD) or the exact RFC 1123 value
            wanted = c.text(params[field], field)
            rows = [(i, x) for i, x in rows if _same_day(x[field], wanted)]
    return _conference_list(request, rows, _cursor(params))


def _same_day(rfc: str | None, wanted: str) -> bool:
    if rfc is None:
        return False
    if rfc == wanted:
        return True
    return parsedate_to_datetime(rfc).strftime("%Y-%m-%d") == wanted


@facade
async def freeclimb_get_conference(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    account = _account(request, principal)
    conf = await conferences.get(c.services(request), account, request.match_info["conferenceId"])
    return c.reply(conference_view(conf))


@facade
async def freeclimb_update_conference(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    account = _account(request, principal)
    conf = await conferences.update(
        c.services(request), account, request.match_info["conferenceId"], _translate(params, UPDATE)
    )
    return c.reply(conference_view(conf))


@facade
async def freeclimb_list_participants(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    account = _account(request, principal)
    c.reject_unknown(params, PART_LIST, "participant list")
    present = [s.value for s in (ParticipantStatus.JOINING, ParticipantStatus.JOINED)]
    s, cid = c.services(request), request.match_info["conferenceId"]
    found = await c.every(
        lambda after, n: participants.list_(s, account, cid, status=present, after=after, limit=n)
    )
    rows = [(p.id, participant_view(p)) for p in found]
    for field in ("talk", "listen"):
        if field in params:
            wanted = c.flag(params[field], field)
            rows = [(i, x) for i, x in rows if x[field] is wanted]
    meta, items = _page(request, rows, _cursor(params))
    body: FreeClimbParticipantList = {**meta, "participants": items}
    return c.reply(body)


@facade
async def freeclimb_get_participant(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    account = _account(request, principal)
    p = await participants.get(
        c.services(request),
        account,
        request.match_info["conferenceId"],
        request.match_info["callId"],
    )
    return c.reply(participant_view(p))


@facade
async def freeclimb_update_participant(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    account = _account(request, principal)
    c.reject_unknown(params, PART_UPDATE, "participant")
    body: dict[str, Any] = {}
    if "talk" in params:
        body["muted"] = not c.flag(params["talk"], "talk")
    if "listen" in params:
        body["listen"] = c.flag(params["listen"], "listen")
    p = await participants.update(
        c.services(request),
        account,
        request.match_info["conferenceId"],
        request.match_info["callId"],
        body,
    )
    return c.reply(participant_view(p))


@facade
async def freeclimb_remove_participant(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    account = _account(request, principal)
    cid, pid = request.match_info["conferenceId"], request.match_info["callId"]
    await participants.eject(c.services(request), account, cid, pid)
    return web.Response(status=204)


@facade
async def freeclimb_list_recordings(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    account = _account(request, principal)
    c.reject_unknown(params, REC_LIST, "recording list")
    recs = await media.list_recordings(
        c.services(request), account, request.match_info["conferenceId"]
    )
    meta, items = _page(request, [(r.id, recording_view(r)) for r in recs], _cursor(params))
    body: FreeClimbRecordingList = {**meta, "recordings": items}
    return c.reply(body)


async def _recording(request: web.Request, principal: Principal) -> Recording:
    return await media.get_recording(
        c.services(request),
        _account(request, principal),
        request.match_info["conferenceId"],
        request.match_info["recordingId"],
    )


@facade
async def freeclimb_get_recording(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    return c.reply(recording_view(await _recording(request, principal)))


@facade
async def freeclimb_download_recording(
    request: web.Request, principal: Principal, params: dict[str, Any]
) -> web.StreamResponse:
    path = media.recording_file(c.services(request), await _recording(request, principal))
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


_route = partial(c.route, TAG)
OPS: tuple[Op, ...] = (
    _route(
        "POST",
        BASE,
        freeclimb_create_conference,
        "FreeClimb: create a Conference",
        FreeClimbConferenceCreate,
        FreeClimbConference,
    ),
    _route(
        "GET",
        BASE,
        freeclimb_list_conferences,
        "FreeClimb: list Conferences (status, alias, dateCreated, dateUpdated)",
        FreeClimbConferenceFilter,
        FreeClimbConferenceList,
    ),
    _route(
        "GET",
        ONE,
        freeclimb_get_conference,
        "FreeClimb: get a Conference",
        FreeClimbNothing,
        FreeClimbConference,
    ),
    _route(
        "POST",
        ONE,
        freeclimb_update_conference,
        "FreeClimb: update a Conference (alias, playBeep, status=terminated)",
        FreeClimbConferenceUpdate,
        FreeClimbConference,
    ),
    _route(
        "GET",
        PARTS,
        freeclimb_list_participants,
        "FreeClimb: list a Conference's Participants (talk, listen)",
        FreeClimbParticipantFilter,
        FreeClimbParticipantList,
    ),
    _route(
        "GET",
        PART,
        freeclimb_get_participant,
        "FreeClimb: get a Participant",
        FreeClimbNothing,
        FreeClimbParticipant,
    ),
    _route(
        "POST",
        PART,
        freeclimb_update_participant,
        "FreeClimb: update a Participant (talk, listen)",
        FreeClimbParticipantUpdate,
        FreeClimbParticipant,
    ),
    _route(
        "DELETE",
        PART,
        freeclimb_remove_participant,
        "FreeClimb: remove a Participant",
        FreeClimbNothing,
        status=204,
    ),
    _route(
        "GET",
        RECS,
        freeclimb_list_recordings,
        "FreeClimb: list a Conference's Recordings",
        FreeClimbRecordingFilter,
        FreeClimbRecordingList,
    ),
    _route(
        "GET",
        REC,
        freeclimb_get_recording,
        "FreeClimb: get a Recording",
        FreeClimbNothing,
        FreeClimbRecording,
    ),
    _route(
        "GET",
        REC + "/Download",
        freeclimb_download_recording,
        "FreeClimb: download a Recording's audio (audio/wav)",
        FreeClimbNothing,
        content_type="audio/wav",
    ),
)
