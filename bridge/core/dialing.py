"""Where a dial-out (or a reservation's divert) may go: a number, a SIP user, a SIP URI.

A tenant names only *whom* to call. *How* the call leaves (which PJSIP endpoint, which
FreeSWITCH gateway, which SIP proxy) is configuration, so a target can never choose a
trunk. Nothing here can express a channel technology (`PJSIP/`, `sofia/`), a dial-string
variable (`{x=y}`), URI parameters or headers (`;`, `?`), separators (`,` `|` `&`) or
expansion (`$`): the grammar is an allow-list, not a filter.

    number   +4420123456, 1001         \\+?[0-9]{1,20}
    user     alice, bob.smith          [A-Za-z0-9][A-Za-z0-9._-]{0,39}
    sip      sip:bob@example.org[:5070], sip:example.org, sip:+4420@[2001:db8::1]
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final, Literal

DialKind = Literal["number", "user", "sip"]

_NUMBER: Final = re.compile(r"\+?[0-9]{1,20}")
_USER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_URI_USER: Final = re.compile(r"\+?[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_LABEL: Final = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_MAX_LEN: Final = 128


@dataclass(frozen=True, slots=True)
class DialTarget:
    kind: DialKind
    user: str | None  # the number or user; None for sip:host alone
    host: str | None = None  # sip only: a DNS name, an IPv4 address or [IPv6]
    port: int | None = None

    def __str__(self) -> str:
        if self.kind != "sip":
            assert self.user is not None
            return self.user
        return "sip:" + self.hostport if self.user is None else f"sip:{self.user}@{self.hostport}"

    @property
    def hostport(self) -> str:
        assert self.host is not None
        return self.host if self.port is None else f"{self.host}:{self.port}"


def _host(text: str) -> str | None:
    if text.startswith("[") and text.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(text[1:-1]).compressed}]"
        except ValueError:
            return None
    if len(text) > 253 or not text:
        return None
    labels = text.rstrip(".").split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return text.lower()


def parse_dial_target(text: str) -> DialTarget:
    """The target as a DialTarget; ValueError when it is anything else."""
    if not isinstance(text, str) or not 1 <= len(text) <= _MAX_LEN:
        raise ValueError("dial target must be 1 to 128 characters")
    if _NUMBER.fullmatch(text):
        return DialTarget("number", text)
    if _USER.fullmatch(text):
        return DialTarget("user", text)
    if not text.startswith("sip:"):
        raise ValueError("dial target must be a number, a SIP user or a sip: URI")
    rest = text[4:]
    user: str | None = None
    if "@" in rest:
        user, _, rest = rest.partition("@")
        if _URI_USER.fullmatch(user) is None:
            raise ValueError("the SIP URI's user must be letters, digits and . _ - (+ first)")
    host, port = rest, None
    # host:port, or [IPv6]:port; a bare IPv6 literal's colons stay inside its brackets
    if (not rest.endswith("]") and rest.count(":") == 1) or (rest.startswith("[") and "]:" in rest):
        host, _, digits = rest.rpartition(":")
        if not digits.isascii() or not digits.isdigit() or not 1 <= int(digits) <= 65535:
            raise ValueError("the SIP URI's port must be 1 to 65535")
        port = int(digits)
    clean = _host(host)
    if clean is None:
        raise ValueError("the SIP URI's host must be a DNS name or an IP address")
    return DialTarget("sip", user, clean, port)
