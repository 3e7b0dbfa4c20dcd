"""Domain errors with stable codes, and the one catalogue of every code the API answers
with: its HTTP status and what it means. The API's error responses, the OpenAPI document and
the tests read the catalogue; `ErrorCode` makes mypy refuse a code that is not in it."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, get_args

ErrorKind = Literal[
    "invalid", "not_found", "conflict", "unauthorized", "forbidden", "unavailable", "too_large"
]


# The HTTP status each kind of domain error answers with.
KIND_STATUS: dict[ErrorKind, int] = {
    "invalid": 400,
    "not_found": 404,
    "conflict": 409,
    "unauthorized": 401,
    "forbidden": 403,
    "unavailable": 503,
    "too_large": 413,
}

ErrorCode = Literal[
    # the request itself (api/)
    "bad_request",
    "bad_method",
    "header_too_large",
    "invalid_json",
    "invalid_text",
    "invalid_unicode",
    "too_deep",
    "unsupported_media_type",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "http_error",
    "internal_error",
    # fields
    "invalid_field",
    "unknown_field",
    "missing_parameter",
    "too_many_parameters",
    "empty_update",
    "bad_length",
    "out_of_range",
    "too_large",
    "invalid_digit",
    "invalid_dial_target",
    "invalid_time",
    "invalid_last_event_id",
    "unknown_event_type",
    "url_not_allowed",
    "media_unavailable",
    "listener_unmuted",
    "start_too_soon",
    "start_too_far",
    "unsupported_action",
    # authentication and authorisation
    "unauthorized",
    "missing_credentials",
    "invalid_credentials",
    "invalid_api_key",
    "api_key_revoked",
    "account_mismatch",
    "forbidden",
    "admin_only",
    "cannot_revoke_own_key",
    # resources that do not exist
    "account_not_found",
    "api_key_not_found",
    "conference_not_found",
    "participant_not_found",
    "recording_not_found",
    "recording_audio_unavailable",
    "reservation_not_found",
    "subscription_not_found",
    "delivery_not_found",
    "console_file_not_found",
    # not in the resource's current state
    "invalid_transition",
    "conference_terminated",
    "conference_full",
    "conference_not_open",
    "conference_not_populated",
    "conference_not_started",
    "conference_not_active",
    "access_code_in_use",
    "participant_not_joined",
    "participant_not_present",
    "participant_not_talker",
    "already_recording",
    "recording_ended",
    "reservation_name_in_use",
    "reservation_not_extendable",
    "reservation_not_removable",
    "reservation_starting",
    "reservation_ending",
    "duration_limit",
    "subscription_exists",
    "delivery_not_dead",
    # the service cannot do it now
    "conference_busy",
    "engine_unavailable",
    "store_unavailable",
]


class Entry(NamedTuple):
    status: int  # the HTTP status it is answered with
    message: str  # what it means, for the OpenAPI document


_CATALOGUE: dict[str, tuple[int, str]] = {
    "bad_request": (400, "the request is not valid HTTP/1.1"),
    "bad_method": (400, "the request method is not valid"),
    "header_too_large": (400, "a request line or header is too long"),
    "invalid_json": (400, "the body is not valid JSON, or not a JSON object"),
    "invalid_text": (400, "a string holds a character never allowed (NUL)"),
    "invalid_unicode": (400, "a string is not valid Unicode (a lone surrogate)"),
    "too_deep": (400, "the body nests too deep"),
    "unsupported_media_type": (400, "the body is not application/json"),
    "not_found": (404, "no such resource or route"),
    "method_not_allowed": (405, "the route does not take this method"),
    "payload_too_large": (413, "the body is larger than the server accepts"),
    "http_error": (400, "another HTTP-level refusal (the status says which)"),
    "internal_error": (500, "an internal error occurred; it was logged"),
    "invalid_field": (400, "a field's value is not allowed (details.field names it)"),
    "unknown_field": (400, "the body has a field this operation does not take"),
    "missing_parameter": (400, "a required parameter is missing"),
    "too_many_parameters": (400, "more parameters than any operation takes"),
    "empty_update": (400, "an update names no field to change"),
    "bad_length": (400, "a value is too short or too long"),
    "out_of_range": (400, "a number is outside its allowed range"),
    "too_large": (400, "a JSON value (data) is larger than allowed"),
    "invalid_digit": (400, "not a DTMF digit (0-9, A-D, #, *)"),
    "invalid_dial_target": (400, "not a number, SIP user or sip: URI"),
    "invalid_time": (400, "not a time in an accepted format"),
    "invalid_last_event_id": (400, "Last-Event-ID is not an id the stream sent"),
    "unknown_event_type": (400, "no such event type or family (see the Event schema)"),
    "url_not_allowed": (400, "the URL is not http(s) on a public host"),
    "media_unavailable": (400, "the engine cannot play or say this media"),
    "listener_unmuted": (400, "a participant with talker=false cannot start unmuted"),
    "start_too_soon": (400, "a reservation must start at least 5 minutes ahead"),
    "start_too_far": (400, "a reservation must start at most 24 hours ahead"),
    "unsupported_action": (400, "the facade does not support this action"),
    "unauthorized": (401, "missing or invalid credentials"),
    "missing_credentials": (401, "no API key was sent"),
    "invalid_credentials": (401, "the credentials are not in a form the API reads"),
    "invalid_api_key": (401, "no such API key"),
    "api_key_revoked": (401, "the API key was revoked"),
    "account_mismatch": (401, "the API key belongs to another account"),
    "forbidden": (403, "not allowed for this key"),
    "admin_only": (403, "only an admin key may do this"),
    "cannot_revoke_own_key": (403, "a key cannot revoke itself"),
    "account_not_found": (404, "no such account"),
    "api_key_not_found": (404, "no such API key"),
    "conference_not_found": (404, "no such conference (or not this account's)"),
    "participant_not_found": (404, "no such participant in this conference"),
    "recording_not_found": (404, "no such recording in this conference"),
    "recording_audio_unavailable": (404, "the recording has no audio file here"),
    "reservation_not_found": (404, "no such reservation"),
    "subscription_not_found": (404, "no such subscription"),
    "delivery_not_found": (404, "no such webhook delivery"),
    "console_file_not_found": (404, "no such console file"),
    "invalid_transition": (409, "the conference's status does not allow this"),
    "conference_terminated": (409, "the conference has ended"),
    "conference_full": (409, "the conference has as many participants as it may"),
    "conference_not_open": (409, "the conference does not take participants now"),
    "conference_not_populated": (409, "say/play need participants"),
    "conference_not_started": (409, "recording needs a started conference"),
    "conference_not_active": (409, "the conference is not active"),
    "access_code_in_use": (409, "another live conference has this access code"),
    "participant_not_joined": (409, "the participant has not joined (or has left)"),
    "participant_not_present": (409, "the participant is no longer in the call"),
    "participant_not_talker": (409, "the participant joined as a listener"),
    "already_recording": (409, "a recording is already running"),
    "recording_ended": (409, "the recording has ended"),
    "reservation_name_in_use": (409, "another reservation has this name"),
    "reservation_not_extendable": (409, "the reservation cannot be extended now"),
    "reservation_not_removable": (409, "the reservation cannot be removed now"),
    "reservation_starting": (409, "the reservation starts within 5 minutes"),
    "reservation_ending": (409, "the reservation ends within 5 minutes"),
    "duration_limit": (409, "the extension would pass the longest duration"),
    "subscription_exists": (409, "a subscription to this URL exists"),
    "delivery_not_dead": (409, "only a dead-lettered delivery can be retried"),
    "conference_busy": (503, "the conference is busy; retry"),
    "engine_unavailable": (503, "the conference engine cannot be reached; retry"),
    "store_unavailable": (503, "the change could not be stored; nothing changed"),
}
if set(_CATALOGUE) != set(get_args(ErrorCode)):  # one list: the type and the table agree
    raise AssertionError(
        f"error catalogue and ErrorCode differ: {set(_CATALOGUE) ^ set(get_args(ErrorCode))}"
    )
CATALOGUE: dict[ErrorCode, Entry] = {code: Entry(*_CATALOGUE[code]) for code in get_args(ErrorCode)}


class BridgeError(Exception):
    """An error a person can act on: a stable `code`, a readable `message`, `details`."""

    kind: ErrorKind = "invalid"

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details

    @property
    def status(self) -> int:
        return CATALOGUE[self.code].status


class InvalidInput(BridgeError):
    kind = "invalid"


class NotFound(BridgeError):
    kind = "not_found"


class Conflict(BridgeError):
    kind = "conflict"


class Unauthorized(BridgeError):
    kind = "unauthorized"


class Forbidden(BridgeError):
    kind = "forbidden"


class Unavailable(BridgeError):
    kind = "unavailable"


def invalid_field(field: str, message: str, code: ErrorCode = "invalid_field") -> InvalidInput:
    return InvalidInput(code, f"{field}: {message}", field=field)
