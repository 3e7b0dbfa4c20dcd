"""Digest authentication (RFC 2617 / 7616) with stateless, clock-injected nonces."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.protocols.digest import (
    Credentials,
    DigestError,
    Verdict,
    build_authorization,
    build_challenge,
    digest_response,
    ha1,
    make_nonce,
    nonce_age,
    parse_authorization,
    parse_challenge,
    verify,
)
from bridge.protocols.safe import UnsafeValueError

SECRET = b"server secret"
REALM = "bridge.example.org"
URI = "sip:bridge.example.org"


def test_rfc2617_worked_example() -> None:
    # RFC 2617 3.5, the classic vector (HTTP, but the arithmetic is the same)
    h = ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    response = digest_response(
        h,
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


def test_nonce_age_and_forgery() -> None:
    nonce = make_nonce(SECRET, 1000.0)
    assert nonce_age(SECRET, nonce, 1030.0) == 30.0
    assert nonce_age(b"other", nonce, 1030.0) is None
    assert nonce_age(SECRET, nonce[:-1] + ("0" if nonce[-1] != "0" else "1"), 1030.0) is None
    assert nonce_age(SECRET, "abc", 1030.0) is None


def challenge_and_answer(now: float, password: str = "1234", qop: bool = True) -> str:
    challenge = parse_challenge(build_challenge(REALM, make_nonce(SECRET, now), qop=qop))
    return build_authorization(
        challenge, username="1001", password=password, method="INVITE", uri=URI, cnonce="c0ffee"
    )


def check(credentials: Credentials, now: float, request_uri: str | None = None) -> Verdict:
    return verify(
        credentials,
        method="INVITE",
        ha1_hex=ha1("1001", REALM, "1234"),
        realm=REALM,
        secret=SECRET,
        now=now,
        request_uri=request_uri,
    )


@pytest.mark.parametrize("qop", [True, False])
def test_phone_round_trip(qop: bool) -> None:
    credentials = parse_authorization(challenge_and_answer(1000.0, qop=qop))
    assert credentials.username == "1001" and credentials.uri == URI
    assert (credentials.qop is not None) is qop
    assert check(credentials, 1010.0, request_uri=URI) is Verdict.OK
    assert check(credentials, 2000.0) is Verdict.STALE
    assert check(credentials, 1010.0, request_uri="sip:x@y") is Verdict.BAD
    wrong = parse_authorization(challenge_and_answer(1000.0, password="9999", qop=qop))
    assert check(wrong, 1010.0) is Verdict.BAD
    assert check(wrong, 2000.0) is Verdict.BAD  # a wrong password is never just "stale"


def test_foreign_nonce_or_realm_is_bad() -> None:
    header = challenge_and_answer(1000.0)
    credentials = parse_authorization(header)
    h = ha1("1001", REALM, "1234")
    assert (
        verify(credentials, method="INVITE", ha1_hex=h, realm=REALM, secret=b"x", now=1001)
        is Verdict.BAD
    )
    assert (
        verify(credentials, method="INVITE", ha1_hex=h, realm="other", secret=SECRET, now=1001)
        is Verdict.BAD
    )
    assert (
        verify(credentials, method="BYE", ha1_hex=h, realm=REALM, secret=SECRET, now=1001)
        is Verdict.BAD
    )


def test_challenge_text() -> None:
    nonce = make_nonce(SECRET, 0)
    text = build_challenge(REALM, nonce, stale=True)
    assert text == f'Digest realm="{REALM}", nonce="{nonce}", algorithm=MD5, qop="auth", stale=true'
    parsed = parse_challenge(text)
    assert parsed.stale and parsed.qop == ("auth",) and parsed.algorithm == "MD5"
    assert (
        parse_challenge(build_challenge(REALM, nonce, algorithm="SHA-256")).algorithm == "SHA-256"
    )
    with pytest.raises(UnsafeValueError):
        build_challenge("realm\r\nX: y", nonce)
    with pytest.raises(DigestError):
        build_challenge(REALM, "not-ours")


def test_authorization_parsing_handles_quotes_and_commas() -> None:
    header = (
        'Digest username="a\\"b", realm="r, with comma", nonce="n", uri="sip:x@y",'
        ' response="ABCDEF", algorithm=MD5, opaque="o"'
    )
    credentials = parse_authorization(header)
    assert credentials.username == 'a"b' and credentials.realm == "r, with comma"
    assert credentials.response == "abcdef" and credentials.opaque == "o"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Basic dXNlcjpwYXNz",
        'Digest username="a"',  # missing fields
        'Digest username="a, realm="r", nonce="n", uri="u", response="x"',  # unterminated
        'Digest username=a b, realm="r", nonce="n", uri="u", response="x"',
        'Digest username="a", username="b", realm="r", nonce="n", uri="u", response="x"',
        'Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth',  # no cnonce
        'Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth-int,'
        ' cnonce="c", nc=00000001',
        'Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth,'
        ' cnonce="c", nc=1',
        "Digest " + "a=b, " * 2000,
    ],
)
def test_malformed_authorization_raises(header: str) -> None:
    with pytest.raises(DigestError):
        parse_authorization(header)


def test_client_refuses_unsafe_values() -> None:
    challenge = parse_challenge(build_challenge(REALM, make_nonce(SECRET, 0)))
    with pytest.raises(UnsafeValueError):
        build_authorization(challenge, username="a\r\n", password="p", method="INVITE", uri=URI)
    with pytest.raises(DigestError):
        build_authorization(challenge, username="a", password="p", method="INVITE", uri='x"y')


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_random_headers_only_raise_digest_error(header: str) -> None:
    with contextlib.suppress(DigestError):
        parse_authorization(header)
    with contextlib.suppress(DigestError):
        parse_challenge(header)
