"""Validators for everything a user sends. Each returns the clean value or raises InvalidInput."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from bridge.core.dialing import parse_dial_target
from bridge.core.errors import InvalidInput, invalid_field
from bridge.core.events import known_filter
from bridge.core.netpolicy import NotAllowed, OutboundPolicy

# --- limits ------------------------------------------------------------------------------
# The one source of every limit a field has: the validators below and the OpenAPI document
# (bridge/api/openapi.py) both read these, so what is published is what is enforced
# (tests/component/test_field_limits.py sends each boundary to the server).
NAME_LEN = 128  # a conference's name
TEXT_LEN = 200  # alias, account name, key label
DETAIL_LEN = 2000
SPEECH_LEN = 1000
URL_LEN = 2048
SECRET_LEN = (16, 80)
CONFERENCE_TIMEOUT = (0, 7 * 86400)  # seconds
ANSWER_TIMEOUT = (1, 300)  # seconds
CALL_MINUTES = (1, 1440)
MEDIA_ITEMS = 10  # announcements, pre_actions, post_actions
DIGIT_SEQUENCE_LEN = 16
EVENT_TYPES = 50  # a subscription's event_types
# Patterns, anchored by whoever uses them (fullmatch here, ^...$ in the document).
CONTROL_CHARS = r"\x00-\x1f\x7f"
ACCESS_CODE = r"[0-9]{3,20}"
PIN = r"[0-9]{3,12}"
RESERVATION_NAME = r"[A-Za-z0-9]{1,47}"
CALLER_ID = r"\+?[A-Za-z0-9._-]{1,40}"
LANGUAGE = r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?"
# Relative, inside the media directory: no leading / or -, no '..' segment.
MEDIA_PATH = r"(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_.][A-Za-z0-9_./-]{0,199}"
EVENT_TYPE = r"[a-z_]{1,40}\.(?:[a-z_]{1,40}|\*)"
SECRET = r"[\x20-\x7e]+"
SPEECH = r"(?:[^\W_]|[ .,?!:;-])+"  # letters and digits of any script
PAGE_SIZE = (1, 200)  # ?limit=
PAGE_AFTER = r"[A-Za-z0-9_]{1,64}"  # ?after=, an id from a previous page
AFTER_SEQUENCE_DIGITS = 12  # ?after_sequence=
# A dial target as bridge/core/dialing.py parses it: a number, a SIP user, or
# sip:[user@]host[:port]; the parser also checks a bracketed IPv6 literal's form.
DIAL_TARGET_LEN = 128
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
DIAL_TARGET = (
    r"\+?[0-9]{1,20}|[A-Za-z0-9][A-Za-z0-9._-]{0,39}"
    rf"|sip:(?:\+?[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}@)?"
    rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]{{2,45}}\])(?::{_PORT})?"
)

DIGITS = frozenset("0123456789ABCD#*")
_CONTROL = re.compile(f"[{CONTROL_CHARS}]")
_ACCESS_CODE = re.compile(ACCESS_CODE)
_PIN = re.compile(PIN)
_RES_NAME = re.compile(RESERVATION_NAME)
_CALLER = re.compile(CALLER_ID)
_SPEECH = re.compile(SPEECH)
_MEDIA_PATH = re.compile(MEDIA_PATH)
_LANG = re.compile(LANGUAGE)
_EVENT_TYPE = re.compile(EVENT_TYPE)
_SECRET = re.compile(SECRET)
MAX_DATA_BYTES = 16 * 1024


def expect_mapping(value: Any, field: str = "body") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid_field(field, "must be a JSON object")
    return value


def reject_unknown(body: Mapping[str, Any], allowed: set[str] | frozenset[str], where: str) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidInput(
            "unknown_field",
            f"{where}: unknown field(s) {', '.join(unknown)}",
            fields=unknown,
        )


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise invalid_field(field, "must be true or false")
    return value


def integer(value: Any, field: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_field(field, "must be an integer")
    if not minimum <= value <= maximum:
        raise invalid_field(field, f"must be between {minimum} and {maximum}", "out_of_range")
    return value


def text(value: Any, field: str, *, max_len: int = TEXT_LEN, min_len: int = 1) -> str:
    """Free text: printable, no control characters."""
    if not isinstance(value, str):
        raise invalid_field(field, "must be a string")
    if not min_len <= len(value) <= max_len:
        raise invalid_field(field, f"must be {min_len} to {max_len} characters", "bad_length")
    if _CONTROL.search(value):
        raise invalid_field(field, "must not contain control characters (CR, LF, NUL, ...)")
    return value


def display_name(raw: str | None) -> str | None:
    """A caller's display name as a PBX reports it (SIP From display name, CALLERID(name),
    caller_id_name): kept only as free text would be accepted from the API, cut to length;
    anything else (control characters, empty) is no name."""
    if raw is None:
        return None
    name = raw.strip()[:TEXT_LEN]
    return name if name and not _CONTROL.search(name) else None


def optional_text(value: Any, field: str, *, max_len: int = TEXT_LEN) -> str | None:
    return None if value is None else text(value, field, max_len=max_len, min_len=0)


def url(value: Any, field: str, policy: OutboundPolicy | None = None) -> str:
    """An absolute http(s) URL, at most 2048 characters, no whitespace or controls.

    With `policy` (every URL a tenant stores): its host must be one the bridge may send to,
    judged without DNS (a literal address, or a name local by its form); else `url_not_allowed`.
    Without it (values read back from the store) only the form is checked."""
    if not isinstance(value, str) or not value:
        raise invalid_field(field, "must be an absolute http or https URL")
    if len(value) > URL_LEN or _CONTROL.search(value) or " " in value:
        raise invalid_field(field, "must be a URL without spaces or control characters")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise invalid_field(field, "must be an absolute http or https URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.hostname:
        raise invalid_field(field, "must be an absolute http or https URL")
    if policy is not None:
        try:
            policy.check_url(value)
        except NotAllowed as exc:
            why = exc.message
            if exc.reason != "invalid_host":
                why += "; the bridge sends requests only to public addresses"
            raise InvalidInput(
                "url_not_allowed",
                f"{field}: {why}",
                field=field,
                reason=exc.reason,
            ) from None
    return value


def optional_url(value: Any, field: str, policy: OutboundPolicy | None = None) -> str | None:
    return None if value is None else url(value, field, policy)


def digit(value: Any, field: str) -> str | None:
    """One DTMF digit: 0-9, A-D, # or *."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 1 or value not in DIGITS:
        raise invalid_field(field, "must be one digit of 0-9, A-D, # or *", "invalid_digit")
    return value


def digit_sequence(value: Any, field: str, *, max_len: int = DIGIT_SEQUENCE_LEN) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= max_len
        or any(c not in DIGITS for c in value)
    ):
        raise invalid_field(field, f"must be 1 to {max_len} of 0-9, A-D, # or *", "invalid_digit")
    return value


def access_code(value: Any, field: str = "access_code") -> str:
    if not isinstance(value, str) or _ACCESS_CODE.fullmatch(value) is None:
        raise invalid_field(field, "must be 3 to 20 decimal digits")
    return value


def pin(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or _PIN.fullmatch(value) is None:
        raise invalid_field(field, "must be 3 to 12 decimal digits")
    return value


def reservation_name(value: Any, field: str = "conference_name") -> str:
    if not isinstance(value, str) or _RES_NAME.fullmatch(value) is None:
        raise invalid_field(field, "must be 1 to 47 letters or digits")
    return value


def caller_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or _CALLER.fullmatch(value) is None:
        raise invalid_field(
            field, "must be a number or SIP user: optional +, then letters, digits, . _ - (max 40)"
        )
    return value


def dial_target(value: Any, field: str) -> str:
    """Whom a dial-out calls: a number, a SIP user or a sip: URI (core/dialing.py). The
    endpoint or trunk the call leaves through is configuration, never part of the value."""
    try:
        return str(parse_dial_target(value))
    except ValueError as exc:
        raise invalid_field(
            field,
            f"{exc}: a number (+4420...), a SIP user (alice) or a sip:user@host[:port] URI",
            "invalid_dial_target",
        ) from None


def speech(value: Any, field: str, *, max_len: int = SPEECH_LEN) -> str:
    """Text to speak: letters and digits of any script, spaces and . , ? ! : ; - only.

    Nothing else is needed to speak, and nothing in it can be expanded (`${...}`) or split
    (`|`, quotes, braces) by a PBX that receives it.
    """
    if not isinstance(value, str):
        raise invalid_field(field, "must be a string")
    if not 1 <= len(value) <= max_len:
        raise invalid_field(field, f"must be 1 to {max_len} characters", "bad_length")
    if _SPEECH.fullmatch(value) is None:
        raise invalid_field(
            field, "may hold only letters, digits, spaces and . , ? ! : ; -", "invalid_text"
        )
    return value


def media_path(value: Any, field: str) -> str:
    """A media file relative to the media directory, or a sound name: no '..', no absolute path."""
    if not isinstance(value, str) or _MEDIA_PATH.fullmatch(value) is None:
        raise invalid_field(
            field,
            "must be a relative file name of letters, digits and _ . / - inside the media "
            "directory (no leading / or -, no '..')",
        )
    return value


def language(value: Any, field: str) -> str:
    if not isinstance(value, str) or _LANG.fullmatch(value) is None:
        raise invalid_field(field, "must be a language tag such as en or en-US")
    return value


def json_object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_field(field, "must be a JSON object")
    size = len(json.dumps(value, separators=(",", ":")))
    if size > MAX_DATA_BYTES:
        raise InvalidInput(
            "too_large", f"{field}: must be at most {MAX_DATA_BYTES} bytes of JSON", field=field
        )
    return value


def status_filter(values: list[str], enum: type[StrEnum]) -> list[str]:
    """A `?status=a,b` filter: every value must be one of `enum`'s."""
    valid = {member.value for member in enum}
    bad = [x for x in values if x not in valid]
    if bad:
        raise InvalidInput(
            "invalid_field", f"status: unknown value(s) {', '.join(bad)}", field="status"
        )
    return values


def choice(value: Any, field: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise invalid_field(field, f"must be one of {', '.join(options)}")
    return str(value)


def event_types(value: Any, field: str = "event_types") -> list[str]:
    """Which events a subscription wants: `participant.left`, `participant.*`."""
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or len(value) > EVENT_TYPES
        or not all(isinstance(x, str) and _EVENT_TYPE.fullmatch(x) for x in value)
    ):
        raise invalid_field(
            field,
            f"must be a list of at most {EVENT_TYPES} event types such as participant.left "
            "or participant.*",
        )
    return known_event_types(value, field)


def known_event_types(names: list[str], field: str) -> list[str]:
    """Every entry names an event type the bridge emits, or a family of them: a misspelt
    one (participant.joind) would be stored and never match."""
    unknown = [x for x in names if not known_filter(x)]
    if unknown:
        raise InvalidInput(
            "unknown_event_type",
            f"{field}: no such event type {', '.join(unknown)}; see the Event schema's type enum",
            field=field,
            unknown=unknown,
        )
    return names


def secret(value: Any, field: str = "secret") -> str:
    """A webhook signing secret: printable ASCII."""
    lo, hi = SECRET_LEN
    clean = text(value, field, min_len=lo, max_len=hi)
    if _SECRET.fullmatch(clean) is None:
        raise invalid_field(field, "must be printable ASCII")
    return clean
