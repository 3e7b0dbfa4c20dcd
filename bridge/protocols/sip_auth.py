"""Server side of SIP digest authentication (RFC 3261 22, RFC 2617 / 7616): who may call.

`DigestGuard` answers one question per request: let it through (and as whom), challenge it
(401, maybe ``stale=true``) or refuse it (403). It wires `bridge.protocols.digest` (nonces,
hashes, constant-time checks) to a user table and adds what that module leaves to its caller:

- nonce-count replay: with ``qop=auth`` each nonce's ``nc`` must grow; a replayed one is
  challenged again with a fresh nonce (the replayer cannot answer it);
- no user enumeration: an unknown user is checked against a throw-away H(A1), so it costs
  the same and ends the same way (403) as a wrong password;
- a nonce we did not issue (e.g. from before a restart) is just challenged afresh.

Users are ``name -> secret``: a plain password, or ``md5:<H(A1) hex>`` /
``sha-256:<H(A1) hex>`` with H(A1) = H(name:realm:password), so passwords need not be
stored (such an entry only works for its realm and algorithm). Pure: the clock is passed in.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final

from bridge.protocols.digest import (
    Credentials,
    DigestError,
    Verdict,
    build_challenge,
    ha1,
    make_nonce,
    nonce_age,
    parse_authorization,
    verify,
)
from bridge.protocols.sip import SipParseError, SipRequest, parse_uri

NONCE_LIFETIME: Final = 300.0  # seconds a nonce is accepted; then the phone gets stale=true
MAX_TRACKED_NONCES: Final = 10_000  # nonce-count memory, oldest forgotten first
_STORED_HA1: Final = re.compile(r"(md5|sha-256):([0-9a-f]{32}|[0-9a-f]{64})", re.IGNORECASE)
_HASH_LENGTH: Final = {"MD5": 32, "SHA-256": 64}


class AuthError(ValueError):
    """A user table entry that cannot be used."""


@dataclass(frozen=True, slots=True)
class _Secret:
    password: str | None = None
    stored: tuple[str, str] | None = None  # (algorithm, H(A1) hex)

    def ha1_for(self, username: str, realm: str, algorithm: str) -> str | None:
        if self.password is not None:
            return ha1(username, realm, self.password, algorithm)
        if self.stored is not None and self.stored[0] == algorithm:
            return self.stored[1]
        return None


def _secret(name: str, value: str) -> _Secret:
    if not name or any(ch in name for ch in '"\\\r\n\x00') or not value:
        raise AuthError(f"refused SIP user {name!r}: empty, or with quotes or control characters")
    match = _STORED_HA1.fullmatch(value)
    if match is None:
        return _Secret(password=value)
    algorithm = match.group(1).upper()
    if len(match.group(2)) != _HASH_LENGTH[algorithm]:
        raise AuthError(f"SIP user {name!r}: {algorithm} H(A1) must be {_HASH_LENGTH[algorithm]}")
    return _Secret(stored=(algorithm, match.group(2).lower()))


class Decision(Enum):
    ACCEPT = "accept"
    CHALLENGE = "challenge"  # 401 with `challenge` as WWW-Authenticate
    FORBIDDEN = "forbidden"  # 403


@dataclass(frozen=True, slots=True)
class AuthResult:
    decision: Decision
    username: str | None = None  # who, when accepted
    challenge: str | None = None  # the WWW-Authenticate value, when challenged

    @property
    def status(self) -> int:
        return {Decision.ACCEPT: 200, Decision.CHALLENGE: 401, Decision.FORBIDDEN: 403}[
            self.decision
        ]


class DigestGuard:
    """Challenges requests and checks their Authorization against a table of SIP users."""

    def __init__(
        self,
        users: Mapping[str, str],
        realm: str,
        *,
        secret: bytes | None = None,
        nonce_lifetime: float = NONCE_LIFETIME,
        algorithm: str = "MD5",
    ) -> None:
        self.realm = realm
        self.algorithm = algorithm.upper()
        self.users = {name: _secret(name, value) for name, value in users.items()}
        self.nonce_lifetime = nonce_lifetime
        self._key = secret or secrets.token_bytes(32)
        self._decoy = secrets.token_hex(_HASH_LENGTH.get(self.algorithm, 32) // 2)
        self._counts: OrderedDict[str, int] = OrderedDict()  # nonce -> last nc seen
        self.challenges = 0
        self.failures = 0
        self.accepted = 0
        build_challenge(realm, make_nonce(self._key, 0))  # refuse an unsafe realm now

    def challenge(self, now: float, *, stale: bool = False) -> AuthResult:
        self.challenges += 1
        nonce = make_nonce(self._key, now)
        text = build_challenge(self.realm, nonce, stale=stale, algorithm=self.algorithm)
        return AuthResult(Decision.CHALLENGE, challenge=text)

    def check(self, request: SipRequest, now: float) -> AuthResult:
        """Decide for one request (REGISTER or an initial INVITE)."""
        credentials = self._credentials(request)
        if credentials is None:
            return self.challenge(now)
        if isinstance(credentials, DigestError):
            return self._refuse()
        if nonce_age(self._key, credentials.nonce, now) is None:
            return self.challenge(now)  # not a nonce of ours (a restart, or made up)
        if not _same_uri(credentials.uri, request):
            return self._refuse()
        secret = self.users.get(credentials.username)
        known = (
            None
            if secret is None
            else secret.ha1_for(credentials.username, self.realm, credentials.algorithm)
        )
        verdict = verify(
            credentials,
            method=request.method,
            ha1_hex=self._decoy if known is None else known,  # same work for unknown users
            realm=self.realm,
            secret=self._key,
            now=now,
            max_age=self.nonce_lifetime,
        )
        if verdict is Verdict.BAD or known is None:
            return self._refuse()
        if verdict is Verdict.STALE:
            return self.challenge(now, stale=True)
        if not self._count_is_new(credentials, now):
            return self.challenge(now, stale=True)  # a replay: only a fresh nonce will do
        self.accepted += 1
        return AuthResult(Decision.ACCEPT, username=credentials.username)

    def _credentials(self, request: SipRequest) -> Credentials | DigestError | None:
        """Our realm's Authorization, None if there is none, the error if it is malformed."""
        found: Credentials | DigestError | None = None
        for value in request.headers.get_all("authorization"):
            try:
                credentials = parse_authorization(value)
            except DigestError as exc:
                found = found or exc
                continue
            if credentials.realm == self.realm:
                return credentials
        return found

    def _refuse(self) -> AuthResult:
        self.failures += 1
        return AuthResult(Decision.FORBIDDEN)

    def _count_is_new(self, credentials: Credentials, now: float) -> bool:
        """RFC 7616 3.4: with qop, nc must grow for the same nonce; remembered for its life."""
        if credentials.nc is None:
            return True  # RFC 2069 style: the nonce's lifetime is the only bound
        count = int(credentials.nc, 16)
        last = self._counts.get(credentials.nonce)
        if last is not None and count <= last:
            return False
        self._counts[credentials.nonce] = count
        self._counts.move_to_end(credentials.nonce)
        self._forget_old(now)
        return True

    def _forget_old(self, now: float) -> None:
        while self._counts:
            oldest = next(iter(self._counts))
            age = nonce_age(self._key, oldest, now)
            expired = age is None or age > self.nonce_lifetime
            if not expired and len(self._counts) <= MAX_TRACKED_NONCES:
                return
            del self._counts[oldest]


def _same_uri(text: str, request: SipRequest) -> bool:
    """The digest-uri names the Request-URI (RFC 3261 22.4), compared parsed (case of host).

    Some clients (SIPp among them) put only our host and port there (``sip:host:port``);
    that still binds the answer to us, so it is accepted too.
    """
    if text == str(request.uri):
        return True
    try:
        uri = parse_uri(text)
    except SipParseError:
        return False
    if str(uri) == str(request.uri):
        return True
    target = request.uri
    return uri.user is None and (uri.host, uri.port) == (target.host, target.port)
