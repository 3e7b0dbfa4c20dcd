"""Sans-IO HTTP digest authentication for SIP (RFC 2617, RFC 7616, RFC 3261 22).

Nonces are stateless: each carries its issue time and an HMAC over it under a
server secret, so any process sharing the secret can check them, and expiry
is decided from a clock value the caller passes in. Replay within a nonce's
lifetime (nonce-count tracking) is left to the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Final

from bridge.protocols.safe import safe_value
from bridge.protocols.sip.syntax import SipParseError, _read_quoted, _split_outside, quote

MAX_HEADER_SIZE: Final = 4096
_ALGORITHMS: Final = {"MD5": "md5", "SHA-256": "sha256"}
_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_NONCE_RE: Final = re.compile(r"([0-9a-f]{1,12})\.([0-9a-f]{16})\.([0-9a-f]{32})")
_NC_RE: Final = re.compile(r"[0-9a-fA-F]{8}")


class DigestError(SipParseError):
    """A malformed WWW-Authenticate or Authorization header."""


class Verdict(Enum):
    OK = "ok"
    STALE = "stale"  # right password, expired nonce: challenge again with stale=true
    BAD = "bad"


def parse_auth_header(value: str) -> tuple[str, dict[str, str]]:
    """Split ``Digest name=value, name="quoted"`` into its scheme and unquoted parameters."""
    if len(value) > MAX_HEADER_SIZE:
        raise DigestError("authentication header too long")
    scheme, _, rest = value.strip().partition(" ")
    if _TOKEN_RE.fullmatch(scheme) is None:
        raise DigestError("bad authentication scheme")
    params: dict[str, str] = {}
    try:
        parts = _split_outside(rest, ",")
    except SipParseError as exc:
        raise DigestError(str(exc)) from None
    for part in parts:
        if not part.strip():
            continue
        name, eq, raw = part.strip().partition("=")
        name = name.strip().lower()
        raw = raw.strip()
        if not eq or _TOKEN_RE.fullmatch(name) is None or name in params:
            raise DigestError("bad or repeated authentication parameter")
        if raw.startswith('"'):
            try:
                text, end = _read_quoted(raw)
            except SipParseError as exc:
                raise DigestError(str(exc)) from None
            if end != len(raw):
                raise DigestError("junk after quoted parameter")
            params[name] = text
        elif _TOKEN_RE.fullmatch(raw) is not None:
            params[name] = raw
        else:
            raise DigestError("bad authentication parameter value")
    return scheme, params


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    cnonce: str | None = None
    nc: str | None = None
    opaque: str | None = None


def parse_authorization(value: str) -> Credentials:
    """Parse an Authorization (or Proxy-Authorization) header value."""
    scheme, params = parse_auth_header(value)
    if scheme.lower() != "digest":
        raise DigestError("not a Digest authorization")
    try:
        credentials = Credentials(
            username=params["username"],
            realm=params["realm"],
            nonce=params["nonce"],
            uri=params["uri"],
            response=params["response"].lower(),
            algorithm=params.get("algorithm", "MD5").upper(),
            qop=params.get("qop"),
            cnonce=params.get("cnonce"),
            nc=params.get("nc"),
            opaque=params.get("opaque"),
        )
    except KeyError as exc:
        raise DigestError(f"missing {exc.args[0]}") from None
    if credentials.qop is not None and (
        credentials.qop != "auth" or credentials.cnonce is None or credentials.nc is None
    ):
        raise DigestError("qop=auth needs cnonce and nc; other qop values are not supported")
    if credentials.nc is not None and _NC_RE.fullmatch(credentials.nc) is None:
        raise DigestError("bad nc")
    return credentials


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def parse_challenge(value: str) -> Challenge:
    """Parse a WWW-Authenticate (or Proxy-Authenticate) header value."""
    scheme, params = parse_auth_header(value)
    if scheme.lower() != "digest" or "realm" not in params or "nonce" not in params:
        raise DigestError("not a Digest challenge with realm and nonce")
    qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=params.get("algorithm", "MD5").upper(),
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


def _hash(algorithm: str, text: str) -> str:
    name = _ALGORITHMS.get(algorithm.upper())
    if name is None:
        raise DigestError(f"unsupported algorithm {algorithm!r}")
    return hashlib.new(name, text.encode()).hexdigest()


def ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """H(username:realm:password): what a user store should keep instead of the password."""
    return _hash(algorithm, f"{username}:{realm}:{password}")


def digest_response(
    ha1_hex: str,
    *,
    nonce: str,
    method: str,
    uri: str,
    algorithm: str = "MD5",
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop is None:
        return _hash(algorithm, f"{ha1_hex}:{nonce}:{ha2}")
    return _hash(algorithm, f"{ha1_hex}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def make_nonce(secret: bytes, now: float) -> str:
    """A nonce carrying its issue time, authenticated under ``secret``."""
    stamp = f"{int(now):x}.{secrets.token_hex(8)}"
    return f"{stamp}.{_nonce_mac(secret, stamp)}"


def _nonce_mac(secret: bytes, stamp: str) -> str:
    return hmac.new(secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]


def nonce_age(secret: bytes, nonce: str, now: float) -> float | None:
    """Seconds since ``nonce`` was issued, or None if we did not issue it."""
    match = _NONCE_RE.fullmatch(nonce)
    if match is None:
        return None
    stamp = f"{match.group(1)}.{match.group(2)}"
    if not hmac.compare_digest(_nonce_mac(secret, stamp), match.group(3)):
        return None
    return now - int(match.group(1), 16)


def build_challenge(
    realm: str, nonce: str, *, stale: bool = False, algorithm: str = "MD5", qop: bool = True
) -> str:
    """A WWW-Authenticate value (401) or Proxy-Authenticate value (407)."""
    if algorithm.upper() not in _ALGORITHMS or _NONCE_RE.fullmatch(nonce) is None:
        raise DigestError("unsupported algorithm or foreign nonce")
    parts = [f"realm={quote(safe_value(realm, 'text'))}", f'nonce="{nonce}"']
    parts.append(f"algorithm={algorithm.upper()}")
    if qop:
        parts.append('qop="auth"')
    if stale:
        parts.append("stale=true")
    return "Digest " + ", ".join(parts)


def verify(
    credentials: Credentials,
    *,
    method: str,
    ha1_hex: str,
    realm: str,
    secret: bytes,
    now: float,
    max_age: float = 300.0,
    request_uri: str | None = None,
) -> Verdict:
    """Check an Authorization against the user's H(A1) and our nonce.

    STALE only when the response is right but the nonce has expired (RFC 2617 3.2.1),
    so the phone retries with the same password and a fresh nonce.
    """
    if credentials.realm != realm or credentials.algorithm not in _ALGORITHMS:
        return Verdict.BAD
    if request_uri is not None and credentials.uri != request_uri:
        return Verdict.BAD
    age = nonce_age(secret, credentials.nonce, now)
    if age is None or age < -60:  # forged, or from a clock far ahead of ours
        return Verdict.BAD
    expected = digest_response(
        ha1_hex,
        nonce=credentials.nonce,
        method=method,
        uri=credentials.uri,
        algorithm=credentials.algorithm,
        qop=credentials.qop,
        nc=credentials.nc,
        cnonce=credentials.cnonce,
    )
    if not hmac.compare_digest(expected, credentials.response):
        return Verdict.BAD
    return Verdict.STALE if age > max_age else Verdict.OK


def build_authorization(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str | None = None,
    nc: int = 1,
) -> str:
    """Our Authorization value answering a challenge (outbound calls through a registrar)."""
    user = safe_value(username, "caller_id")
    if any(ch in challenge.nonce + challenge.realm + uri for ch in '"\\\r\n\x00'):
        raise DigestError("refused challenge or URI with quote, backslash or control characters")
    qop = "auth" if "auth" in challenge.qop else None
    cnonce = safe_value(cnonce or secrets.token_hex(8), "token")
    nc_text = f"{nc:08x}"
    response = digest_response(
        ha1(user, challenge.realm, password, challenge.algorithm),
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        algorithm=challenge.algorithm,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
    )
    parts = [
        f'username="{user}"',
        f'realm="{challenge.realm}"',
        f'nonce="{challenge.nonce}"',
        f'uri="{uri}"',
        f'response="{response}"',
        f"algorithm={challenge.algorithm}",
    ]
    if qop is not None:
        parts += [f"qop={qop}", f'cnonce="{cnonce}"', f"nc={nc_text}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={quote(safe_value(challenge.opaque, 'text'))}")
    return "Digest " + ", ".join(parts)
