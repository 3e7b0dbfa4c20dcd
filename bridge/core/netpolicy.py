"""Which hosts and addresses the bridge may send an outbound request to (the SSRF policy).

Pure: no IO, no DNS. A URL is checked twice with this one policy: when it is stored (the
host as written: a literal address in any of the forms `inet_aton` and browsers accept, or
a name that is local by its form) and at every delivery, after the name was resolved, on
every address it resolved to (`webhooks/` then connects only to those checked addresses).

Refused by default: unspecified, loopback, private (RFC 1918, fc00::/7, fec0::/10),
carrier-grade NAT (100.64.0.0/10), link-local (169.254.0.0/16 including the cloud metadata
address, fe80::/10), multicast, broadcast, reserved, benchmarking and documentation ranges,
every IPv6 address outside global unicast 2000::/3, and the IPv4-mapped, IPv4-compatible,
NAT64 (64:ff9b::/96) and 6to4 (2002::/16) forms of refused IPv4 addresses; names such as
`localhost`, `*.localhost`, `*.local`, `*.internal`, `*.home.arpa` and single-label names.

On-premises installs whose receivers are internal list them: `allowed_networks` (CIDRs) and
`allowed_hosts` (exact names, or `*.suffix` for every name under suffix). A listed name is
trusted whatever it resolves to; a listed network allows the addresses in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


class NotAllowed(ValueError):
    """A host or address the policy refuses. `reason` is a stable slug (for logs and tests);
    `message` says why in words."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _v4(spec: str) -> IPv4Network:
    return IPv4Network(spec)


def _v6(spec: str) -> IPv6Network:
    return IPv6Network(spec)


# Order matters: the first match names the reason (broadcast before 240/4).
_V4_REFUSED: tuple[tuple[IPv4Network, str], ...] = (
    (_v4("0.0.0.0/8"), "unspecified"),
    (_v4("10.0.0.0/8"), "private"),
    (_v4("100.64.0.0/10"), "cgnat"),
    (_v4("127.0.0.0/8"), "loopback"),
    (_v4("169.254.0.0/16"), "link_local"),
    (_v4("172.16.0.0/12"), "private"),
    (_v4("192.0.0.0/24"), "reserved"),  # IETF protocol assignments (DS-Lite, NAT64 discovery)
    (_v4("192.0.2.0/24"), "documentation"),
    (_v4("192.88.99.0/24"), "reserved"),  # deprecated 6to4 relay anycast
    (_v4("192.168.0.0/16"), "private"),
    (_v4("198.18.0.0/15"), "benchmark"),
    (_v4("198.51.100.0/24"), "documentation"),
    (_v4("203.0.113.0/24"), "documentation"),
    (_v4("224.0.0.0/4"), "multicast"),
    (_v4("255.255.255.255/32"), "broadcast"),
    (_v4("240.0.0.0/4"), "reserved"),
)
_V6_REFUSED: tuple[tuple[IPv6Network, str], ...] = (
    (_v6("::/128"), "unspecified"),
    (_v6("::1/128"), "loopback"),
    (_v6("::ffff:0:0:0/96"), "reserved"),  # SIIT IPv4-translated
    (_v6("64:ff9b:1::/48"), "private"),  # local-use NAT64 (RFC 8215)
    (_v6("100::/64"), "reserved"),  # discard-only
    (_v6("2001::/23"), "reserved"),  # IETF protocol assignments, Teredo 2001::/32
    (_v6("2001:db8::/32"), "documentation"),
    (_v6("3fff::/20"), "documentation"),
    (_v6("5f00::/16"), "reserved"),  # SRv6 SIDs
    (_v6("fc00::/7"), "private"),  # unique local
    (_v6("fe80::/10"), "link_local"),
    (_v6("fec0::/10"), "private"),  # deprecated site-local
    (_v6("ff00::/8"), "multicast"),
)
_V6_GLOBAL_UNICAST = _v6("2000::/3")
_V4_COMPATIBLE = _v6("::/96")
_NAT64 = _v6("64:ff9b::/96")
_SIX_TO_FOUR = _v6("2002::/16")

_REASON_WORDS = {
    "unspecified": "an unspecified address",
    "loopback": "a loopback address",
    "private": "a private address",
    "cgnat": "a carrier-grade NAT address",
    "link_local": "a link-local address",
    "multicast": "a multicast address",
    "broadcast": "the broadcast address",
    "reserved": "a reserved address",
    "documentation": "a documentation address",
    "benchmark": "a benchmarking address",
}

# Names that are local by their form (RFC 6761, 6762, 8375; ICANN's .internal).
_LOCAL_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})
_LOCAL_SUFFIXES = ("localhost", "localdomain", "local", "internal", "home.arpa", "lan")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def address_refusal(address: IPAddress) -> str | None:
    """The reason the default policy refuses `address`, or None if it is a public address."""
    if isinstance(address, IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            return address_refusal(mapped)
        for net, reason in _V6_REFUSED:
            if address in net:
                return reason
        if address in _V4_COMPATIBLE:  # deprecated ::a.b.c.d: never a receiver
            embedded = IPv4Address(int(address) & 0xFFFFFFFF)
            return address_refusal(embedded) or "reserved"
        if address in _NAT64:
            return address_refusal(IPv4Address(int(address) & 0xFFFFFFFF))
        if address in _SIX_TO_FOUR:
            six_to_four = address.sixtofour
            assert six_to_four is not None
            return address_refusal(six_to_four)
        if address not in _V6_GLOBAL_UNICAST:
            return "reserved"
        return None
    for net4, reason in _V4_REFUSED:
        if address in net4:
            return reason
    return None


def parse_ipv4(host: str) -> IPv4Address | None:
    """An IPv4 address in any form `inet_aton` (and the WHATWG URL parser) accepts: 1 to 4
    parts, each decimal, octal (leading 0) or hex (0x); the last part fills the remaining
    bytes (`127.1`, `2130706433`, `0x7f.1`, `017700000001`). None if `host` is not one."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        lower = part.lower()
        if lower.startswith("0x"):
            digits, base = lower[2:], 16
            if digits and not all(c in "0123456789abcdef" for c in digits):
                return None
        elif len(lower) > 1 and lower.startswith("0"):
            digits, base = lower[1:], 8
            if not all(c in "01234567" for c in digits):
                return None
        else:
            digits, base = lower, 10
            if not digits or not digits.isascii() or not digits.isdigit():
                return None
        values.append(int(digits, base) if digits else 0)
    *head, last = values
    if any(x > 255 for x in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = last
    for i, x in enumerate(head):
        number |= x << (8 * (3 - i))
    return IPv4Address(number)


def parse_host(host: str) -> IPAddress | str:
    """The address a URL host names, or the host name (lower case, no trailing dot).

    `host` is the URL's host as written, without userinfo and port; IPv6 in brackets or not,
    with or without a zone id (`fe80::1%25eth0`). Raises NotAllowed("invalid_host") for
    a host no resolver should be asked about (empty labels, percent signs, a name whose last
    label is a number but that is not an IPv4 address, ...)."""
    raw = host
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    if bracketed or ":" in host:
        address = host.split("%", 1)[0]  # a zone id scopes a link-local address: drop it
        try:
            return IPv6Address(address)
        except ValueError:
            raise NotAllowed("invalid_host", f"{raw!r} is not a valid IPv6 address") from None
    name = host.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name or not name.isascii():
        raise NotAllowed("invalid_host", "the host must be an ASCII name (IDN in its xn-- form)")
    literal = parse_ipv4(name)
    if literal is not None:
        return literal
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise NotAllowed("invalid_host", f"{raw!r} is neither an IPv4 address nor a host name")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise NotAllowed("invalid_host", f"{raw!r} is not a valid host name")
    return name


def local_name(name: str) -> bool:
    """Whether a (normalised) host name is local by its form: it never names a receiver on
    the internet."""
    if name in _LOCAL_NAMES or "." not in name:
        return True
    return any(name == s or name.endswith("." + s) for s in _LOCAL_SUFFIXES)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL points, as the policy saw it."""

    host: str  # the normalised name, or the address in its standard text form
    port: int
    address: IPAddress | None  # the URL names this literal address (no DNS needed)
    trusted: bool  # the name is in allowed_hosts: whatever it resolves to is allowed


def split_url(url: str) -> tuple[str, int]:
    """The host (as written) and port an absolute http(s) URL points at."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise NotAllowed("invalid_host", f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise NotAllowed("invalid_host", "only http and https URLs are allowed")
    if "\\" in parts.netloc:
        raise NotAllowed("invalid_host", "the host part must not contain a backslash")
    hostport = parts.netloc.rpartition("@")[2]
    if hostport.startswith("["):
        host = hostport[: hostport.find("]") + 1]
    else:
        host = hostport.partition(":")[0]
    if not host or ("%" in host and not host.startswith("[")):
        raise NotAllowed("invalid_host", "the URL has no valid host")
    return host, port if port is not None else (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """The default refuses every non-public destination; the allow-lists open exceptions."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # lower case; "*.example.org" for its subdomains

    @classmethod
    def from_settings(cls, cidrs: Iterable[str], hosts: Iterable[str]) -> OutboundPolicy:
        """From the configuration's strings; raises ValueError naming a bad entry."""
        networks: list[IPNetwork] = []
        for spec in cidrs:
            try:
                networks.append(ip_network(spec.strip(), strict=False))
            except ValueError:
                raise ValueError(f"not a CIDR network: {spec!r}") from None
        names: list[str] = []
        for entry in hosts:
            name = entry.strip().lower().rstrip(".")
            bare = name.removeprefix("*.")
            try:
                ip_address(bare)
            except ValueError:
                pass
            else:
                raise ValueError(f"{entry!r} is an address: list it as a CIDR (/32 or /128)")
            if not bare or not all(_LABEL.fullmatch(label) for label in bare.split(".")):
                raise ValueError(f"not a host name (or *.suffix): {entry!r}")
            names.append(name)
        return cls(tuple(networks), tuple(names))

    def host_trusted(self, name: str) -> bool:
        for entry in self.allowed_hosts:
            if entry.startswith("*."):
                if name.endswith(entry[1:]):
                    return True
            elif name == entry:
                return True
        return False

    def refusal(self, address: IPAddress) -> str | None:
        """The reason `address` is refused, or None if the bridge may connect to it."""
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in net for net in self.allowed_networks):
            return None
        return address_refusal(address)

    def check_address(self, address: IPAddress) -> None:
        reason = self.refusal(address)
        if reason is not None:
            raise NotAllowed(reason, f"the URL points at {_REASON_WORDS.get(reason, reason)}")

    def check_host(self, host: str, port: int = 0) -> Target:
        """Check a host as written in a URL (no DNS): a literal address must be allowed; a
        name must not be local by its form unless it is listed in allowed_hosts."""
        parsed = parse_host(host)
        if not isinstance(parsed, str):
            self.check_address(parsed)
            return Target(str(parsed), port, parsed, trusted=False)
        if self.host_trusted(parsed):
            return Target(parsed, port, None, trusted=True)
        if local_name(parsed):
            raise NotAllowed("local_name", f"the URL points at a local host name ({parsed})")
        return Target(parsed, port, None, trusted=False)

    def check_url(self, url: str) -> Target:
        """The stored-URL check: where `url` points, or NotAllowed."""
        host, port = split_url(url)
        return self.check_host(host, port)

    def check_resolved(self, target: Target, addresses: Sequence[IPAddress]) -> None:
        """The delivery-time check, after DNS: every address must be allowed (one refused
        address refuses the target: a rebinding name may answer with a mix)."""
        if not addresses:
            raise NotAllowed("dns_failed", f"{target.host} resolved to no address")
        if target.trusted:
            return
        for address in addresses:
            self.check_address(address)


DEFAULT_POLICY = OutboundPolicy()
