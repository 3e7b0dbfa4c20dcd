"""Accounts, API keys and webhook subscriptions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from bridge.core import validate as v
from bridge.core.errors import Conflict, NotFound, Unauthorized
from bridge.core.ids import new_id
from bridge.services.context import Services
from bridge.services.keycache import Principal as Principal
from bridge.store import repos
from bridge.store import tables as t

KEY_PREFIX = "cbk"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(token: str) -> tuple[str, str] | None:
    """`cbk_<key id>_<secret>` -> (key id, secret)."""
    parts = token.split("_")
    if len(parts) != 4 or parts[0] != KEY_PREFIX:
        return None
    return f"{parts[1]}_{parts[2]}", parts[3]


async def create_account(s: Services, name: str, *, is_admin: bool = False) -> dict[str, Any]:
    name = v.text(name, "name", max_len=v.TEXT_LEN)
    row = {
        "id": new_id("account"),
        "name": name,
        "is_admin": is_admin,
        "webhook_secret": "whsec_" + secrets.token_hex(24),
        "created_at": s.now(),
    }
    async with s.db.begin() as conn:
        await repos.insert_row(conn, t.accounts, row)
    return row


async def rotate_webhook_secret(s: Services, account_id: str) -> str:
    """A new signing secret for the account's webhooks; the only response that shows it
    after the account was created."""
    secret = "whsec_" + secrets.token_hex(24)
    async with s.db.begin() as conn:
        if await repos.get_row(conn, t.accounts, account_id) is None:
            raise NotFound("account_not_found", f"no account {account_id!r}")
        await repos.update_row(conn, t.accounts, account_id, {"webhook_secret": secret})
    s.secrets_changed()
    return secret


async def get_account(s: Services, account_id: str) -> dict[str, Any]:
    async with s.db.read() as conn:
        row = await repos.get_row(conn, t.accounts, account_id)
    if row is None:
        raise NotFound("account_not_found", f"no account {account_id!r}")
    return row


async def list_accounts(s: Services, *, after: str | None, limit: int) -> list[dict[str, Any]]:
    async with s.db.read() as conn:
        return await repos.list_rows(conn, t.accounts, after=after, limit=limit)


async def create_key(s: Services, account_id: str, label: str | None = None) -> dict[str, Any]:
    """Returns the row and, once only, the full key."""
    await get_account(s, account_id)
    key_id = new_id("api_key")
    secret = secrets.token_urlsafe(32).replace("_", "").replace("-", "")[:40]
    row = {
        "id": key_id,
        "account_id": account_id,
        "secret_hash": _hash(secret),
        "label": v.optional_text(label, "label", max_len=v.TEXT_LEN),
        "created_at": s.now(),
        "revoked_at": None,
    }
    async with s.db.begin() as conn:
        await repos.insert_row(conn, t.api_keys, row)
    return {**row, "key": f"{KEY_PREFIX}_{key_id}_{secret}"}


async def list_keys(s: Services, account_id: str) -> list[dict[str, Any]]:
    async with s.db.read() as conn:
        return await repos.list_rows(
            conn, t.api_keys, where=t.api_keys.c.account_id == account_id, limit=1000
        )


async def revoke_key(s: Services, account_id: str, key_id: str) -> dict[str, Any]:
    async with s.db.begin() as conn:
        row = await repos.get_row(conn, t.api_keys, key_id)
        if row is None or row["account_id"] != account_id:
            raise NotFound("api_key_not_found", f"no API key {key_id!r}")
        if row["revoked_at"] is None:
            row["revoked_at"] = s.now()
            await repos.update_row(conn, t.api_keys, key_id, {"revoked_at": row["revoked_at"]})
    s.keys.forget_key(key_id)  # after the commit: no request of this process accepts it now
    return row


async def authenticate(s: Services, token: str, *, account_hint: str | None = None) -> Principal:
    cached = s.keys.get(token)
    if cached is not None:
        if account_hint is not None and account_hint != cached.account_id:
            raise Unauthorized("invalid_api_key", "the API key belongs to another account")
        return cached
    parsed = split_key(token)
    if parsed is None:
        raise Unauthorized("invalid_api_key", "the API key is malformed")
    key_id, secret = parsed
    async with s.db.read() as conn:
        key = await repos.get_row(conn, t.api_keys, key_id)
        account = await repos.get_row(conn, t.accounts, key["account_id"]) if key else None
    if key is None or account is None or not hmac.compare_digest(key["secret_hash"], _hash(secret)):
        raise Unauthorized("invalid_api_key", "the API key is not valid")
    if key["revoked_at"] is not None:
        raise Unauthorized("api_key_revoked", "the API key was revoked")
    if account_hint is not None and account_hint != key["account_id"]:
        raise Unauthorized("invalid_api_key", "the API key belongs to another account")
    principal = Principal(key["account_id"], bool(account["is_admin"]), key_id)
    s.keys.put(token, principal)
    return principal


async def ensure_admin(s: Services) -> str | None:
    """On first start: create the admin account and key. Returns the key, or None if an admin
    already exists."""
    async with s.db.read() as conn:
        admins = await repos.list_rows(
            conn, t.accounts, where=t.accounts.c.is_admin.is_(True), limit=1
        )
    if admins:
        return None
    account = await create_account(s, "admin", is_admin=True)
    key = await create_key(s, account["id"], "created on first start")
    return str(key["key"])


# --- subscriptions ------------------------------------------------------------------------


async def create_subscription(
    s: Services, account_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    v.reject_unknown(body, {"url", "event_types", "secret"}, "subscription")
    url = v.url(body.get("url"), "url", s.outbound)
    types = v.event_types(body.get("event_types", []))
    secret = body.get("secret")
    if secret is not None:
        secret = v.secret(secret)
    row = {
        "id": new_id("subscription"),
        "account_id": account_id,
        "url": url,
        "secret": secret or "whsec_" + secrets.token_hex(24),
        "event_types": types,
        "created_at": s.now(),
    }
    async with s.db.begin() as conn:
        existing = await repos.list_rows(
            conn,
            t.subscriptions,
            where=(t.subscriptions.c.account_id == account_id) & (t.subscriptions.c.url == url),
            limit=1,
        )
        if existing:
            raise Conflict(
                "subscription_exists", "this account already has a subscription for that URL"
            )
        await repos.insert_row(conn, t.subscriptions, row)
    return row


async def list_subscriptions(s: Services, account_id: str) -> list[dict[str, Any]]:
    async with s.db.read() as conn:
        return await repos.list_rows(
            conn, t.subscriptions, where=t.subscriptions.c.account_id == account_id, limit=1000
        )


async def get_subscription(s: Services, account_id: str, sub_id: str) -> dict[str, Any]:
    async with s.db.read() as conn:
        row = await repos.get_row(conn, t.subscriptions, sub_id)
    if row is None or row["account_id"] != account_id:
        raise NotFound("subscription_not_found", f"no subscription {sub_id!r}")
    return row


async def delete_subscription(s: Services, account_id: str, sub_id: str) -> None:
    async with s.db.begin() as conn:
        if not await repos.delete_row(conn, t.subscriptions, sub_id, account_id=account_id):
            raise NotFound("subscription_not_found", f"no subscription {sub_id!r}")
    s.secrets_changed()
