"""The one check every value passes before it is written to a PBX wire.

AMI, AGI and ESL are line-oriented text protocols with no escaping: a CR or LF
inside a value starts a new header or a whole new command. Every outgoing value
is therefore matched against an allow-list for its kind; nothing is escaped or
stripped, a value that does not match is refused.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Kind = Literal[
    "name",
    "digits",
    "digit",
    "channel",
    "path",
    "uuid",
    "caller_id",
    "dial_target",
    "token",
    "integer",
    "variable",
    "text",
    "speech",
]

_PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    # conference names on the PBX (cb-<id>), profile and context names
    "name": re.compile(r"[A-Za-z0-9_-]{1,80}"),
    # DTMF digit strings: PINs, access codes, menus
    "digits": re.compile(r"[0-9A-D#*]{1,32}"),
    "digit": re.compile(r"[0-9A-D#*]"),
    # PJSIP/alice-0000001a, Local/x@ctx-00000001;1, SIP/1.2.3.4:5060-0001
    "channel": re.compile(r"[A-Za-z0-9_.@;:+/=-]{1,128}"),
    # media file paths and URIs without a scheme; no parent traversal (checked below)
    "path": re.compile(r"[A-Za-z0-9_./:-]{1,255}"),
    "uuid": re.compile(r"[0-9A-Za-z-]{1,64}"),
    # +15551234567, alice, 1001
    "caller_id": re.compile(r"\+?[A-Za-z0-9._-]{1,40}"),
    # PJSIP/1001, PJSIP/alice@trunk, sofia/gateway/gw/+4420..., sip:bob@example.org
    "dial_target": re.compile(r"[A-Za-z0-9_.@:+/=-]{1,128}"),
    "token": re.compile(r"[A-Za-z0-9_-]{1,128}"),
    "integer": re.compile(r"-?[0-9]{1,12}"),
    "variable": re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}"),
    # short printable ASCII (reasons, labels, composed arguments) without `$`: both
    # PBXes expand `${...}` (FreeSWITCH also `$${...}`, Asterisk `$[...]`) wherever it is
    "text": re.compile(r"[\x20-\x23\x25-\x7e]{0,200}"),
    # text to speak: letters and digits of any script, spaces and . , ? ! : ; - only
    "speech": re.compile(r"(?:[^\W_]|[ .,?!:;-]){1,1000}"),
}

_FORBIDDEN: Final = frozenset("\r\n\x00")


class UnsafeValueError(ValueError):
    """A value was refused before it reached a PBX wire."""

    def __init__(self, kind: str, value: object) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"refused {kind} value {shown}")
        self.kind = kind
        self.value = value


def safe_value(value: object, kind: Kind = "text") -> str:
    """Return ``value`` as a string if it is allowed on a PBX wire as ``kind``.

    Raises :class:`UnsafeValueError` otherwise; the caller must not send anything.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise UnsafeValueError(kind, value)
    text = str(value)
    if any(ch in _FORBIDDEN for ch in text):
        raise UnsafeValueError(kind, value)
    pattern = _PATTERNS[kind]
    if pattern.fullmatch(text) is None:
        raise UnsafeValueError(kind, value)
    if kind == "path" and (".." in text.split("/") or text.startswith("-")):
        raise UnsafeValueError(kind, value)
    return text


def is_safe(value: object, kind: Kind = "text") -> bool:
    try:
        safe_value(value, kind)
    except UnsafeValueError:
        return False
    return True
