"""Sans-IO SIP (RFC 3261), one module per layer, bottom up:

- `syntax`: limits, header names, `Headers`, parameters, URIs, name-addrs, Via, CSeq;
- `message`: `SipRequest` / `SipResponse` and the datagram parser;
- `framing`: messages framed out of a TCP byte stream;
- `build`: identifiers and message construction from our users' values;
- `dialog`: the dialog record and in-dialog requests;
- `transaction`: the four transaction machines, each a table (state x input -> handler).

Bytes in, typed messages out, and back. Nothing here touches a socket or a clock:
transactions are told the time (``now``, seconds from any monotonic origin) and
answer with effects (send this, hand that to the TU, timed out) plus the next
deadline at which the caller's IO loop must call ``on_timer``.

Parsing is strict and bounded: anything malformed raises `SipParseError`, and no input
makes the parser do more than linear work in its (capped) size. Everything we build from
our own users' values goes through `bridge.protocols.safe.safe_value`; `Headers` refuses
CR, LF and NUL in any value as a last line of defence.

This package re-exports each layer's public names, so callers import from
`bridge.protocols.sip`; the modules share a few underscored helpers among themselves.
"""

from bridge.protocols.sip.build import (
    ALLOW,
    REASONS,
    build_ack_for_failure,
    build_cancel,
    build_request,
    build_response,
    caller_address,
    local_via,
    new_branch,
    new_call_id,
    new_tag,
    target_uri,
)
from bridge.protocols.sip.dialog import (
    Dialog,
)
from bridge.protocols.sip.framing import (
    SipStreamParser,
)
from bridge.protocols.sip.message import (
    SipMessage,
    SipRequest,
    SipResponse,
    is_keepalive,
    parse_message,
)
from bridge.protocols.sip.syntax import (
    BRANCH_MAGIC,
    MAX_HEAD_SIZE,
    MAX_HEADERS,
    MAX_MESSAGE_SIZE,
    T1,
    T2,
    T4,
    CSeq,
    Headers,
    NameAddr,
    Params,
    SipBuildError,
    SipParseError,
    SipUri,
    Via,
    parse_cseq,
    parse_name_addr,
    parse_uri,
    parse_via,
    quote,
)
from bridge.protocols.sip.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Deliver,
    Effect,
    Input,
    Send,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TimedOut,
    Timer,
    TxState,
    client_transaction_key,
    server_transaction_key,
)

__all__ = [
    "ALLOW",
    "BRANCH_MAGIC",
    "MAX_HEADERS",
    "MAX_HEAD_SIZE",
    "MAX_MESSAGE_SIZE",
    "REASONS",
    "T1",
    "T2",
    "T4",
    "CSeq",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "Deliver",
    "Dialog",
    "Effect",
    "Headers",
    "Input",
    "NameAddr",
    "Params",
    "Send",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "SipBuildError",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipStreamParser",
    "SipUri",
    "TimedOut",
    "Timer",
    "TxState",
    "Via",
    "build_ack_for_failure",
    "build_cancel",
    "build_request",
    "build_response",
    "caller_address",
    "client_transaction_key",
    "is_keepalive",
    "local_via",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_cseq",
    "parse_message",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
    "quote",
    "server_transaction_key",
    "target_uri",
]
