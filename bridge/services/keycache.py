"""Verified API keys, kept in memory so a request authenticates without the database.

An entry is found by the SHA-256 of the whole presented token, so only the exact key that was
verified ever hits it. Revoking a key drops its entries in this process at once; other
processes sharing PostgreSQL stop accepting it when their entry expires (`ttl_seconds`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    is_admin: bool
    key_id: str


class KeyCache:
    def __init__(
        self,
        ttl_seconds: float = 5.0,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[bytes, tuple[Principal, float]] = {}

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> Principal | None:
        digest = self._digest(token)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        principal, expires = entry
        if self._clock() >= expires:
            del self._entries[digest]
            return None
        return principal

    def put(self, token: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:  # bounded: forget the oldest
            del self._entries[next(iter(self._entries))]
        self._entries[self._digest(token)] = (principal, self._clock() + self.ttl)

    def forget_key(self, key_id: str) -> None:
        for digest, (principal, _) in list(self._entries.items()):
            if principal.key_id == key_id:
                del self._entries[digest]

    def clear(self) -> None:
        self._entries.clear()
