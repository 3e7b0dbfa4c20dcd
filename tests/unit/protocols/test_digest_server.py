"""The server side of SIP digest auth: challenge, accept, stale, refuse, replay, no enumeration."""

from __future__ import annotations

import pytest

from bridge.protocols.digest import (
    build_authorization,
    digest_response,
    ha1,
    parse_authorization,
    parse_challenge,
)
from bridge.protocols.sip import SipRequest, parse_message
from bridge.protocols.sip_auth import AuthError, Decision, DigestGuard

REALM = "bridge.test"
URI = "sip:9100@127.0.0.1:5060"


def request(method: str = "INVITE", authorization: str | None = None, uri: str = URI) -> SipRequest:
    auth = f"Authorization: {authorization}\r\n" if authorization else ""
    return parse_message(
        (
            f"{method} {uri} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKa\r\n"
            "From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:9100@127.0.0.1>\r\n"
            f"Call-ID: c@127.0.0.1\r\nCSeq: 2 {method}\r\nContact: <sip:alice@127.0.0.1:5999>\r\n"
            f"{auth}Content-Length: 0\r\n\r\n"
        ).encode()
    )  # type: ignore[return-value]


def guard(**users: str) -> DigestGuard:
    return DigestGuard(users or {"alice": "s3cret"}, REALM, secret=b"k" * 32)


def answer(
    g: DigestGuard,
    now: float,
    *,
    user: str = "alice",
    password: str = "s3cret",
    method: str = "INVITE",
    uri: str = URI,
    nc: int = 1,
) -> tuple[SipRequest, str]:
    challenge = g.check(request(method, uri=uri), now)
    assert challenge.decision is Decision.CHALLENGE and challenge.challenge is not None
    auth = build_authorization(
        parse_challenge(challenge.challenge),
        username=user,
        password=password,
        method=method,
        uri=uri,
        nc=nc,
    )
    return request(method, auth, uri), challenge.challenge


def test_no_authorization_is_challenged_with_a_fresh_nonce() -> None:
    g = guard()
    first, second = g.check(request(), 100.0), g.check(request(), 100.0)
    assert first.status == 401 and first.challenge is not None and second.challenge is not None
    parsed = parse_challenge(first.challenge)
    assert parsed.realm == REALM and parsed.algorithm == "MD5" and parsed.qop == ("auth",)
    assert not parsed.stale
    assert first.challenge != second.challenge  # nonces are not reused
    assert g.challenges == 2 and g.failures == 0


@pytest.mark.parametrize("method", ["INVITE", "REGISTER"])
def test_right_password_is_accepted_as_its_user(method: str) -> None:
    g = guard()
    authorized, _ = answer(g, 100.0, method=method)
    result = g.check(authorized, 110.0)
    assert result.decision is Decision.ACCEPT and result.username == "alice"
    assert g.accepted == 1 and g.failures == 0


def test_stored_ha1_works_like_the_password() -> None:
    g = DigestGuard({"alice": "md5:" + ha1("alice", REALM, "s3cret")}, REALM)
    authorized, _ = answer(g, 100.0)
    assert g.check(authorized, 101.0).username == "alice"
    wrong, _ = answer(g, 100.0, password="nope")
    assert g.check(wrong, 101.0).status == 403


def test_wrong_password_and_unknown_user_get_the_same_403() -> None:
    g = guard()
    wrong, _ = answer(g, 100.0, password="guess")
    nobody, _ = answer(g, 100.0, user="mallory", password="guess")
    results = [g.check(wrong, 101.0), g.check(nobody, 101.0)]
    assert [r.status for r in results] == [403, 403]
    assert results[0] == results[1]  # nothing tells a missing user from a wrong password
    assert g.failures == 2


def test_expired_nonce_with_right_password_is_stale_and_wrong_password_is_not() -> None:
    g = guard()
    authorized, _ = answer(g, 100.0)
    late = g.check(authorized, 100.0 + g.nonce_lifetime + 1)
    assert late.status == 401 and late.challenge is not None
    assert parse_challenge(late.challenge).stale
    wrong, _ = answer(g, 100.0, password="guess")
    assert g.check(wrong, 100.0 + g.nonce_lifetime + 1).status == 403


def test_nonce_count_replay_is_challenged_again() -> None:
    g = guard()
    authorized, _ = answer(g, 100.0)
    assert g.check(authorized, 101.0).decision is Decision.ACCEPT
    replay = g.check(authorized, 102.0)  # the same nc for the same nonce
    assert replay.status == 401 and replay.challenge is not None
    assert parse_challenge(replay.challenge).stale


def test_next_nonce_count_is_accepted() -> None:
    g = guard()
    first, text = answer(g, 100.0)
    assert g.check(first, 101.0).decision is Decision.ACCEPT
    auth = build_authorization(
        parse_challenge(text), username="alice", password="s3cret", method="INVITE", uri=URI, nc=2
    )
    assert g.check(request("INVITE", auth), 102.0).decision is Decision.ACCEPT


def test_foreign_nonce_is_challenged_afresh_not_refused() -> None:
    other = DigestGuard({"alice": "s3cret"}, REALM, secret=b"o" * 32)
    authorized, _ = answer(other, 100.0)
    result = guard().check(authorized, 101.0)  # e.g. a nonce from before a restart
    assert result.status == 401 and result.challenge is not None
    assert not parse_challenge(result.challenge).stale


def test_digest_uri_must_name_the_request_uri() -> None:
    g = guard()
    authorized, _ = answer(g, 100.0)
    auth = authorized.headers.get("authorization")
    assert auth is not None
    moved = request("INVITE", auth, uri="sip:9999@127.0.0.1:5060")
    assert g.check(moved, 101.0).status == 403
    # a host spelt in capitals (which the parser lowers) still names the same URI
    spelt, _ = answer(g, 100.0, uri="sip:9100@BRIDGE.test:5060")
    assert str(spelt.uri) == "sip:9100@bridge.test:5060"
    assert g.check(spelt, 101.0).decision is Decision.ACCEPT
    # our host and port alone (what SIPp sends) name us too; another host does not
    hosted, _ = answer(g, 100.0, uri="sip:127.0.0.1:5060")
    auth = hosted.headers.get("authorization")
    assert auth is not None
    assert g.check(request("INVITE", auth), 101.0).decision is Decision.ACCEPT
    elsewhere, _ = answer(g, 100.0, uri="sip:10.0.0.1:5060")
    auth = elsewhere.headers.get("authorization")
    assert auth is not None
    assert g.check(request("INVITE", auth), 101.0).status == 403


def test_response_for_another_method_is_refused() -> None:
    g = guard()
    authorized, _ = answer(g, 100.0, method="REGISTER")
    auth = authorized.headers.get("authorization")
    assert auth is not None
    assert g.check(request("INVITE", auth), 101.0).status == 403


def test_malformed_or_other_realm_authorization() -> None:
    g = guard()
    assert g.check(request("INVITE", "Digest garbage"), 100.0).status == 403
    elsewhere = (
        'Digest username="alice", realm="elsewhere", nonce="n", uri="' + URI + '", response="x"'
    )
    assert g.check(request("INVITE", elsewhere), 100.0).status == 401  # not for us: challenge


def test_rfc2069_response_without_qop() -> None:
    g = guard()
    challenge = g.check(request(), 100.0).challenge
    assert challenge is not None
    nonce = parse_challenge(challenge).nonce
    response = digest_response(ha1("alice", REALM, "s3cret"), nonce=nonce, method="INVITE", uri=URI)
    auth = (
        f'Digest username="alice", realm="{REALM}", nonce="{nonce}", uri="{URI}", '
        f'response="{response}", algorithm=MD5'
    )
    assert parse_authorization(auth).qop is None
    assert g.check(request("INVITE", auth), 101.0).decision is Decision.ACCEPT


def test_bad_user_table_entries_are_refused() -> None:
    with pytest.raises(AuthError):
        DigestGuard({'al"ice': "x"}, REALM)
    with pytest.raises(AuthError):
        DigestGuard({"alice": ""}, REALM)
    with pytest.raises(AuthError):
        DigestGuard({"alice": "md5:" + "0" * 64}, REALM)
    with pytest.raises(ValueError):
        DigestGuard({"alice": "x"}, "realm\r\nX: y")
