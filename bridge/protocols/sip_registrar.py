"""A registrar's binding table (RFC 3261 10.3), in memory: REGISTER in, status and bindings out.

Who may register is decided before (`sip_auth`); this module only keeps, refreshes and
removes each user's contacts and answers with what is bound now. A dial-out to a user
goes to the newest live binding (`lookup`). Pure: the clock is passed in; bindings die
with the process (a phone re-registers within its expiry anyway).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from bridge.protocols.sip import NameAddr, SipParseError, SipRequest, SipUri

MIN_EXPIRES: Final = 60
MAX_EXPIRES: Final = 3600
DEFAULT_EXPIRES: Final = 3600
MAX_CONTACTS: Final = 5  # per user; a new one replaces the oldest beyond this
_SECONDS_RE: Final = re.compile(r"[0-9]{1,10}")

Source = tuple[str, int, str]  # host, port, transport the REGISTER came from


@dataclass(slots=True)
class Binding:
    user: str
    contact: SipUri
    expires_at: float
    call_id: str
    cseq: int
    source: Source
    updated_at: float

    def expires_in(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.5))


@dataclass(frozen=True, slots=True)
class RegisterResult:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)


def _seconds(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if _SECONDS_RE.fullmatch(text) is None:
        raise SipParseError("bad expires value")
    return min(int(text), 2**32 - 1)


class Registrar:
    def __init__(
        self,
        *,
        min_expires: int = MIN_EXPIRES,
        max_expires: int = MAX_EXPIRES,
        default_expires: int = DEFAULT_EXPIRES,
        max_contacts: int = MAX_CONTACTS,
    ) -> None:
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = min(default_expires, max_expires)
        self.max_contacts = max_contacts
        self._bindings: dict[str, list[Binding]] = {}

    def register(
        self, request: SipRequest, user: str, now: float, source: Source
    ) -> RegisterResult:
        """Apply one REGISTER for `user` (whose right to it was checked) and answer it."""
        self._expire(user, now)
        try:
            return self._apply(request, user, now, source)
        except SipParseError:
            return RegisterResult(400)

    def _apply(self, request: SipRequest, user: str, now: float, source: Source) -> RegisterResult:
        header_expires = _seconds(request.headers.get("expires"))
        raw = [v.strip() for v in request.headers.get_all("contact")]
        bound = self._bindings.get(user, [])
        if "*" in raw:
            # RFC 3261 10.2.2: "*" only alone and only with Expires: 0
            if len(raw) != 1 or header_expires != 0:
                return RegisterResult(400)
            if any(b.call_id == request.call_id and request.cseq.seq <= b.cseq for b in bound):
                return RegisterResult(500)
            self._bindings.pop(user, None)
            return RegisterResult(200)
        changes: list[tuple[NameAddr, int]] = []
        for contact in request.contacts:
            expires = _seconds(contact.params.get("expires"))
            if expires is None:
                expires = self.default_expires if header_expires is None else header_expires
            if 0 < expires < self.min_expires:
                return RegisterResult(423, [("Min-Expires", str(self.min_expires))])
            changes.append((contact, min(expires, self.max_expires)))
        for contact, _ in changes:
            old = self._find(bound, contact.uri)
            if old is not None and old.call_id == request.call_id and request.cseq.seq <= old.cseq:
                return RegisterResult(500)  # out of order (10.3 step 7)
        for contact, expires in changes:
            old = self._find(bound, contact.uri)
            if old is not None:
                bound.remove(old)
            if expires > 0:
                bound.append(
                    Binding(
                        user, contact.uri, now + expires, request.call_id, request.cseq.seq,
                        source, now,
                    )
                )  # fmt: skip
        del bound[: max(0, len(bound) - self.max_contacts)]  # oldest first out
        if bound:
            self._bindings[user] = bound
        else:
            self._bindings.pop(user, None)
        return RegisterResult(200, self._contact_headers(user, now))

    @staticmethod
    def _find(bound: list[Binding], uri: SipUri) -> Binding | None:
        text = str(uri)
        return next((b for b in bound if str(b.contact) == text), None)

    def _contact_headers(self, user: str, now: float) -> list[tuple[str, str]]:
        return [
            ("Contact", f"<{b.contact}>;expires={b.expires_in(now)}")
            for b in self._bindings.get(user, [])
        ]

    def _expire(self, user: str, now: float) -> None:
        bound = [b for b in self._bindings.get(user, []) if b.expires_at > now]
        if bound:
            self._bindings[user] = bound
        else:
            self._bindings.pop(user, None)

    def lookup(self, user: str, now: float) -> Binding | None:
        """The newest live binding of `user`, if any."""
        self._expire(user, now)
        bound = self._bindings.get(user)
        return max(bound, key=lambda b: b.updated_at) if bound else None

    def bindings(self, now: float) -> list[Binding]:
        for user in list(self._bindings):
            self._expire(user, now)
        return [b for bound in self._bindings.values() for b in bound]
