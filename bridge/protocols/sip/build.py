"""Building SIP messages: identifiers, request and response construction from our
users' values (always through `safe_value`), CANCEL and the ACK of a failure.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Final

from bridge.protocols.safe import safe_value
from bridge.protocols.sip.message import SipRequest, SipResponse
from bridge.protocols.sip.syntax import (
    _CALL_ID_RE,
    _TOKEN_RE,
    BRANCH_MAGIC,
    Headers,
    NameAddr,
    SipBuildError,
    SipParseError,
    SipUri,
    Via,
    parse_uri,
)

# ---------------------------------------------------------------------------
# Identifiers and values from our users


def new_branch() -> str:
    return BRANCH_MAGIC + secrets.token_hex(10)


def new_tag() -> str:
    return secrets.token_hex(8)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{safe_value(host, 'dial_target')}"


def target_uri(target: str, default_host: str) -> SipUri:
    """A dial-out or divert target (``alice``, ``alice@pbx``, ``sip:alice@pbx:5080``) as a URI."""
    value = safe_value(target, "dial_target")
    if value.lower().startswith(("sip:", "sips:")):
        text = value
    elif "@" in value:
        text = "sip:" + value
    else:
        text = f"sip:{value}@{safe_value(default_host, 'dial_target')}"
    try:
        return parse_uri(text)
    except SipParseError as exc:
        raise SipBuildError(f"refused target {target!r}: {exc}") from None


def caller_address(caller_id: str, host: str, display_name: str | None = None) -> NameAddr:
    """The From address of an outbound call, from a validated caller id and display name."""
    user = safe_value(caller_id, "caller_id")
    display = None if display_name is None else safe_value(display_name, "text")
    return NameAddr(parse_uri(f"sip:{user}@{safe_value(host, 'dial_target')}"), display)


REASONS: Final = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    302: "Moved Temporarily",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    603: "Decline",
}

ALLOW: Final = "INVITE, ACK, BYE, CANCEL, OPTIONS"


# ---------------------------------------------------------------------------
# Building messages


def build_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> SipResponse:
    """A response to ``request`` (RFC 3261 8.2.6): Via, From, To, Call-ID and CSeq copied.

    ``to_tag`` is added to To unless it already has one or the status is 100.
    Record-Route is copied into dialog-establishing responses (12.1.1).
    """
    if not 100 <= status <= 699:
        raise SipBuildError(f"bad status {status}")
    text = REASONS.get(status, "Unknown") if reason is None else safe_value(reason, "text")
    out = Headers()
    for value in request.headers.get_all("via"):
        out.add("Via", value)
    out.add("From", request._required("from"))
    to = request.to_addr
    if to_tag is not None and to.tag is None and status != 100:
        out.add("To", str(to.with_tag(safe_value(to_tag, "token"))))
    else:
        out.add("To", request._required("to"))
    out.add("Call-ID", request.call_id)
    out.add("CSeq", request._required("cseq"))
    if request.method in ("INVITE", "SUBSCRIBE") and 100 < status < 300:
        for value in request.headers.get_all("record-route"):
            out.add("Record-Route", value)
    for name, value in headers:
        out.add(name, value)
    if content_type is not None:
        out.add("Content-Type", content_type)
    return SipResponse(status, text, out, body)


def build_request(
    method: str,
    request_uri: SipUri,
    *,
    via: Via,
    from_addr: NameAddr,
    to_addr: NameAddr,
    call_id: str,
    cseq: int,
    contact: NameAddr | None = None,
    routes: Sequence[str] = (),
    max_forwards: int = 70,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> SipRequest:
    if _TOKEN_RE.fullmatch(method) is None or _CALL_ID_RE.fullmatch(call_id) is None:
        raise SipBuildError("bad method or Call-ID")
    if not 0 <= cseq < 2**31:
        raise SipBuildError("bad CSeq number")
    out = Headers()
    out.add("Via", str(via))
    out.add("Max-Forwards", str(max_forwards))
    for route in routes:
        out.add("Route", route)
    out.add("From", str(from_addr))
    out.add("To", str(to_addr))
    out.add("Call-ID", call_id)
    out.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        out.add("Contact", str(contact))
    for name, value in headers:
        out.add(name, value)
    if content_type is not None:
        out.add("Content-Type", content_type)
    return SipRequest(method, request_uri, out, body)


def local_via(transport: str, host: str, port: int | None, branch: str | None = None) -> Via:
    """Our own Via with a fresh RFC 3261 branch and ``rport`` (RFC 3581)."""
    return Via(
        safe_value(transport, "token").upper(),
        safe_value(host, "dial_target"),
        port,
        {"branch": branch or new_branch(), "rport": None},
    )


def build_cancel(invite: SipRequest) -> SipRequest:
    """CANCEL for a pending INVITE (RFC 3261 9.1): same branch, Call-ID, From, To, CSeq number."""
    out = Headers()
    out.add("Via", invite._required("via"))
    out.add("Max-Forwards", "70")
    for route in invite.headers.get_all("route"):
        out.add("Route", route)
    out.add("From", invite._required("from"))
    out.add("To", invite._required("to"))
    out.add("Call-ID", invite.call_id)
    out.add("CSeq", f"{invite.cseq.seq} CANCEL")
    return SipRequest("CANCEL", invite.uri, out)


def build_ack_for_failure(invite: SipRequest, response: SipResponse) -> SipRequest:
    """ACK for a 300-699 final response, sent by the client transaction (RFC 3261 17.1.1.3)."""
    out = Headers()
    out.add("Via", invite._required("via"))
    out.add("Max-Forwards", "70")
    for route in invite.headers.get_all("route"):
        out.add("Route", route)
    out.add("From", invite._required("from"))
    out.add("To", response._required("to"))
    out.add("Call-ID", invite.call_id)
    out.add("CSeq", f"{invite.cseq.seq} ACK")
    return SipRequest("ACK", invite.uri, out)
