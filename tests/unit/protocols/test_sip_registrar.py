"""The registrar's binding table (RFC 3261 10.3): add, refresh, expire, remove, `*`, order."""

from __future__ import annotations

from bridge.protocols.sip import SipRequest, parse_message
from bridge.protocols.sip_registrar import Registrar

SOURCE = ("127.0.0.1", 5999, "UDP")


def register(
    contacts: list[str], expires: str | None = None, cseq: int = 1, call_id: str = "r1"
) -> SipRequest:
    lines = [
        "REGISTER sip:127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKr",
        "From: <sip:alice@127.0.0.1>;tag=a",
        "To: <sip:alice@127.0.0.1>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        *(f"Contact: {c}" for c in contacts),
    ]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    data = ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message


def test_bind_refresh_and_lookup() -> None:
    r = Registrar()
    result = r.register(register(["<sip:alice@10.0.0.5:5062>"], "600"), "alice", 0.0, SOURCE)
    assert result.status == 200
    assert result.headers == [("Contact", "<sip:alice@10.0.0.5:5062>;expires=600")]
    binding = r.lookup("alice", 10.0)
    assert binding is not None and str(binding.contact) == "sip:alice@10.0.0.5:5062"
    assert binding.source == SOURCE
    assert r.lookup("bob", 10.0) is None
    # a refresh with a later CSeq moves the expiry on
    r.register(register(["<sip:alice@10.0.0.5:5062>"], "600", cseq=2), "alice", 500.0, SOURCE)
    assert r.lookup("alice", 1000.0) is not None
    assert r.lookup("alice", 1101.0) is None  # expired


def test_newest_binding_wins_and_contacts_are_capped() -> None:
    r = Registrar(max_contacts=2)
    for i, port in enumerate((5001, 5002, 5003)):
        r.register(register([f"<sip:alice@10.0.0.5:{port}>"], call_id=f"c{i}"), "alice", i, SOURCE)
    binding = r.lookup("alice", 5.0)
    assert binding is not None and binding.contact.port == 5003
    assert sorted(b.contact.port or 0 for b in r.bindings(5.0)) == [5002, 5003]


def test_expires_zero_removes_one_and_star_removes_all() -> None:
    r = Registrar()
    r.register(
        register(["<sip:alice@10.0.0.5:5001>", "<sip:alice@10.0.0.6:5001>"]), "alice", 0, SOURCE
    )
    assert len(r.bindings(1.0)) == 2
    result = r.register(register(["<sip:alice@10.0.0.5:5001>"], "0", cseq=2), "alice", 1, SOURCE)
    assert result.status == 200 and len(result.headers) == 1
    assert r.register(register(["*"], "0", cseq=3), "alice", 2, SOURCE).status == 200
    assert r.lookup("alice", 3.0) is None


def test_contact_expires_param_beats_the_header() -> None:
    r = Registrar()
    result = r.register(register(["<sip:alice@10.0.0.5>;expires=120"], "3600"), "alice", 0, SOURCE)
    assert result.headers == [("Contact", "<sip:alice@10.0.0.5>;expires=120")]
    capped = r.register(register(["<sip:alice@10.0.0.6>"], "999999"), "alice", 0, SOURCE)
    assert ("Contact", "<sip:alice@10.0.0.6>;expires=3600") in capped.headers


def test_refusals() -> None:
    r = Registrar()
    too_brief = r.register(register(["<sip:alice@10.0.0.5>"], "10"), "alice", 0, SOURCE)
    assert too_brief.status == 423 and too_brief.headers == [("Min-Expires", "60")]
    assert r.register(register(["*"], "60"), "alice", 0, SOURCE).status == 400
    assert r.register(register(["*", "<sip:a@h>"], "0"), "alice", 0, SOURCE).status == 400
    assert r.register(register(["<sip:alice@h>"], "soon"), "alice", 0, SOURCE).status == 400
    assert r.bindings(0.0) == []
    # out of order: same Call-ID, CSeq not higher
    r.register(register(["<sip:alice@h>"], cseq=5), "alice", 0, SOURCE)
    assert r.register(register(["<sip:alice@h>"], "0", cseq=5), "alice", 1, SOURCE).status == 500
    assert r.lookup("alice", 2.0) is not None


def test_register_without_contact_lists_the_bindings() -> None:
    r = Registrar()
    r.register(register(["<sip:alice@h>"], "600"), "alice", 0, SOURCE)
    listed = r.register(register([], cseq=2), "alice", 100, SOURCE)
    assert listed.status == 200 and listed.headers == [("Contact", "<sip:alice@h>;expires=500")]
