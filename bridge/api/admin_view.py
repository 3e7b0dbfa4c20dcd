"""An admin key acting on another account: `X-Bridge-Account: <account id>` on any request
makes it that account's request (conferences, participants, events, actions), so the
console's admin view needs no second set of routes. A tenant key that sends the header is
refused; tenant isolation is unchanged. An unknown account is not found."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from bridge.core.errors import Forbidden
from bridge.services import accounts
from bridge.services.accounts import Principal
from bridge.services.context import Services

HEADER = "X-Bridge-Account"


async def acting_as(s: Services, request: web.Request, who: Principal) -> Principal:
    target = request.headers.get(HEADER)
    if target is None or target == who.account_id:
        return who
    if not who.is_admin:
        raise Forbidden("admin_only", f"{HEADER}: only an admin key may act on another account")
    account = await accounts.get_account(s, target[:64])  # not found: 404 account_not_found
    return replace(who, account_id=str(account["id"]))
