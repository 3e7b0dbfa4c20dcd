"""The outbound-URL policy end to end: refused when stored, refused again after DNS at
delivery, the connection pinned to the checked address, no redirect followed, and only a
stable code shown to the tenant.

No packet leaves loopback, not even to prove a refusal: names resolve through the app's
resolver seam (`TestNet.resolve`: a fixed table, never DNS), and every socket the dispatcher
would open is made by `TestNet.socket_factory`, which records the address and refuses to
create a socket for anything but a loopback address.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver
from aiohttp.test_utils import TestClient, TestServer
from bridge_testing.wait import until
from fakes import FakeBackend
from harness import LOOPBACK_CIDRS, Bridge, app_config
from receiver import WebhookReceiver
from sqlalchemy import update

from bridge.app import PARTS, build_app
from bridge.core.clock import OffsetClock
from bridge.core.netpolicy import IPAddress
from bridge.store import tables as t
from bridge.webhooks import outbound


@dataclass
class TestNet:
    """The network as the dispatcher sees it in these tests."""

    __test__ = False

    names: dict[str, list[str]] = field(default_factory=dict)
    answers: dict[str, list[list[str]]] = field(default_factory=dict)  # one per lookup
    lookups: list[str] = field(default_factory=list)
    connects: list[tuple[str, int]] = field(default_factory=list)
    refused_sockets: list[tuple[str, int]] = field(default_factory=list)
    force_close: bool = False

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        queue = self.answers.get(host)
        answer = queue.pop(0) if queue else self.names.get(host)
        if answer is None:
            raise OSError(f"{host}: not in the test table")  # never real DNS
        return [ip_address(a) for a in answer]

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        where = (str(sockaddr[0]), int(sockaddr[1]))
        try:
            loopback = ip_address(where[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            self.refused_sockets.append(where)
            raise OSError("test guard: a socket to a non-loopback address was requested")
        self.connects.append(where)
        return socket.socket(family, type_, proto)

    def connector(self, resolver: AbstractResolver) -> aiohttp.BaseConnector:
        return aiohttp.TCPConnector(
            resolver=resolver,
            use_dns_cache=False,
            socket_factory=self.socket_factory,
            force_close=self.force_close,
        )


MakeBridge = Callable[..., Awaitable[tuple[Bridge, TestNet]]]


@pytest.fixture
async def make_bridge(tmp_path: Path, database_url: str) -> AsyncIterator[MakeBridge]:
    clients: list[TestClient[Any, Any]] = []

    async def make(
        *,
        cidrs: tuple[str, ...] = (),
        hosts: tuple[str, ...] = (),
        names: dict[str, list[str]] | None = None,
        answers: dict[str, list[list[str]]] | None = None,
        force_close: bool = False,
        webhook_timeout_seconds: float = 2.0,
        production_connector: bool = False,
    ) -> tuple[Bridge, TestNet]:
        net = TestNet(names=dict(names or {}), answers=dict(answers or {}))
        net.force_close = force_close
        config = replace(
            app_config(tmp_path, database_url),
            webhook_timeout_seconds=webhook_timeout_seconds,
            outbound_allowed_cidrs=cidrs,
            outbound_allowed_hosts=hosts,
        )
        backend = FakeBackend()
        clock = OffsetClock()
        app = build_app(
            config,
            backend=backend,
            clock=clock,
            run_scheduler=False,
            resolver=net.resolve,
            connector_factory=None if production_connector else net.connector,
        )
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        parts = app[PARTS]
        assert parts.admin_key is not None
        return Bridge(client, parts, backend, clock, parts.admin_key), net

    try:
        yield make
    finally:
        for client in clients:
            await client.close()


async def _conference(bridge: Bridge, url: str) -> str:
    body = {"name": "c", "status_callback_url": url}
    cid: str = (await bridge.ok("POST", "/v1/conferences", 201, json=body))["id"]
    return cid


async def _deliveries(bridge: Bridge, cid: str) -> list[dict[str, Any]]:
    page = await bridge.ok("GET", f"/v1/deliveries?conference_id={cid}")
    items: list[dict[str, Any]] = page["items"]
    return items


async def _wait_attempted(bridge: Bridge, cid: str, count: int = 1) -> list[dict[str, Any]]:
    """Wait until `count` deliveries of the conference were attempted at least once."""

    async def attempted() -> list[dict[str, Any]] | None:
        items = await _deliveries(bridge, cid)
        done = [d for d in items if d["attempts"] >= 1 or d["status"] != "pending"]
        if len(done) >= count:
            return items
        await bridge.parts.dispatcher.run_once()
        return None

    return await until(attempted, 10, f"{count} deliveries attempted", every=0.02)


# --- stored: refused by the API -----------------------------------------------------------

FORBIDDEN_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://017700000001/",
    "http://127.1/",
    "http://127.0.0.1./",
    "http://a@127.0.0.1/",
    "http://[fe80::1%25eth0]/",
    "http://metadata.google.internal/",
]


def _in_two_hours() -> str:
    return (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%d_%H:%M:%S")


def _bodies(url: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, body) that store `url`; {cid} is a live conference."""
    return [
        ("POST", "/v1/conferences", {"name": "x", "status_callback_url": url}),
        ("POST", "/v1/conferences", {"name": "x", "action_url": url}),
        (
            "POST",
            "/v1/conferences",
            {
                "name": "x",
                "dial_in": {
                    "access_code": "5550",
                    "participant_options": {"leave_conference_url": url},
                },
            },
        ),
        ("PATCH", "/v1/conferences/{cid}", {"status_callback_url": url}),
        (
            "PATCH",
            "/v1/conferences/{cid}",
            {"dial_in": {"access_code": "5551", "moderator_options": {"notification_url": url}}},
        ),
        ("POST", "/v1/conferences/{cid}/participants", {"to": "1", "participant": {
            "notification_url": url}}),
        ("POST", "/v1/conferences/{cid}/participants", {"to": "1", "secondary_call": {
            "first_page": url}}),
        ("POST", "/v1/conferences/{cid}/participants", {"to": "1", "secondary_call": {
            "next_page": url}}),
        ("POST", "/v1/webhooks", {"url": url}),
        (
            "POST",
            "/v1/reservations",
            {
                "conference_name": "r1",
                "max_participants": 40,
                "start_time": _in_two_hours(),
                "duration": 30,
                "conference": {"status_callback_url": url},
            },
        ),
    ]  # fmt: skip


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
async def test_every_url_field_refuses_forbidden_targets(make_bridge: MakeBridge, url: str) -> None:
    bridge, net = await make_bridge()
    cid = (await bridge.ok("POST", "/v1/conferences", 201, json={"name": "live"}))["id"]
    before = await bridge.ok("GET", f"/v1/conferences/{cid}")
    for method, path, body in _bodies(url):
        status, answer = await bridge.call(method, path.format(cid=cid), json=body)
        assert status == 400, (method, path, body, status, answer)
        assert answer["error"]["code"] == "url_not_allowed", answer
        assert answer["error"]["details"]["reason"]
    # nothing was changed
    assert (await bridge.ok("GET", f"/v1/conferences/{cid}")) == before
    assert [c["id"] for c in (await bridge.ok("GET", "/v1/conferences"))["items"]] == [cid]
    assert (await bridge.ok("GET", "/v1/webhooks"))["items"] == []
    assert (await bridge.ok("GET", f"/v1/conferences/{cid}/participants"))["items"] == []
    assert net.lookups == [] and net.connects == [] and net.refused_sockets == []


async def test_names_are_accepted_when_stored(make_bridge: MakeBridge) -> None:
    """A name is judged after DNS, at delivery: storing it resolves nothing."""
    bridge, net = await make_bridge()
    await bridge.parts.dispatcher.stop()  # nothing is delivered: only storing is looked at
    await bridge.ok("POST", "/v1/webhooks", 201, json={"url": "https://hooks.example.com/x"})
    await bridge.ok(
        "POST", "/v1/conferences", 201, json={"name": "n", "status_callback_url": "http://a.test/"}
    )
    assert net.lookups == []


# --- delivered: refused after DNS, before any connection ----------------------------------

REBINDING = {
    "metadata.test": ["169.254.169.254"],
    "internal.test": ["10.0.0.5"],
    "cgnat.test": ["100.64.0.1"],
    "loop.test": ["127.0.0.1"],
    "v6loop.test": ["::1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "nat64.test": ["64:ff9b::a9fe:a9fe"],
    "mixed.test": ["93.184.216.34", "10.0.0.5"],  # one bad address refuses the name
}


@pytest.mark.parametrize("name", sorted(REBINDING))
async def test_names_resolving_to_forbidden_addresses_are_never_connected(
    make_bridge: MakeBridge, receiver: WebhookReceiver, name: str
) -> None:
    bridge, net = await make_bridge(names=REBINDING)
    url = f"http://{name}:{receiver.port}/hook"
    cid = (
        await bridge.ok(
            "POST", "/v1/conferences", 201, json={"name": "r", "status_callback_url": url}
        )
    )["id"]
    items = await _wait_attempted(bridge, cid)
    assert [(d["status"], d["attempts"], d["last_error"], d["last_status"]) for d in items] == [
        ("dead", 1, "target_not_allowed", None)  # dead-lettered at once
    ]
    assert name in net.lookups
    assert net.connects == [] and net.refused_sockets == []
    assert receiver.received == []


LITERALS = [
    "http://127.0.0.1:{port}/hook",
    "http://2130706433:{port}/hook",
    "http://0x7f.1:{port}/hook",
    "http://0177.0.0.1:{port}/hook",
    "http://127.1:{port}/hook",
    "http://127.0.0.1.:{port}/hook",
    "http://[::1]:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "http://[::ffff:7f00:1]:{port}/hook",
    "http://localhost:{port}/hook",
    "http://x@127.0.0.1:{port}/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0:{port}/hook",
]


async def _store_url_around_the_api(bridge: Bridge, cid: str, url: str) -> None:
    """Store a status callback URL as an older version or a manual edit would have: in the
    database, behind the running bridge, which then forgets its copy as a restart would."""
    async with bridge.parts.services.db.begin() as conn:
        await conn.execute(
            update(t.conferences).where(t.conferences.c.id == cid).values(status_callback_url=url)
        )
    owners = bridge.parts.services.owners
    owner = owners.peek(cid)
    if owner is not None:
        owners.drop(owner)


@pytest.mark.parametrize("template", LITERALS)
async def test_literal_targets_that_skipped_the_api_are_refused_at_delivery(
    make_bridge: MakeBridge, receiver: WebhookReceiver, template: str
) -> None:
    """A URL stored before the policy (or by any path around the API) is checked again."""
    bridge, net = await make_bridge()
    cid = (await bridge.ok("POST", "/v1/conferences", 201, json={"name": "old"}))["id"]
    await _store_url_around_the_api(bridge, cid, template.format(port=receiver.port))
    await bridge.ok("PATCH", f"/v1/conferences/{cid}", json={"alias": "now"})
    items = await _wait_attempted(bridge, cid)
    assert [(d["status"], d["last_error"]) for d in items] == [("dead", "target_not_allowed")]
    assert net.lookups == [] and net.connects == [] and net.refused_sockets == []
    assert receiver.received == []


# --- allowed: the on-premises settings ----------------------------------------------------


async def test_allowed_cidrs_let_a_loopback_receiver_receive(
    make_bridge: MakeBridge, receiver: WebhookReceiver
) -> None:
    bridge, net = await make_bridge(cidrs=LOOPBACK_CIDRS, names={"hooks.test": ["127.0.0.1"]})
    literal = (
        await bridge.ok(
            "POST", "/v1/conferences", 201, json={"name": "a", "status_callback_url": receiver.url}
        )
    )["id"]
    named_url = f"http://hooks.test:{receiver.port}/named"
    named = (
        await bridge.ok(
            "POST", "/v1/conferences", 201, json={"name": "b", "status_callback_url": named_url}
        )
    )["id"]
    got = await receiver.wait_for(lambda rs: len(rs) >= 2)
    assert sorted(r.json["event"]["conference_id"] for r in got) == sorted([literal, named])
    assert {r.path for r in got} == {"/hook", "/named"}
    assert net.lookups == ["hooks.test"]  # the literal needed no DNS
    assert set(net.connects) == {("127.0.0.1", receiver.port)} and net.refused_sockets == []
    # still refused: loopback addresses outside the listed CIDRs, and other ranges
    for url in ("http://127.0.0.2/", "http://10.0.0.5/", "http://localhost/"):
        status, answer = await bridge.call(
            "POST", "/v1/conferences", json={"name": "c", "status_callback_url": url}
        )
        assert (status, answer["error"]["code"]) == (400, "url_not_allowed")


async def test_allowed_hosts_trust_a_name_whatever_it_resolves_to(
    make_bridge: MakeBridge, receiver: WebhookReceiver
) -> None:
    bridge, net = await make_bridge(
        hosts=("hooks.test", "localhost"),
        names={"hooks.test": ["127.0.0.1"], "other.test": ["127.0.0.1"], "localhost": ["::1"]},
    )
    good = (
        await bridge.ok(
            "POST",
            "/v1/conferences",
            201,
            json={"name": "a", "status_callback_url": f"http://hooks.test:{receiver.port}/h"},
        )
    )["id"]
    sub = await bridge.ok(  # a listed local name is accepted when stored
        "POST", "/v1/webhooks", 201, json={"url": "http://localhost:9/h"}
    )
    await bridge.ok("DELETE", f"/v1/webhooks/{sub['id']}")
    bad = (
        await bridge.ok(
            "POST",
            "/v1/conferences",
            201,
            json={"name": "b", "status_callback_url": f"http://other.test:{receiver.port}/h"},
        )
    )["id"]
    await receiver.wait_for(lambda rs: any(r.json["event"]["conference_id"] == good for r in rs))
    items = await _wait_attempted(bridge, bad)
    assert [(d["status"], d["last_error"]) for d in items] == [("dead", "target_not_allowed")]
    assert all(r.json["event"]["conference_id"] != bad for r in receiver.received)
    assert ("127.0.0.1", receiver.port) in net.connects and net.refused_sockets == []


async def test_the_connection_goes_only_to_the_checked_address(
    make_bridge: MakeBridge, receiver: WebhookReceiver
) -> None:
    """DNS rebinding: the name answers loopback (allowed) once, then a private address. Each
    connection resolves once through the seam and connects to exactly what was checked."""
    bridge, net = await make_bridge(
        cidrs=LOOPBACK_CIDRS,
        force_close=True,  # a new connection per request, so each one resolves
        answers={"rebind.test": [["127.0.0.1"], ["10.0.0.5"]]},
        names={"rebind.test": ["10.0.0.5"]},
    )
    url = f"http://rebind.test:{receiver.port}/hook"
    cid = (
        await bridge.ok(
            "POST", "/v1/conferences", 201, json={"name": "r", "status_callback_url": url}
        )
    )["id"]
    await receiver.wait_for(lambda rs: len(rs) >= 1)
    await bridge.ok("PATCH", f"/v1/conferences/{cid}", json={"alias": "second"})
    items = await _wait_attempted(bridge, cid, count=2)
    by_seq = sorted(items, key=lambda d: d["sequence"])
    assert [(d["status"], d["last_error"]) for d in by_seq] == [
        ("delivered", None),
        ("dead", "target_not_allowed"),
    ]
    assert net.lookups == ["rebind.test", "rebind.test"]  # once per connection, by the seam
    assert net.connects == [("127.0.0.1", receiver.port)] and net.refused_sockets == []
    assert len(receiver.received) == 1


async def test_the_production_connector_connects_only_where_the_policy_allows(
    make_bridge: MakeBridge, receiver: WebhookReceiver
) -> None:
    """The connector the application really uses (no socket guard here, so every name maps
    to loopback: even a broken policy could reach nothing but this machine)."""
    bridge, net = await make_bridge(
        production_connector=True,
        hosts=("hooks.test",),
        names={"hooks.test": ["127.0.0.1"], "loop.test": ["127.0.0.1"]},
    )
    good = await _conference(bridge, f"http://hooks.test:{receiver.port}/good")
    bad = await _conference(bridge, f"http://loop.test:{receiver.port}/bad")
    literal = (await bridge.ok("POST", "/v1/conferences", 201, json={"name": "l"}))["id"]
    await _store_url_around_the_api(bridge, literal, f"http://2130706433:{receiver.port}/literal")
    await bridge.ok("PATCH", f"/v1/conferences/{literal}", json={"alias": "x"})
    await receiver.wait_for(lambda rs: len(rs) >= 1)
    for cid in (bad, literal):
        items = await _wait_attempted(bridge, cid)
        assert {d["last_error"] for d in items} == {"target_not_allowed"}, items
    assert [r.path for r in receiver.received] == ["/good"]
    assert receiver.received[0].json["event"]["conference_id"] == good
    assert net.lookups.count("hooks.test") == 1 and "loop.test" in net.lookups


async def test_the_default_resolver_seam() -> None:
    assert await outbound.system_resolver("127.0.0.1", 80) == [ip_address("127.0.0.1")]


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (TimeoutError(), "timeout"),
        (aiohttp.ServerDisconnectedError(), "connection_lost"),
        (outbound.ResolutionFailed("x"), "dns_failed"),
        (ConnectionResetError(), "connection_lost"),
        (aiohttp.InvalidURL("x"), "invalid_url"),
        (RuntimeError("x"), "delivery_failed"),
    ],
)
def test_failure_codes(exc: BaseException, code: str) -> None:
    assert outbound.failure_code(exc) == code
    assert code in outbound.ERROR_CODES


# --- what the tenant sees: a stable code, never what answered -----------------------------


@pytest.fixture
async def redirector(receiver: WebhookReceiver) -> AsyncIterator[tuple[str, list[str]]]:
    """A local server answering every POST with a 302 to the receiver."""
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=302, headers={"Location": receiver.url})

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/moved", hits
    finally:
        await runner.cleanup()


async def test_redirects_are_not_followed(
    make_bridge: MakeBridge, receiver: WebhookReceiver, redirector: tuple[str, list[str]]
) -> None:
    url, hits = redirector
    bridge, net = await make_bridge(cidrs=LOOPBACK_CIDRS)
    cid = (
        await bridge.ok(
            "POST", "/v1/conferences", 201, json={"name": "m", "status_callback_url": url}
        )
    )["id"]
    items = await _wait_attempted(bridge, cid)
    assert (items[0]["last_error"], items[0]["last_status"]) == ("redirect_not_followed", 302)
    assert items[0]["status"] == "pending"  # a 3xx is retried like any failed answer
    assert hits and receiver.received == []
    assert {p for _, p in net.connects} == {int(url.split(":")[2].split("/")[0])}


async def _slow_server() -> tuple[web.AppRunner, int]:
    async def handle(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def test_last_error_is_only_a_stable_code(
    make_bridge: MakeBridge, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    slow, slow_port = await _slow_server()
    receiver.status = 500
    bridge, net = await make_bridge(
        cidrs=LOOPBACK_CIDRS, names={"hooks.test": ["127.0.0.1"]}, webhook_timeout_seconds=0.5
    )
    cases = {
        f"http://127.0.0.1:{closed_port}/x": "connect_failed",
        f"http://hooks.test:{receiver.port}/x": "http_status_500",
        "http://nxdomain.test/x": "dns_failed",
        f"http://127.0.0.1:{slow_port}/x": "timeout",
        "https://169.254.169.254/x": "target_not_allowed",
    }
    ids: dict[str, str] = {}
    try:
        with caplog.at_level(logging.INFO, logger="bridge.webhooks.dispatcher"):
            for url in cases:
                cid = (await bridge.ok("POST", "/v1/conferences", 201, json={"name": "e"}))["id"]
                ids[url] = cid
                await _store_url_around_the_api(bridge, cid, url)  # literal 169.254: no API
                await bridge.ok("PATCH", f"/v1/conferences/{cid}", json={"alias": "go"})
            for url, code in cases.items():
                items = await _wait_attempted(bridge, ids[url])
                errors = [d["last_error"] for d in items if d["attempts"]]
                assert errors and set(errors) == {code}, (url, items)
    finally:
        await slow.cleanup()
    page = await bridge.ok("GET", "/v1/deliveries")
    shown = " ".join(str(d["last_error"]) for d in page["items"])
    for leak in ("127.0.0.1", "169.254", str(closed_port), "Connect", "Error", "refused"):
        assert leak not in shown
    # the detail is in the server log, without a traceback
    logged = [r for r in caplog.records if r.name == "bridge.webhooks.dispatcher"]
    assert any(str(closed_port) in r.getMessage() for r in logged)
    assert all(r.exc_info is None for r in logged)
    assert net.refused_sockets == []


async def test_error_text_from_before_the_codes_is_not_shown(make_bridge: MakeBridge) -> None:
    bridge, _ = await make_bridge(names={"internal.test": ["10.0.0.5"]})
    url = "http://internal.test/x"
    cid = (
        await bridge.ok(
            "POST", "/v1/conferences", 201, json={"name": "o", "status_callback_url": url}
        )
    )["id"]
    await _wait_attempted(bridge, cid)  # dead at once: nothing writes last_error again
    async with bridge.parts.services.db.begin() as conn:
        await conn.execute(
            update(t.deliveries)
            .where(t.deliveries.c.conference_id == cid)
            .values(last_error="ClientConnectorError: Connect call failed ('127.0.0.1', 42715)")
        )
    items = await _deliveries(bridge, cid)
    assert [d["last_error"] for d in items] == ["delivery_failed"]
