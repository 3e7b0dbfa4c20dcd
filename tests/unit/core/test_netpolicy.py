"""The outbound-URL policy (core/netpolicy.py): every address range, every host notation.

Pure: nothing here resolves a name or opens a socket (socket.inet_aton is a libc parser).
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.config import ConfigError, load
from bridge.core import validate as v
from bridge.core.errors import InvalidInput
from bridge.core.netpolicy import (
    DEFAULT_POLICY,
    NotAllowed,
    OutboundPolicy,
    address_refusal,
    parse_host,
    parse_ipv4,
)

REFUSED = [
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("10.0.0.5", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "cgnat"),
    ("100.127.255.254", "cgnat"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link_local"),
    ("192.0.0.8", "reserved"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("192.88.99.1", "reserved"),
    ("198.18.0.1", "benchmark"),
    ("198.19.255.255", "benchmark"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fec0::1", "private"),
    ("fe80::1", "link_local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("2001::1", "reserved"),  # Teredo
    ("100::1", "reserved"),
    ("64:ff9b:1::a00:5", "private"),
    ("4000::1", "reserved"),  # outside global unicast 2000::/3
    # IPv4 embedded in IPv6: mapped, compatible, NAT64, 6to4
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link_local"),
    ("::ffff:10.0.0.5", "private"),
    ("::127.0.0.1", "loopback"),
    ("::8.8.8.8", "reserved"),  # IPv4-compatible is deprecated: refused whatever it embeds
    ("64:ff9b::7f00:1", "loopback"),
    ("64:ff9b::a9fe:a9fe", "link_local"),
    ("64:ff9b::6440:1", "cgnat"),
    ("2002:7f00:1::1", "loopback"),
    ("2002:a9fe:a9fe::", "link_local"),
    ("2002:c0a8:101::1", "private"),
    ("::ffff:0:7f00:1", "reserved"),  # SIIT IPv4-translated
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",
    "100.128.0.0",
    "172.32.0.1",
    "198.20.0.1",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_refused_addresses(address: str, reason: str) -> None:
    assert address_refusal(ip_address(address)) == reason
    with pytest.raises(NotAllowed) as caught:
        DEFAULT_POLICY.check_address(ip_address(address))
    assert caught.value.reason == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert address_refusal(ip_address(address)) is None
    DEFAULT_POLICY.check_address(ip_address(address))


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0X7F000001",
        "017700000001",
        "0x7f.1",
        "0x7f.0.1",
        "0177.0.0.1",
        "0177.1",
        "127.1",
        "127.0.1",
        "0x7f.0x0.0x0.0x1",
        "0000000000000177.0.0.1",
    ],
)
def test_ipv4_notations_of_loopback(text: str) -> None:
    assert parse_ipv4(text) == IPv4Address("127.0.0.1")
    assert socket.inet_aton(text) == IPv4Address("127.0.0.1").packed  # what libc connects to


@pytest.mark.parametrize(
    "text", ["256.0.0.1", "1.2.3.4.5", "08", "0x1g", "1.256.0.0", "4294967296", "1.16777216", ""]
)
def test_not_ipv4(text: str) -> None:
    assert parse_ipv4(text) is None


@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=1, max_value=4))
def test_every_inet_aton_split_parses_to_the_same_address(number: int, parts: int) -> None:
    packed = number.to_bytes(4, "big")
    head = list(packed[: parts - 1])
    last = int.from_bytes(packed[parts - 1 :], "big")
    for fmt in (str, hex, lambda x: "0" + oct(x)[2:]):
        text = ".".join(fmt(x) for x in [*head, last])
        assert parse_ipv4(text) == IPv4Address(number), text
        assert socket.inet_aton(text) == packed


@given(st.text(alphabet="0123456789abcdefxX.", min_size=1, max_size=24))
def test_whatever_libc_reads_as_an_address_the_policy_reads_the_same(text: str) -> None:
    """The policy never sees a name where the C library would connect to an address."""
    try:
        packed = socket.inet_aton(text)
    except OSError:
        return
    try:
        parsed = parse_host(text)
    except NotAllowed as exc:
        assert exc.reason == "invalid_host"
        return
    assert parsed == IPv4Address(packed), text


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://2130706433/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://017700000001/", "loopback"),
        ("http://127.1:8080/", "loopback"),
        ("http://127.0.0.1./", "loopback"),  # trailing dot
        ("http://0/", "unspecified"),
        ("http://0.0.0.0:80/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://[::1]:8080/x", "loopback"),
        ("http://[0:0:0:0:0:0:0:1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/latest/meta-data", "link_local"),
        ("http://[fe80::1%25eth0]/", "link_local"),  # zone id
        ("http://[fe80::1%eth0]/", "link_local"),
        ("http://169.254.169.254/latest/meta-data/", "link_local"),
        ("http://a@127.0.0.1/", "loopback"),  # userinfo
        ("http://user:pass@169.254.169.254/", "link_local"),
        ("http://example.com@10.0.0.5/", "private"),
        ("http://example.com:80@10.0.0.5:8080/", "private"),
        ("http://100.64.0.1/", "cgnat"),
        ("http://255.255.255.255/", "broadcast"),
        ("http://224.0.0.251/", "multicast"),
        ("http://198.18.0.1/", "benchmark"),
        ("http://192.0.2.1/", "documentation"),
        ("http://localhost/", "local_name"),
        ("http://LOCALHOST:8080/", "local_name"),
        ("http://localhost./", "local_name"),
        ("http://api.localhost/", "local_name"),
        ("http://localhost.localdomain/", "local_name"),
        ("http://ip6-localhost/", "local_name"),
        ("http://metadata/computeMetadata/v1/", "local_name"),  # single label
        ("http://metadata.google.internal/", "local_name"),
        ("http://printer.local/", "local_name"),
        ("http://router.home.arpa/", "local_name"),
        ("http://127.0.0.1\\@example.com/", "invalid_host"),  # parsers disagree on \
        ("http://%31%32%37.0.0.1/", "invalid_host"),
        ("http://1.2.3.4.5/", "invalid_host"),
        ("http://08.0.0.1/", "invalid_host"),
        ("http://example.123/", "invalid_host"),
        ("http://\u2460\u2461\u2466.0.0.1/", "invalid_host"),  # NFKC would make 127.0.0.1
        ("http://ex\u0430mple.com/", "invalid_host"),  # IDN must come as xn--
        ("http://[v1.abc]/", "invalid_host"),
        ("http://bad..name/", "invalid_host"),
        ("http://-x.example.com/", "invalid_host"),
        ("ftp://example.com/", "invalid_host"),
    ],
)
def test_stored_url_refusals(url: str, reason: str) -> None:
    with pytest.raises(NotAllowed) as caught:
        DEFAULT_POLICY.check_url(url)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x?y=1",
        "http://example.com./",
        "http://8.8.8.8:8080/hook",
        "http://[2606:4700:4700::1111]/",
        "https://user:pw@hooks.example.com/",
        "http://127.0.0.1:80@example.com/",  # userinfo, host example.com
        "https://xn--exmple-cua.com/",
        "http://metadata.test/",  # a name: judged after DNS, at delivery
        "http://10.0.0.5.nip.example/",
    ],
)
def test_stored_url_allowed(url: str) -> None:
    target = DEFAULT_POLICY.check_url(url)
    assert not target.trusted


def test_target_fields() -> None:
    t = DEFAULT_POLICY.check_url("https://Hooks.Example.COM./a")
    assert (t.host, t.port, t.address) == ("hooks.example.com", 443, None)
    t = DEFAULT_POLICY.check_url("http://[2606:4700::1]:8443/")
    assert (t.host, t.port, t.address) == ("2606:4700::1", 8443, IPv6Address("2606:4700::1"))


def test_allowed_networks() -> None:
    policy = OutboundPolicy.from_settings(["127.0.0.1/32", "::1/128", "10.1.0.0/16"], [])
    for ok in ("127.0.0.1", "::1", "10.1.2.3", "::ffff:127.0.0.1", "8.8.8.8"):
        assert policy.refusal(ip_address(ok)) is None, ok
    for bad in ("127.0.0.2", "10.2.0.1", "169.254.169.254", "::2"):
        assert policy.refusal(ip_address(bad)) is not None, bad
    policy.check_url("http://127.0.0.1:8080/hook")
    policy.check_url("http://2130706433:8080/hook")  # the same address in another notation
    with pytest.raises(NotAllowed):
        policy.check_url("http://localhost:8080/")  # a CIDR does not allow a name


def test_allowed_hosts() -> None:
    policy = OutboundPolicy.from_settings([], ["Hooks.Corp.", "*.svc.cluster.local"])
    assert policy.check_url("http://hooks.corp/").trusted
    assert policy.check_url("http://a.b.svc.cluster.local/").trusted
    with pytest.raises(NotAllowed):
        policy.check_url("http://svc.cluster.local/")  # the suffix itself is not listed
    assert not policy.check_url("http://evilhooks.corp.example/").trusted
    trusted = policy.check_url("http://hooks.corp/")
    policy.check_resolved(trusted, [ip_address("10.0.0.5")])  # whatever it resolves to
    with pytest.raises(NotAllowed):
        policy.check_url("http://10.0.0.5/")  # a listed name does not open its addresses


def test_resolved_addresses_all_checked() -> None:
    target = DEFAULT_POLICY.check_url("http://rebind.test/")
    DEFAULT_POLICY.check_resolved(target, [ip_address("93.184.216.34")])
    with pytest.raises(NotAllowed) as caught:
        DEFAULT_POLICY.check_resolved(
            target, [ip_address("93.184.216.34"), ip_address("169.254.169.254")]
        )
    assert caught.value.reason == "link_local"
    with pytest.raises(NotAllowed) as caught:
        DEFAULT_POLICY.check_resolved(target, [])
    assert caught.value.reason == "dns_failed"


@pytest.mark.parametrize(
    ("cidrs", "hosts"),
    [(["not-a-cidr"], []), (["10.0.0.0/33"], []), ([], ["127.0.0.1"]), ([], ["bad host"])],
)
def test_bad_settings(cidrs: list[str], hosts: list[str]) -> None:
    with pytest.raises(ValueError):
        OutboundPolicy.from_settings(cidrs, hosts)


def test_validator_with_and_without_policy() -> None:
    assert v.url("http://127.0.0.1:9/x", "u") == "http://127.0.0.1:9/x"  # read-back: form only
    with pytest.raises(InvalidInput) as caught:
        v.url("http://127.0.0.1:9/x", "status_callback_url", DEFAULT_POLICY)
    assert caught.value.code == "url_not_allowed"
    assert caught.value.details == {"field": "status_callback_url", "reason": "loopback"}
    assert v.optional_url(None, "u", DEFAULT_POLICY) is None
    with pytest.raises(InvalidInput) as caught:
        v.url("http://[::1", "u", DEFAULT_POLICY)
    assert caught.value.code == "invalid_field"


def test_settings_from_env_and_toml(tmp_path: Path) -> None:
    cfg = load(environ={"BRIDGE_OUTBOUND_ALLOWED_CIDRS": "10.0.0.0/8, 127.0.0.1/32"})
    assert cfg.outbound_allowed_cidrs == ("10.0.0.0/8", "127.0.0.1/32")
    assert cfg.outbound_allowed_hosts == ()
    path = tmp_path / "bridge.toml"
    path.write_text(
        '[webhooks]\noutbound_allowed_hosts = ["hooks.corp", "*.svc.example"]\n'
        'outbound_allowed_cidrs = ["::1/128"]\n'
    )
    cfg = load(environ={}, config_file=path)
    assert cfg.outbound_allowed_hosts == ("hooks.corp", "*.svc.example")
    assert cfg.outbound_allowed_cidrs == ("::1/128",)
    assert load(environ={}).outbound_allowed_cidrs == ()  # off by default
    with pytest.raises(ConfigError):
        load(environ={"BRIDGE_OUTBOUND_ALLOWED_CIDRS": "localhost"})
    with pytest.raises(ConfigError):
        load(environ={"BRIDGE_OUTBOUND_ALLOWED_HOSTS": "10.0.0.1"})
