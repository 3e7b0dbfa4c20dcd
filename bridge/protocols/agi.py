"""Sans-IO codec for the Asterisk Gateway Interface as spoken over FastAGI.

A FastAGI call is one TCP connection: Asterisk sends ``agi_key: value`` lines
ended by a blank line (the environment), then we send one command per line and
read one response per command. Responses are ``200 result=N [(data)] [endpos=N]``,
``510`` (unknown command), ``511`` (dead channel) or a multi-line ``520-`` usage
block ended by ``520 End of proper usage.``. Asterisk also writes a bare
``HANGUP`` line when the caller hangs up (AGISIGHUP), in between responses.

Arguments are separated by spaces and parsed by Asterisk with double quotes
and backslash escapes; every argument passes :func:`safe_value` and is quoted
when it needs to be, so a value can never start a second command.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from bridge.protocols.safe import Kind, UnsafeValueError, safe_value

MAX_ENV_LINES: Final = 256


class AgiProtocolError(ValueError):
    """The peer sent something that is not AGI."""


# --------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class AgiEnvironment:
    """The ``agi_*`` block, keys without the ``agi_`` prefix (``channel``, ``uniqueid``…)."""

    values: Mapping[str, str]
    args: tuple[str, ...]

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def script(self) -> str:
        """The path of the ``agi://host:port/<script>`` URL, e.g. ``dialin``."""
        return self.get("network_script")

    @property
    def caller_id(self) -> str:
        return self.get("callerid")

    @property
    def extension(self) -> str:
        return self.get("extension")

    @property
    def context(self) -> str:
        return self.get("context")


def parse_env_line(line: str) -> tuple[str, str] | None:
    """One environment line to ``(key, value)``; ``None`` for the blank terminator."""
    text = line.rstrip("\r\n")
    if not text.strip():
        return None
    key, sep, value = text.partition(":")
    if not sep or not key.startswith("agi_"):
        raise AgiProtocolError(f"not an AGI environment line: {text[:60]!r}")
    return key[len("agi_") :], value.strip()


def parse_environment(lines: Iterable[str]) -> AgiEnvironment:
    """Parse environment lines up to (and excluding) the blank line."""
    values: dict[str, str] = {}
    for count, line in enumerate(lines):
        if count >= MAX_ENV_LINES:
            raise AgiProtocolError(f"AGI environment longer than {MAX_ENV_LINES} lines")
        pair = parse_env_line(line)
        if pair is None:
            break
        if pair[0] in values:
            # Asterisk writes each key once. A repeated one means a caller-controlled value
            # (caller id, DNID, RDNIS: percent-decoded, CR/LF included) added a line to
            # override agi_uniqueid or agi_arg_N: refuse the whole call.
            raise AgiProtocolError(f"AGI environment repeats agi_{pair[0][:40]}")
        values[pair[0]] = pair[1]
    args: list[str] = []
    index = 1
    while f"arg_{index}" in values:
        args.append(values[f"arg_{index}"])
        index += 1
    return AgiEnvironment(values, tuple(args))


# --------------------------------------------------------------------------- commands

_NEEDS_QUOTES = re.compile(r'[\s"\\]')
# Characters that split or expand a value after AGI has set it or passed it to an
# application: `,` (and `|` in AGI's 1.4 compatibility mode) split application data,
# `^` Gosub/Dial options, quotes, backslashes, parentheses and braces are parsed by the
# argument splitter, `$` expands. A variable we set may later be substituted into
# ``Playback(${X})``, so none of these may be in a value (`&` joins a Playback list).
SPLITTERS: Final = frozenset(",|^\"\\'`(){}$;")


def _unsplittable(value: object, kind: Kind) -> str:
    text = safe_value(value, kind)
    if any(ch in SPLITTERS for ch in text):
        raise UnsafeValueError("unsplittable " + kind, value)
    return text


def _arg(value: object, kind: Kind) -> str:
    text = safe_value(value, kind)
    if text == "" or _NEEDS_QUOTES.search(text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _command(*parts: str) -> bytes:
    return (" ".join(parts) + "\n").encode("ascii")


def answer() -> bytes:
    return _command("ANSWER")


def exec_app(application: str, *args: tuple[object, Kind]) -> bytes:
    """``EXEC app a,b,c``: each argument checked by its kind, joined by commas."""
    options = ",".join(_unsplittable(value, kind) for value, kind in args)
    if not args:
        return _command("EXEC", _arg(application, "token"))
    return _command("EXEC", _arg(application, "token"), _arg(options, "text"))


def set_variable(name: str, value: object, kind: Kind) -> bytes:
    """``SET VARIABLE name value``: Asterisk stores the value literally; it must still be
    safe where the dialplan reads it later (no splitting or expansion characters)."""
    return _command("SET VARIABLE", _arg(name, "variable"), _arg(_unsplittable(value, kind), kind))


_ENDPOINT = re.compile(r"[A-Za-z0-9_-]{1,80}")


def get_dial_contacts(endpoint: str) -> bytes:
    """``GET FULL VARIABLE ${PJSIP_DIAL_CONTACTS(endpoint)}``: the configured endpoint's
    contacts (``PJSIP/endpoint/sip:...&...``). This is the one evaluated expression we
    send; the endpoint is a plain name (no `,` `(` `)` `$` `}`), so nothing else can be
    evaluated."""
    if _ENDPOINT.fullmatch(endpoint) is None:
        raise UnsafeValueError("endpoint", endpoint)
    return _command("GET FULL VARIABLE", f"${{PJSIP_DIAL_CONTACTS({endpoint})}}")


def get_variable(name: str) -> bytes:
    return _command("GET VARIABLE", _arg(name, "variable"))


def get_data(file: str, *, timeout_ms: int = 5000, max_digits: int = 8) -> bytes:
    """Play ``file`` and collect up to ``max_digits`` (PIN entry); ``#`` ends input."""
    return _command(
        "GET DATA", _arg(file, "path"), _arg(timeout_ms, "integer"), _arg(max_digits, "integer")
    )


def stream_file(file: str, *, escape_digits: str = "") -> bytes:
    """Play ``file``; a digit in ``escape_digits`` interrupts it and is returned."""
    escape = _arg(escape_digits, "digits") if escape_digits else '""'
    return _command("STREAM FILE", _arg(file, "path"), escape)


def hangup(channel: str | None = None) -> bytes:
    if channel is None:
        return _command("HANGUP")
    return _command("HANGUP", _arg(channel, "channel"))


def verbose(message: str, level: int = 1) -> bytes:
    return _command("VERBOSE", _arg(message, "text"), _arg(level, "integer"))


# --------------------------------------------------------------------------- responses

_RESULT = re.compile(r"^200 result=(-?\d*)(?: \((.*)\))?(?: endpos=(-?\d+))?\s*$")


@dataclass(frozen=True)
class AgiResponse:
    """One command's reply. ``result`` is the number after ``result=`` (200 only)."""

    code: int
    result: int | None = None
    data: str | None = None
    endpos: int | None = None
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200 and self.result is not None and self.result >= 0

    @property
    def digit(self) -> str | None:
        """STREAM FILE / WAIT FOR DIGIT: the pressed digit, or None."""
        if self.code != 200 or not self.result or self.result <= 0:
            return None
        return chr(self.result)


@dataclass(frozen=True)
class AgiHangup:
    """The ``HANGUP`` notification: the caller is gone; later commands get 511."""


class AgiResponseParser:
    """Feed response lines one at a time; returns a message when one is complete."""

    def __init__(self, *, max_usage_lines: int = 64) -> None:
        self._usage: list[str] | None = None
        self._max_usage_lines = max_usage_lines

    def feed_line(self, line: str) -> AgiResponse | AgiHangup | None:
        text = line.rstrip("\r\n")
        if self._usage is not None:
            if text.startswith("520 "):
                usage = "\n".join(self._usage)
                self._usage = None
                return AgiResponse(520, text=usage)
            if len(self._usage) >= self._max_usage_lines:
                raise AgiProtocolError("AGI 520 usage block too long")
            self._usage.append(text)
            return None
        if not text.strip():
            return None
        if text.strip() == "HANGUP":
            return AgiHangup()
        if text.startswith("520-"):
            self._usage = [text[4:]]
            return None
        return parse_response(text)


def parse_response(line: str) -> AgiResponse:
    """Parse a single-line response (``200 …``, ``510 …``, ``511 …``, ``520 …``)."""
    text = line.rstrip("\r\n")
    match = _RESULT.match(text)
    if match is not None:
        raw_result, data, endpos = match.groups()
        return AgiResponse(
            200,
            result=int(raw_result) if raw_result not in ("", "-") else None,
            data=data,
            endpos=int(endpos) if endpos is not None else None,
            text=text,
        )
    code, _, rest = text.partition(" ")
    if len(code) == 3 and code.isdigit():
        return AgiResponse(int(code), text=rest)
    raise AgiProtocolError(f"not an AGI response: {text[:60]!r}")


__all__ = [
    "SPLITTERS",
    "AgiEnvironment",
    "AgiHangup",
    "AgiProtocolError",
    "AgiResponse",
    "AgiResponseParser",
    "answer",
    "exec_app",
    "get_data",
    "get_dial_contacts",
    "get_variable",
    "hangup",
    "parse_env_line",
    "parse_environment",
    "parse_response",
    "set_variable",
    "stream_file",
    "verbose",
]
