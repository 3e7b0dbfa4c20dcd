"""Outbound HTTP under the SSRF policy (core/netpolicy.py): resolve, check, connect only there.

Every name aiohttp connects to goes through `CheckingResolver`: it resolves through the
injectable `Resolver` seam (default: the event loop's getaddrinfo, with a timeout), checks
every address it got, and hands aiohttp exactly those checked addresses, so nothing resolves
the name a second time (no DNS-rebinding window; the connector's DNS cache is off). Hosts
that aiohttp treats as literal addresses (digits and dots, or a colon) never reach a
resolver: `check_target` checks them first, parsing the host both as the policy does and as
aiohttp (yarl) does, so the two parsers cannot disagree about where a request goes.

What a failure was is reduced to one stable code (`failure_code`): the tenant sees only that;
the detail (addresses, exception text) goes to the server log.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from ipaddress import ip_address

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bridge.core.netpolicy import IPAddress, NotAllowed, OutboundPolicy, Target

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
ConnectorFactory = Callable[[AbstractResolver], aiohttp.BaseConnector]

# The stable codes a failed delivery shows (outbox last_error, GET /v1/deliveries).
TARGET_NOT_ALLOWED = "target_not_allowed"
DNS_FAILED = "dns_failed"
CONNECT_FAILED = "connect_failed"
TLS_ERROR = "tls_error"
TIMEOUT = "timeout"
CONNECTION_LOST = "connection_lost"
BAD_RESPONSE = "bad_response"
INVALID_URL = "invalid_url"
REDIRECT_NOT_FOLLOWED = "redirect_not_followed"
DELIVERY_FAILED = "delivery_failed"
ERROR_CODES = (
    TARGET_NOT_ALLOWED,
    DNS_FAILED,
    CONNECT_FAILED,
    TLS_ERROR,
    TIMEOUT,
    CONNECTION_LOST,
    BAD_RESPONSE,
    INVALID_URL,
    REDIRECT_NOT_FOLLOWED,
    DELIVERY_FAILED,
)  # and http_status_<status> for any other non-2xx answer


def http_status_code(status: int) -> str:
    if 300 <= status < 400:
        return REDIRECT_NOT_FOLLOWED
    return f"http_status_{status}"


class TargetRefused(OSError):
    """The policy refused where a request would go (raised before any connection)."""

    def __init__(self, refusal: NotAllowed, host: str) -> None:
        super().__init__(f"{host}: {refusal.reason}: {refusal.message}")
        self.reason = refusal.reason
        self.host = host


class ResolutionFailed(OSError):
    """The name did not resolve (or not in time)."""


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The default seam: the event loop's getaddrinfo (TCP addresses, duplicates removed)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    out: list[IPAddress] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in out:
            out.append(address)
    return out


def check_target(policy: OutboundPolicy, url: str) -> Target:
    """The delivery-time static check, before any IO: the host as the policy parses it and
    as aiohttp will (yarl) must both pass. Raises TargetRefused."""
    try:
        target = policy.check_url(url)
    except NotAllowed as exc:
        raise TargetRefused(exc, "url") from None
    try:
        yarl_host = URL(url).raw_host
    except (ValueError, TypeError):
        yarl_host = None
    if not yarl_host:
        raise TargetRefused(NotAllowed("invalid_host", "aiohttp finds no host"), target.host)
    try:
        seen = policy.check_host(yarl_host, target.port)
    except NotAllowed as exc:
        raise TargetRefused(exc, yarl_host) from None
    if (seen.address, seen.host) != (target.address, target.host):
        refusal = NotAllowed("invalid_host", f"ambiguous host: {target.host} or {seen.host}")
        raise TargetRefused(refusal, target.host)
    return target


class CheckingResolver(AbstractResolver):
    """aiohttp's resolver: resolve through the seam, check every address, return only those."""

    def __init__(
        self, policy: OutboundPolicy, resolver: Resolver, *, timeout_seconds: float = 5.0
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.timeout_seconds = timeout_seconds

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            target = self.policy.check_host(host, port)
        except NotAllowed as exc:
            raise TargetRefused(exc, host) from None
        if target.address is not None:
            addresses: list[IPAddress] = [target.address]
        else:
            try:
                addresses = await asyncio.wait_for(
                    self.resolver(target.host, port), self.timeout_seconds
                )
            except TimeoutError:
                raise ResolutionFailed(f"{host}: no DNS answer in time") from None
            except OSError as exc:
                raise ResolutionFailed(f"{host}: {exc}") from None
        try:
            self.policy.check_resolved(target, addresses)
        except NotAllowed as exc:
            if exc.reason == "dns_failed":
                raise ResolutionFailed(exc.message) from None
            refused = ", ".join(str(a) for a in addresses)
            raise TargetRefused(exc, f"{host} ({refused})") from None
        return [
            ResolveResult(
                hostname=host,
                host=str(a),
                port=port,
                family=socket.AF_INET6 if a.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for a in addresses
        ]

    async def close(self) -> None:
        return None


def default_connector(resolver: AbstractResolver) -> aiohttp.BaseConnector:
    # No DNS cache: every new connection is resolved and checked again.
    return aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)


def _refused_cause(exc: BaseException) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TargetRefused | ResolutionFailed):
            return current
        if isinstance(current, aiohttp.ClientConnectorError):
            inner: BaseException | None = current.os_error
        else:
            inner = current.__cause__ or current.__context__
        current = inner
    return None


def failure_code(exc: BaseException) -> str:
    """The stable code for an exception raised by one delivery attempt."""
    cause = _refused_cause(exc)
    if isinstance(cause, TargetRefused):
        return TARGET_NOT_ALLOWED
    if isinstance(cause, ResolutionFailed) or isinstance(exc, aiohttp.ClientConnectorDNSError):
        return DNS_FAILED
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return TIMEOUT
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return TLS_ERROR
    if isinstance(exc, aiohttp.InvalidURL | ValueError):
        return INVALID_URL
    if isinstance(exc, aiohttp.ClientConnectorError):
        return CONNECT_FAILED
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return CONNECTION_LOST
    if isinstance(exc, aiohttp.ClientResponseError):
        return BAD_RESPONSE
    if isinstance(exc, aiohttp.ClientOSError | ConnectionError):
        return CONNECTION_LOST
    if isinstance(exc, OSError):
        return CONNECT_FAILED
    return DELIVERY_FAILED
