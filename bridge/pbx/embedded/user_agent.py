"""The SIP user agent: calls in and out, offer/answer, hold, BYE, CANCEL and OPTIONS.

It knows dialogs and SDP, not conferences. An arriving INVITE is checked and given its SDP
answer here, once, and handed up as a `CallHandle` (its reference and its media) to
`CallEvents.call_arrived`; the engine decides and calls back down by reference: `answer`
(which binds the call's RTP port, then returns once the ACK is in: the call is up),
`reject` or later `hangup`. A call being routed, or refused, holds no RTP port, so a flood
of INVITEs cannot use up the range. What happens to a call afterwards flows up as
`call_ended` (the far end, or a timeout, ended it); its RFC 4733 digits do not pass here,
they go from its media straight to the engine (`RtpStream.on_digit`). Outbound calls are
`originate`d and resolve to an answered call's handle or a failure reason. The engine's
conference facts (participant, conference) never live here: it keys them by the call
reference.

SIP runs over UDP and TCP on the same port. With SIP users configured, REGISTER and initial
INVITEs must pass digest authentication (`sip_auth`), REGISTER keeps bindings in memory
(`sip_registrar`) and a dial-out to a registered user (`alice`, `sip:alice@<us>`) goes to
the phone's contact, over TCP on the phone's own connection if it registered that way.
With no users, nothing is challenged and REGISTER is refused (405) as before.

Limits, on purpose: an INVITE must carry an SDP offer (offer-less INVITEs get 488); RTP is
sent to the address in the SDP (no latching onto the packets' source); in-dialog requests
(re-INVITE, BYE) are tied to an authenticated dialog by its tags and are not challenged.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bridge.core.models import FailureReason
from bridge.pbx.backend import EngineError
from bridge.pbx.embedded.rtp_stream import PortPool, RtpStream
from bridge.pbx.embedded.sip_endpoint import Peer, ServerTx, SipEndpoint
from bridge.protocols.safe import is_safe
from bridge.protocols.sdp import (
    NegotiatedAudio,
    SdpError,
    SdpNotAcceptable,
    SessionDescription,
    accept_answer,
    answer_offer,
    build_offer,
    parse_sdp,
)
from bridge.protocols.sip import (
    ALLOW,
    ClientInviteTransaction,
    Dialog,
    NameAddr,
    SipBuildError,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    Via,
    build_cancel,
    build_request,
    build_response,
    local_via,
    new_call_id,
    new_tag,
    parse_uri,
    server_transaction_key,
)
from bridge.protocols.sip_auth import Decision, DigestGuard
from bridge.protocols.sip_registrar import Registrar

ALLOW_WITH_REGISTER = ALLOW + ", REGISTER"
LISTEN_ATTEMPTS = 8  # with port 0: UDP picks a port, TCP may find it taken; try again

SDP = "application/sdp"
UNBOUND_PORT = 9  # the accepted stream's port in an answer until `answer` binds the real one


class CallState(enum.Enum):
    ROUTING = "routing"  # inbound, not answered yet
    DIALING = "dialing"  # outbound, no final response yet
    ANSWERED = "answered"  # our 2xx is out, its ACK is not in yet (`answer` still waits)
    CONFIRMED = "confirmed"
    ENDED = "ended"


@dataclass(eq=False)
class Call:
    ref: str  # our call reference (the call_ref the spine stores)
    call_id: str
    outbound: bool
    peer: Peer
    stream: RtpStream
    invite: SipRequest
    state: CallState
    offer: SessionDescription | None = None  # outbound: our offer
    # inbound: our SDP answer, computed once when the INVITE arrived; its audio port is
    # filled in by `answer`, which binds it
    answer: SessionDescription | None = None
    invite_tx: ServerTx | None = None
    client_tx: ClientInviteTransaction | None = None  # outbound: our INVITE's transaction
    cancel_on_provisional: bool = False  # hung up before any provisional (RFC 3261 9.1)
    dialog: Dialog | None = None
    local_tag: str = field(default_factory=new_tag)
    sdp_version: int = 1
    access_code: str = ""
    caller_id: str | None = None
    last_ack: SipRequest | None = None
    acked: asyncio.Future[bool] | None = None  # inbound, once answered: True when the ACK is in

    @property
    def live(self) -> bool:
        return self.state is not CallState.ENDED

    @property
    def remote_hold(self) -> bool:
        audio = self.stream.audio
        return audio is not None and not audio.sending

    @property
    def handle(self) -> CallHandle:
        name = self.invite.from_addr.display_name
        return CallHandle(self.ref, self.stream, self.access_code, self.caller_id, name)


@dataclass(frozen=True, slots=True)
class CallHandle:
    """What the engine is handed: the call's reference and its media, nothing of SIP."""

    ref: str
    stream: RtpStream
    access_code: str = ""  # inbound: the dialled user part, if it is digits
    caller_id: str | None = None
    caller_name: str | None = None  # the From display name, unchecked (the router checks)


class CallEvents(Protocol):
    """What flows up to the engine; each names the call by its reference."""

    def call_arrived(self, call: CallHandle) -> None: ...

    def call_ended(self, ref: str) -> None:
        """The far end (or a timeout) ended a call that was not ended by `hangup`."""
        ...


@dataclass
class OutboundResult:
    call: CallHandle | None
    failure: FailureReason | None = None


class UserAgent:
    def __init__(
        self,
        host: str,
        advertised_host: str,
        ports: PortPool,
        events: CallEvents,
        *,
        users: Mapping[str, str] | None = None,
        realm: str | None = None,
        tcp: bool = True,
    ) -> None:
        """`users` (name -> password or `md5:<H(A1)>`) turns on digest auth and the registrar;
        `realm` defaults to the advertised host; `tcp` also listens on TCP."""
        self.host = host
        self.advertised = advertised_host
        self.port = 0
        self.ports = ports
        self.events = events
        self.endpoint = SipEndpoint(self)
        self.calls: dict[str, Call] = {}  # by Call-ID, for what SIP brings in
        self._refs: dict[str, Call] = {}  # by reference, for what the engine asks
        self.tcp = tcp
        self.guard: DigestGuard | None = None
        self.registrar: Registrar | None = None
        if users:
            self.guard = DigestGuard(users, realm or advertised_host)
            self.registrar = Registrar()

    async def listen(self, port: int) -> None:
        """UDP, and TCP on the same port number when enabled."""
        loop = asyncio.get_running_loop()
        for attempt in range(LISTEN_ATTEMPTS):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: self.endpoint, local_addr=(self.host, port)
            )
            self.port = int(transport.get_extra_info("sockname")[1])
            if not self.tcp:
                return
            try:
                await self.endpoint.listen_tcp(self.host, self.port)
                return
            except OSError:
                transport.close()
                if port != 0 or attempt == LISTEN_ATTEMPTS - 1:
                    raise

    def close(self) -> None:
        for call in list(self.calls.values()):
            self._hangup(call)
        self.endpoint.close()

    def describe(self) -> str:
        """Where we listen, for health: `udp:host:port tcp:host:port`."""
        listening = [f"udp:{self.host}:{self.port}"]
        if self.endpoint.tcp is not None:
            listening.append(f"tcp:{self.host}:{self.endpoint.tcp.port}")
        return " ".join(listening)

    # our identity ---------------------------------------------------------------------

    @property
    def contact(self) -> NameAddr:
        return self.contact_for("UDP")

    def contact_for(self, transport: str) -> NameAddr:
        suffix = ";transport=tcp" if transport == "TCP" else ""
        return NameAddr(parse_uri(f"sip:bridge@{self.advertised}:{self.port}{suffix}"))

    def _via(self, peer: Peer) -> Via:
        return local_via(peer.transport, self.advertised, self.port)

    @property
    def allow(self) -> str:
        return ALLOW if self.registrar is None else ALLOW_WITH_REGISTER

    def holds_connection(self, peer: Peer) -> bool:
        if any(call.peer == peer for call in self.calls.values()):
            return True
        if self.registrar is None:
            return False
        source = (peer.host, peer.port, peer.transport)
        return any(b.source == source for b in self.registrar.bindings(self.endpoint.now))

    def _new_stream(self) -> RtpStream:
        """An outbound call's media, bound to a port of the range (EngineError when none is
        free): our offer names it."""
        stream = RtpStream()
        self.ports.bind(self.host, stream)
        return stream

    def _add(self, call: Call) -> None:
        self.calls[call.call_id] = call
        self._refs[call.ref] = call

    def live(self, ref: str) -> bool:
        """Whether the call is still up (or still being set up)."""
        return ref in self._refs

    # requests in ----------------------------------------------------------------------

    def on_request(self, request: SipRequest, tx: ServerTx, addr: Peer) -> None:
        method = request.method
        call = self.calls.get(request.call_id)
        in_dialog = request.to_addr.tag is not None
        if method == "REGISTER" and self.registrar is not None:
            self._register(request, tx, addr)
            return
        if method == "INVITE" and not in_dialog and self._authenticated(request, tx) is None:
            return
        if in_dialog and method != "CANCEL":
            if call is None or call.dialog is None or not call.dialog.matches(request):
                self._reply(tx, 481)
                return
            if not call.dialog.accept_remote_cseq(request.cseq.seq):
                self._reply(tx, 500)
                return
        if method == "INVITE":
            if in_dialog and call is not None:
                self._reinvite(call, request, tx)
            else:
                self._new_invite(request, tx, addr)
        elif method == "BYE":
            if call is None or not in_dialog:
                self._reply(tx, 481)
                return
            self._reply(tx, 200)
            self._ended_by_peer(call)
        elif method == "CANCEL":
            self._cancel(request, tx)
        elif method == "OPTIONS":
            self._reply(tx, 200, headers=[("Allow", self.allow), ("Accept", SDP)])
        elif in_dialog:
            self._reply(tx, 501)
        else:
            self._reply(tx, 405, headers=[("Allow", self.allow)])

    def _authenticated(self, request: SipRequest, tx: ServerTx) -> str | None:
        """The user the request authenticated as ('' with auth off); None once refused."""
        if self.guard is None:
            return ""
        result = self.guard.check(request, self.endpoint.now)
        if result.decision is Decision.ACCEPT and result.username is not None:
            return result.username
        headers = []
        if result.challenge is not None:
            headers.append(("WWW-Authenticate", result.challenge))
        self._reply(tx, result.status, headers=headers)
        return None

    def _register(self, request: SipRequest, tx: ServerTx, peer: Peer) -> None:
        assert self.registrar is not None and self.guard is not None
        user = self._authenticated(request, tx)
        if user is None:
            return
        if request.to_addr.uri.user != user:
            self.guard.failures += 1
            self._reply(tx, 403)  # alice may not register bob's address
            return
        source = (peer.host, peer.port, peer.transport)
        result = self.registrar.register(request, user, self.endpoint.now, source)
        self._reply(tx, result.status, headers=result.headers)

    def _reply(
        self,
        tx: ServerTx,
        status: int,
        *,
        headers: list[tuple[str, str]] | None = None,
        to_tag: str | None = None,
        body: bytes = b"",
    ) -> None:
        response = build_response(
            tx.request,
            status,
            to_tag=to_tag or new_tag(),
            headers=headers or [],
            body=body,
            content_type=SDP if body else None,
        )
        self.endpoint.respond(tx, response)

    def _new_invite(self, request: SipRequest, tx: ServerTx, addr: Peer) -> None:
        """Check the INVITE and compute our SDP answer (the one place it is computed), then
        hand the call up; refusals found here never reach the engine. No RTP port is bound
        yet: `answer` binds it, once the engine has decided to answer."""
        if request.call_id in self.calls:
            self._reply(tx, 482)  # same Call-ID, new transaction, no To tag: a loop or fork
            return
        if request.content_type != SDP or not request.body:
            self._reply(tx, 488)
            return
        try:
            offer = parse_sdp(request.body)
        except SdpNotAcceptable:
            self._reply(tx, 488)
            return
        except SdpError:
            self._reply(tx, 400)
            return
        local_tag = new_tag()
        try:
            answer, audio = answer_offer(
                offer,
                local_address=self.advertised,
                local_port=UNBOUND_PORT,  # replaced by the bound port in `answer`
                session_id=_session_id(local_tag),
                session_version=1,
            )
        except SdpError as exc:
            self._reply(tx, 488 if isinstance(exc, SdpNotAcceptable) else 400)
            return
        if not request.contacts or request.from_addr.tag is None:
            self._reply(tx, 400)
            return
        stream = RtpStream()
        stream.configure(audio)  # applied when `answer` binds its port
        user = request.uri.user or ""
        call = Call(
            ref="emb-" + secrets.token_hex(8),
            call_id=request.call_id,
            outbound=False,
            peer=addr,
            stream=stream,
            invite=request,
            state=CallState.ROUTING,
            answer=answer,
            invite_tx=tx,
            local_tag=local_tag,
            access_code=user if is_safe(user, "digits") else "",
            caller_id=_caller_id(request),
        )
        self._add(call)
        self.events.call_arrived(call.handle)

    def _reinvite(self, call: Call, request: SipRequest, tx: ServerTx) -> None:
        """Hold and unhold (RFC 3264 8.4), or a new remote address: answer on the same port."""
        if call.state is not CallState.CONFIRMED or call.dialog is None:
            self._reply(tx, 491)
            return
        if request.content_type != SDP or not request.body:
            self._reply(tx, 488)
            return
        try:
            call.sdp_version += 1
            answer, audio = answer_offer(
                parse_sdp(request.body),
                local_address=self.advertised,
                local_port=call.stream.port,
                session_id=_session_id(call.local_tag),
                session_version=call.sdp_version,
            )
        except SdpNotAcceptable:
            self._reply(tx, 488)
            return
        except SdpError:
            self._reply(tx, 400)
            return
        call.dialog.refresh_target(request)
        call.stream.configure(audio)
        call.invite_tx = tx
        self._reply(
            tx,
            200,
            to_tag=call.local_tag,
            headers=[
                ("Contact", str(self.contact_for(call.peer.transport))),
                ("Allow", self.allow),
            ],
            body=answer.to_bytes(),
        )

    def _cancel(self, request: SipRequest, tx: ServerTx) -> None:
        key = server_transaction_key(request)
        invite_tx = self.endpoint.server_transaction((key[0], key[1], "INVITE"))
        if invite_tx is None:
            self._reply(tx, 481)
            return
        self._reply(tx, 200)
        call = self.calls.get(request.call_id)
        if call is not None and call.state is CallState.ROUTING and call.invite_tx is invite_tx:
            self._reply(invite_tx, 487, to_tag=call.local_tag)
            self._ended_by_peer(call)

    def on_ack(self, ack: SipRequest, addr: Peer) -> None:
        call = self.calls.get(ack.call_id)
        if call is None or call.dialog is None or not call.dialog.matches(ack):
            return
        if call.state is CallState.ANSWERED:
            call.state = CallState.CONFIRMED
            if call.acked is not None and not call.acked.done():
                call.acked.set_result(True)  # `answer` returns: the call is up

    def on_stray_response(self, response: SipResponse, addr: Peer) -> None:
        """A 2xx retransmitted after our INVITE transaction ended: ACK it again."""
        call = self.calls.get(response.call_id)
        if call is not None and call.last_ack is not None and 200 <= response.status < 300:
            self.endpoint.send(call.last_ack, call.peer)

    def on_server_timeout(self, tx: ServerTx) -> None:
        call = self.calls.get(tx.request.call_id)
        if call is not None and call.invite_tx is tx and call.state is CallState.ANSWERED:
            # no ACK for our 2xx: the call never came up, and `answer` returns False
            self._hangup(call)
            self.events.call_ended(call.ref)

    # decisions out --------------------------------------------------------------------

    async def answer(self, ref: str) -> bool:
        """Bind the call's RTP port and answer with the SDP answer made on its arrival, and
        return once its ACK is in (True: the call is up) or it ended first (False, as for
        CANCEL, or a 503 when no RTP port is free)."""
        call = self._refs.get(ref)
        if call is None or call.state is not CallState.ROUTING or call.invite_tx is None:
            return False
        assert call.answer is not None
        try:
            port = self.ports.bind(self.host, call.stream)
        except EngineError:
            self._reject(call, 503)  # no RTP port left
            return False
        _set_audio_port(call.answer, port)
        contact = self.contact_for(call.peer.transport)
        call.dialog = Dialog.as_uas(call.invite, call.local_tag, contact)
        call.state = CallState.ANSWERED
        acked: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        call.acked = acked
        self._reply(
            call.invite_tx,
            200,
            to_tag=call.local_tag,
            headers=[("Contact", str(contact)), ("Allow", self.allow)],
            body=call.answer.to_bytes(),
        )
        return await acked

    def reject(self, ref: str, status: int, headers: list[tuple[str, str]] | None = None) -> None:
        """Refuse a call not answered yet with `status`; a call up already is only dropped."""
        call = self._refs.get(ref)
        if call is not None:
            self._reject(call, status, headers)

    def _reject(
        self, call: Call, status: int, headers: list[tuple[str, str]] | None = None
    ) -> None:
        if call.state is CallState.ROUTING and call.invite_tx is not None:
            self._reply(call.invite_tx, status, headers=headers, to_tag=call.local_tag)
        self._forget(call)

    def hangup(self, ref: str, status: int = 480) -> None:
        """End the call from our side: BYE when it is up, `status` before it is answered,
        CANCEL while dialling. Nothing for a call already gone; no `call_ended` follows."""
        call = self._refs.get(ref)
        if call is not None:
            self._hangup(call, status)

    def _hangup(self, call: Call, status: int = 480) -> None:
        if call.state in (CallState.ANSWERED, CallState.CONFIRMED) and call.dialog is not None:
            peer = self._in_dialog_peer(call)
            bye = call.dialog.create_request("BYE", self._via(peer))
            self.endpoint.request(bye, peer, lambda response: None)
        elif call.state is CallState.ROUTING:
            self._reject(call, status)
            return
        elif call.state is CallState.DIALING:
            tx = call.client_tx
            if tx is None or tx.provisional_received:
                self._send_cancel(call)
            elif not tx.terminated:
                # RFC 3261 9.1: no CANCEL before a provisional response; stop retransmitting
                # and let Timer B end it, unless a provisional arrives first.
                call.cancel_on_provisional = True
                self.endpoint.abandon(tx)
        self._forget(call)

    def _send_cancel(self, call: Call) -> None:
        call.cancel_on_provisional = False
        self.endpoint.request(build_cancel(call.invite), call.peer, lambda response: None)

    def _in_dialog_peer(self, call: Call) -> Peer:
        """Where in-dialog requests go: the peer, or over TCP its contact once the phone's
        own connection is gone (only when the contact's host is an address)."""
        if self.endpoint.connected(call.peer) or call.dialog is None:
            return call.peer
        target = call.dialog.remote_target
        try:
            host = str(ipaddress.ip_address(target.host.strip("[]")))
        except ValueError:
            return call.peer
        return Peer(host, target.port or 5060, call.peer.transport)

    def _ended_by_peer(self, call: Call) -> None:
        if call.live:
            self._forget(call)
            self.events.call_ended(call.ref)

    def _forget(self, call: Call) -> None:
        call.state = CallState.ENDED
        call.stream.close()
        if call.acked is not None and not call.acked.done():
            call.acked.set_result(False)  # ended before its ACK: `answer` returns False
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]
        if self._refs.get(call.ref) is call:
            del self._refs[call.ref]

    # outbound -------------------------------------------------------------------------

    async def originate(
        self,
        target: SipUri,
        caller: NameAddr,
        answer_within: float,
    ) -> OutboundResult:
        """Call `target`; EngineError when no RTP port is free. Cancelled (the engine gave
        up: a kick, the conference ended), it ends the call it started: CANCEL, or BYE.

        A registered user of ours is called at its contact; `;transport=tcp` means TCP.
        """
        loop = asyncio.get_running_loop()
        request_uri, peer, failure = await self._destination(target)
        if peer is None:
            return OutboundResult(None, failure)
        ref = "emb-" + secrets.token_hex(8)
        stream = self._new_stream()
        offer = build_offer(
            local_address=self.advertised,
            local_port=stream.port,
            session_id=secrets.randbits(31),
            session_version=1,
        )
        try:
            invite = build_request(
                "INVITE",
                request_uri,
                via=self._via(peer),
                from_addr=caller.with_tag(new_tag()),
                to_addr=NameAddr(target),
                call_id=new_call_id(self.advertised),
                cseq=1,
                contact=self.contact_for(peer.transport),
                headers=[("Allow", self.allow)],
                body=offer.to_bytes(),
                content_type=SDP,
            )
        except SipBuildError:
            stream.close()
            return OutboundResult(None, FailureReason.REJECTED)
        call = Call(
            ref=ref,
            call_id=invite.call_id,
            outbound=True,
            peer=peer,
            stream=stream,
            invite=invite,
            state=CallState.DIALING,
            offer=offer,
        )
        self._add(call)
        outcome: asyncio.Future[OutboundResult] = loop.create_future()

        def settle(result: OutboundResult) -> None:
            if not outcome.done():
                outcome.set_result(result)

        def on_response(response: SipResponse | None) -> None:
            if response is None:
                self._forget(call)
                # Timer B: nothing answered at all; otherwise the transport failed
                tx = call.client_tx
                nobody = tx is not None and tx.timer_b_fired
                reason = FailureReason.NO_ANSWER if nobody else FailureReason.REJECTED
                settle(OutboundResult(None, reason))
            elif response.status >= 300:
                self._forget(call)
                settle(OutboundResult(None, _failure(response.status)))
            elif response.status >= 200:
                self._answered(call, response, settle)
            elif call.cancel_on_provisional:
                self._send_cancel(call)  # the CANCEL held back until now

        tx = self.endpoint.request(invite, peer, on_response)
        call.client_tx = tx if isinstance(tx, ClientInviteTransaction) else None
        try:
            return await asyncio.wait_for(asyncio.shield(outcome), answer_within)
        except TimeoutError:
            if call.state is CallState.DIALING:
                self._hangup(call)  # CANCEL, or wait for a provisional to CANCEL
            with contextlib.suppress(asyncio.InvalidStateError):
                outcome.set_result(OutboundResult(None, FailureReason.NO_ANSWER))
            return outcome.result()
        except asyncio.CancelledError:
            self._hangup(call)
            raise

    async def _destination(
        self, target: SipUri
    ) -> tuple[SipUri, Peer | None, FailureReason | None]:
        """The Request-URI and peer of a dial-out: a registered user's binding, or DNS."""
        if self.registrar is not None and self.guard is not None and self._ours(target):
            user = target.user or ""
            binding = self.registrar.lookup(user, self.endpoint.now)
            if binding is not None:
                host, port, transport = binding.source
                if transport == "TCP" and self.endpoint.connected(Peer(host, port, "TCP")):
                    return binding.contact, Peer(host, port, "TCP"), None  # its own flow
                target = binding.contact
            elif user in self.guard.users:
                return target, None, FailureReason.NO_ANSWER  # ours, but not registered now
        transport = "TCP" if str(target.params.get("transport", "")).lower() == "tcp" else "UDP"
        if transport == "TCP" and self.endpoint.tcp is None:
            return target, None, FailureReason.REJECTED
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target.host.strip("[]"), target.port or 5060, type=socket.SOCK_DGRAM
            )
            peer = Peer(str(infos[0][4][0]), int(infos[0][4][1]), transport)
        except (OSError, IndexError):
            return target, None, FailureReason.REJECTED
        return target, peer, None

    def _ours(self, target: SipUri) -> bool:
        hosts = {self.advertised.lower(), self.host.lower()}
        if self.guard is not None:
            hosts.add(self.guard.realm.lower())
        return target.host.lower() in hosts and target.port in (None, self.port)

    def _answered(
        self, call: Call, response: SipResponse, settle: Callable[[OutboundResult], None]
    ) -> None:
        try:
            dialog = Dialog.as_uac(call.invite, response)
        except SipParseError:
            self._forget(call)
            settle(OutboundResult(None, FailureReason.REJECTED))
            return
        call.dialog = dialog
        call.last_ack = dialog.create_ack(call.invite.cseq.seq, self._via(call.peer))
        self.endpoint.send(call.last_ack, call.peer)
        audio: NegotiatedAudio | None = None
        if call.offer is not None and response.content_type == SDP:
            with contextlib.suppress(SdpError):
                audio = accept_answer(call.offer, parse_sdp(response.body))
        if audio is None or call.state is not CallState.DIALING:
            call.state = CallState.CONFIRMED
            self._hangup(call)  # answered without usable media, or after we gave up
            settle(OutboundResult(None, FailureReason.REJECTED))
            return
        call.stream.configure(audio)
        call.state = CallState.CONFIRMED
        settle(OutboundResult(call.handle))


def _failure(status: int) -> FailureReason:
    if status in (486, 600):
        return FailureReason.BUSY
    if status in (408, 480):
        return FailureReason.NO_ANSWER
    return FailureReason.REJECTED


def _caller_id(request: SipRequest) -> str | None:
    user = request.from_addr.uri.user
    return user if user is not None and is_safe(user, "caller_id") else None


def _session_id(local_tag: str) -> int:
    return int(local_tag[:8], 16)


def _set_audio_port(answer: SessionDescription, port: int) -> None:
    """Put the bound port in the answer's one accepted stream (the others are refused: 0)."""
    for media in answer.media:
        if media.port == UNBOUND_PORT:
            media.port = port
