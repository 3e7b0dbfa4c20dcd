"""Resource ids: a type prefix and a time-ordered random part (sortable, URL-safe)."""

from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case

PREFIXES = {
    "conference": "cf",
    "participant": "pa",
    "reservation": "rs",
    "recording": "rc",
    "event": "ev",
    "delivery": "dl",
    "subscription": "wh",
    "account": "ac",
    "api_key": "key",
    "announcement": "an",
}

_ID = re.compile(r"[a-z]{2,3}_[0-9a-z]{26}")


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(kind: str) -> str:
    """`cf_` + 10 chars of milliseconds + 16 random chars: sorts by creation time."""
    prefix = PREFIXES[kind]
    millis = int(time.time() * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_encode(millis, 10)}{_encode(rand, 16)}"


def is_id(value: str, kind: str) -> bool:
    return (
        isinstance(value, str)
        and _ID.fullmatch(value) is not None
        and value.startswith(PREFIXES[kind] + "_")
    )


def engine_name(conference_id: str) -> str:
    """The conference's name on a PBX: namespaced, never user text."""
    return "cb-" + conference_id.replace("_", "-")
