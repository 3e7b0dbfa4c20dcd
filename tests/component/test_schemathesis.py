"""Schemathesis against the live application: no request, valid or not, may cause a 5xx,
and every 4xx carries the JSON error shape.

The app runs on 127.0.0.1 in a thread of its own (schemathesis sends blocking requests), on
SQLite with the FakeBackend. This is a conformance test of the API's input handling, not a
database test, so it runs on SQLite only. Deterministic (derandomized), and sized so that
CI sends at least MIN_REQUESTS generated requests: EXAMPLES per operation (plus
schemathesis' coverage phase), then stateful scenarios that follow the document's links
(create a conference, then act on it by the id in the response).

Randomly generated ids only ever reach "not found", so in half of the requests (chosen by a
hash of the generated request, hence deterministic) the path parameters are replaced with
ids of real resources created for that operation: that drives bodies into the services.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from fakes import FakeBackend
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.checks import not_a_server_error

from bridge.api import openapi, routes
from bridge.app import PARTS, Parts, build_app
from bridge.config import Config

EXAMPLES = int(os.environ.get("BRIDGE_SCHEMATHESIS_EXAMPLES", "150"))  # per operation
SCENARIOS = int(os.environ.get("BRIDGE_SCHEMATHESIS_SCENARIOS", "40"))  # stateful
MIN_REQUESTS = (
    10_000 if EXAMPLES >= 150 and SCENARIOS >= 40 else 0
)  # what the default sizes must reach
SENT = {"requests": 0, "operations": 0}

# The document the app serves is built from the same table (test_openapi checks that the
# served one matches the routes); loading it here gives one test item per operation.
schema = schemathesis.openapi.from_dict(openapi.build(routes.OPS))
schema.config.generation.update(max_examples=EXAMPLES, deterministic=True, database="none")


class LiveServer:
    """The real application on a real socket, driven by its own event loop in a thread."""

    def __init__(self, data_dir: Path) -> None:
        self.config = Config(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'bridge.db'}")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.parts: Parts | None = None
        self.url = ""
        self.admin_key = ""

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    async def _start(self) -> None:
        app = build_app(self.config, backend=FakeBackend(), run_scheduler=False)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self.parts = parts = app[PARTS]
        assert parts.admin_key is not None
        self.admin_key = parts.admin_key
        # Generated subscriptions name arbitrary hosts: deliver nothing during the run.
        await parts.dispatcher.stop()

    def start(self) -> None:
        self.thread.start()
        self._run(self._start())

    def settle(self) -> None:
        """Let every engine observation reported so far be applied."""
        assert self.parts is not None
        self._run(self.parts.observer.drain())

    def stop(self) -> None:
        if self.runner is not None:
            self._run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def _seed(server: LiveServer, http: requests.Session, n: int) -> dict[str, str]:
    """Fresh resources of every kind (the `n`th set), keyed by the path parameter naming them."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = http.post(server.url + path, json=body, timeout=10)
        assert resp.status_code in (201, 202), (path, resp.status_code, resp.text)
        result: dict[str, Any] = resp.json()
        return result

    conf = post("/v1/conferences", {"name": f"seed{n}", "dial_in": {"access_code": f"{n:04d}"}})
    c = f"/v1/conferences/{conf['id']}"
    part = post(c + "/participants", {"to": "1001", "participant": {"start_on_entry": True}})
    server.settle()  # the FakeBackend answers and joins: the conference is now in progress
    rec = post(c + "/recordings", {})
    start = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%d_%H:%M:%S")
    res = post(
        "/v1/reservations",
        {
            "conference_name": f"seed{n}",
            "max_participants": 40,
            "start_time": start,
            "duration": 30,
        },
    )
    sub = post("/v1/webhooks", {"url": f"https://hooks.example.com/hook/{n}"})  # never sent
    account = post("/v1/accounts", {"name": f"seed{n}"})
    key = post(f"/v1/accounts/{account['id']}/keys", {"label": "seed"})
    return {
        "conference_id": conf["id"],
        "participant_id": part["id"],
        "recording_id": rec["id"],
        "reservation_token": res["reservation_token"],
        "subscription_id": sub["id"],
        "account_id": account["id"],
        "key_id": key["id"],
    }


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, requests.Session]]:
    server = LiveServer(tmp_path_factory.mktemp("schemathesis"))
    server.start()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {server.admin_key}"
    try:
        served = http.get(server.url + "/openapi.json", timeout=10).json()
        assert served == openapi.build(routes.OPS), "the served document differs"
        yield server, http
    finally:
        http.close()
        server.stop()


_seeded = itertools.count(1)


@pytest.fixture
def known(live: tuple[LiveServer, requests.Session]) -> dict[str, str]:
    """Each operation gets resources of its own: an earlier one may have ended them."""
    server, http = live
    return _seed(server, http, next(_seeded))


def _use_known_ids(case: Any, known: dict[str, str]) -> None:
    # Hash the whole request: the coverage phase varies the body under one fixed path value.
    drawn = repr((case.path_parameters, case.query, case.body)).encode()
    if zlib.crc32(drawn) % 2 == 0:
        for name in case.path_parameters or {}:
            if name in known:
                case.path_parameters[name] = known[name]


def _replace_ended_conference(
    server: LiveServer, http: requests.Session, known: dict[str, str], response: Any
) -> None:
    """Once a request ends the seeded conference, later ones get a live one again (or the
    rest of the operation's run would only ever see 409)."""
    content_type = " ".join(response.headers.get("content-type", []))  # lists, lowercase keys
    if response.status_code != 200 or "application/json" not in content_type:
        return
    body = response.json()
    ended = (
        isinstance(body, dict)
        and body.get("id") == known["conference_id"]
        and body.get("status")
        in (
            "terminating",
            "terminated",
        )
    )
    if ended:
        resp = http.post(server.url + "/v1/conferences", json={"name": "seed"}, timeout=10)
        assert resp.status_code == 201, resp.text
        known["conference_id"] = resp.json()["id"]


def json_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx: application/json, {"error": {"code", "message", "details"}}."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = " ".join(response.headers.get("content-type", []))
    assert "application/json" in content_type, f"a {response.status_code} in {content_type!r}"
    body = json.loads(response.content)
    path = case.operation.path
    # a facade answers in its vendor's documented error body, or (refusals made before the
    # facade runs, such as an oversized body) in ours
    if path.startswith("/apiserver") and isinstance(body, dict) and "info" in body:
        assert set(body) == {"code", "info", "url", "details"}, body  # FreeClimb's
        assert isinstance(body["details"].get("code"), str), body
        return None
    if path.startswith("/webservices") and isinstance(body, dict) and "request" in body:
        assert set(body) == {"error", "request"}, body  # Aculab's
        assert isinstance(body["error"].get("reason"), str), body
        return None
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and error["code"], error
    return None


CHECKS = [not_a_server_error, json_error_shape]


@pytest.mark.timeout(300)  # one operation's examples: 40 s on a loaded two-core machine
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(
    case: Any,
    live: tuple[LiveServer, requests.Session],
    known: dict[str, str],
) -> None:
    server, http = live
    _use_known_ids(case, known)
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    if case.operation.path == "/v1/events/stream":  # an endless body: read it briefly
        r = case.call(base_url=server.url, session=http, headers=headers, timeout=1)
        assert r.status_code < 500, r.status_code
        return
    response = case.call(base_url=server.url, session=http, headers=headers, timeout=10)
    SENT["requests"] += 1
    _replace_ended_conference(server, http, known, response)
    # On failure pytest shows the server's logged traceback ("Captured log call") and
    # schemathesis a curl command that reproduces the request.
    case.validate_response(response, checks=CHECKS, headers=headers)


class _Links(schema.as_state_machine()):  # type: ignore[misc]
    """Scenarios along the document's links: what a create returned is what later steps
    read, change and delete."""

    live: tuple[LiveServer, requests.Session]

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        server, http = self.live
        auth = {"Authorization": f"Bearer {server.admin_key}"}
        return {"base_url": server.url, "session": http, "headers": auth, "timeout": 10}

    def after_call(self, response: Any, case: Any) -> None:
        SENT["requests"] += 1

    def validate_response(
        self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
    ) -> None:
        # Collected, not raised: hypothesis would replay the scenario to report it, and the
        # server's state differs on a replay.
        try:
            case.validate_response(response, checks=CHECKS, headers=kwargs.get("headers"))
        except Exception as exc:  # every check failure is reported below
            STATEFUL_FAILURES.append(f"{case.method} {case.formatted_path}: {exc}")


STATEFUL_FAILURES: list[str] = []


def test_stateful_links(live: tuple[LiveServer, requests.Session]) -> None:
    assert any(
        "links" in r for op in schema.raw_schema["paths"].values() for o in op.values()
        for r in o["responses"].values()
    ), "the document has no links to follow"  # fmt: skip
    _Links.live = live
    # The server keeps its state between scenarios, so which links can be followed differs
    # from one run of the same choices to the next; hypothesis calls that flaky data and
    # stops the run. Short runs of their own (each a fresh choice tree) keep going; every
    # check failure is collected by `validate_response` whatever happens to the run.
    scenarios, stopped = 0, 0
    while scenarios < SCENARIOS:
        try:
            _Links.run(
                settings=settings(
                    max_examples=10,
                    deadline=None,
                    database=None,
                    stateful_step_count=10,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
            )
        except FlakyStrategyDefinition:
            stopped += 1
        scenarios += 10
    print(
        f"schemathesis: {scenarios} stateful scenarios in {scenarios // 10} runs,"
        f" {stopped} cut short"
    )
    assert not STATEFUL_FAILURES, "\n\n".join(STATEFUL_FAILURES[:5])


def test_enough_requests_were_sent() -> None:
    """Runs last (file order): the generated requests of the whole module."""
    print(f"schemathesis: {SENT['requests']} generated requests")
    assert SENT["requests"] >= MIN_REQUESTS, SENT
