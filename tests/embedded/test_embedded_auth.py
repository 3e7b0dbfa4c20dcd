"""Digest authentication and registration on the embedded engine, with SIP users configured.

Our test phone and SIPp (its [authentication] answer to a 401) register and call with the
right and the wrong password; a dial-out to a registered user reaches the phone's contact.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from bridge_testing.embedded import (
    HEARD,
    REALM,
    SECURED,
    Engine,
    joined,
    new_phone,
    until_status,
)
from bridge_testing.phone import SipPhone, amplitude
from bridge_testing.sipp import start_sipp
from bridge_testing.wait import until

from bridge.protocols.digest import parse_challenge

pytestmark = pytest.mark.embedded


@pytest.fixture
def engine_options() -> dict[str, Any]:
    return SECURED


@pytest.fixture
def secured(engine: Engine) -> Engine:
    """The conftest `engine` with three SIP users: phones must authenticate."""
    return engine


def registrar_of(engine: Engine) -> tuple[int, int]:
    ua = engine.backend.ua
    assert ua.registrar is not None and ua.guard is not None
    return len(ua.registrar.bindings(ua.endpoint.now)), ua.guard.failures


async def test_registered_phone_joins_and_a_dial_out_reaches_it(
    secured: Engine, phones: list[SipPhone]
) -> None:
    cid = await secured.conference("7101", play_beep="never")
    alice = await new_phone(phones, "alice", 500.0)
    ok = await alice.register(secured.sip, "alice", "alice-pw")
    assert ok.status == 200, ok
    assert ok.headers.get_all("contact") == [f"<sip:alice@127.0.0.1:{alice.sip_port}>;expires=600"]
    assert any(r.status == 401 for r in alice.responses), "challenged first"

    bob = await new_phone(phones, "bob", 700.0)  # his entry is an H(A1)
    assert await bob.call(secured.sip, "7101") == 401  # no credentials: challenged
    assert await bob.call_with_auth(secured.sip, "7101", "bob", "bob-pw") == 200
    await joined(secured, cid, 1)

    p = await secured.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": "alice"})
    await until_status(secured, cid, p["id"], "joined")
    invite = next(r for r in alice.requests if r.method == "INVITE")
    assert str(invite.uri) == f"sip:alice@127.0.0.1:{alice.sip_port}"  # the bound contact
    assert amplitude(await alice.listen(1.0), 700.0) > HEARD
    assert amplitude(await bob.listen(1.0), 500.0) > HEARD
    assert registrar_of(secured) == (1, 0)
    health = secured.backend.health()
    assert health["sip"].startswith("udp:127.0.0.1:") and " tcp:127.0.0.1:" in health["sip"]


async def test_wrong_password_is_refused_and_changes_nothing(
    secured: Engine, phones: list[SipPhone]
) -> None:
    cid = await secured.conference("7102")
    mallory = await new_phone(phones, "alice")
    refused = await mallory.register(secured.sip, "alice", "guess")
    assert refused.status == 403
    assert await mallory.call_with_auth(secured.sip, "7102", "alice", "guess") == 403
    nobody = await new_phone(phones, "nobody")
    # an unknown user ends exactly like a wrong password: nothing to enumerate
    assert (await nobody.register(secured.sip, "nobody", "guess")).status == 403
    assert await nobody.call_with_auth(secured.sip, "7102", "nobody", "guess") == 403
    assert registrar_of(secured) == (0, 4)
    assert await secured.participants(cid) == []
    # alice's password does not let her register someone else's address
    bob_address = await new_phone(phones, "bob")
    challenged = await bob_address.register(secured.sip, "bob", None)
    assert challenged.status == 401
    challenge = parse_challenge(challenged.headers.get("www-authenticate") or "")
    assert challenge.realm == REALM and challenge.algorithm == "MD5" and not challenge.stale


async def test_unregistered_user_is_not_dialled(secured: Engine, phones: list[SipPhone]) -> None:
    cid = await secured.conference("7103")
    alice = await new_phone(phones, "alice")
    assert (await alice.register(secured.sip, "alice", "alice-pw")).status == 200
    gone = await alice.register(secured.sip, "alice", "alice-pw", expires=0)
    assert gone.status == 200 and gone.headers.get_all("contact") == []
    assert registrar_of(secured) == (0, 0)
    p = await secured.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": "alice"})
    failed = await until_status(secured, cid, p["id"], "failed")
    assert failed["failure_reason"] == "no_answer"
    assert not any(r.method == "INVITE" for r in alice.requests)


@pytest.mark.usefixtures("sipp_installed")
@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_sipp_answers_the_challenge_and_is_heard(
    secured: Engine, phones: list[SipPhone], tmp_path: Path, transport: str
) -> None:
    cid = await secured.conference("7105", play_beep="never")
    listener = await new_phone(phones, "alice")
    assert await listener.call_with_auth(secured.sip, "7105", "alice", "alice-pw") == 200
    sipp = start_sipp(
        tmp_path / "sipp", secured.sip, "7105",
        options=["-t", transport, "-au", "sipp", "-ap", "sipp-pw"],
        scenario="uac_auth_stream.xml", duration_ms=4000,
    )  # fmt: skip
    try:
        people = await joined(secured, cid, 2)
        caller = next(p for p in people if p["from"] == "sipp")
        assert amplitude(await listener.listen(1.0), 1000.0) > HEARD
        code = await asyncio.to_thread(sipp.process.wait, 30)
        assert code == 0, sipp.output()
        left = await until_status(secured, cid, caller["id"], "left")
        assert left["leave_reason"] == "hangup"
    finally:
        sipp.stop()
    await until(lambda: registrar_of(secured)[1] == 0, 1.0, "no failures")
