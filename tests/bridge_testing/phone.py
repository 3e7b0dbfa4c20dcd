"""A SIP phone for tests: our own asyncio UAC/UAS with an RTP peer that sends tones and records.

Signalling is built with the project's sans-IO SIP codec (on a loss-free loopback, without
retransmissions). Media: one PCMU packet every 20 ms on the loop's clock, carrying a tone
(or silence), RFC 4733 digits on demand; every received PCMU frame is decoded and kept with
its arrival time so a test can look at the spectrum of any window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from bridge.media import FRAME_SAMPLES, SILENCE_FRAME, g711, tones
from bridge.protocols.digest import build_authorization, parse_challenge
from bridge.protocols.rtp import RtpSender, parse_rtp
from bridge.protocols.sdp import accept_answer, answer_offer, build_offer, parse_sdp
from bridge.protocols.sip import (
    Dialog,
    NameAddr,
    SipRequest,
    SipResponse,
    build_request,
    build_response,
    local_via,
    new_call_id,
    new_tag,
    parse_message,
    parse_uri,
)
from bridge_testing.wait import until

Address = tuple[str, int]
HOST = "127.0.0.1"
RESEND_SECONDS = 0.5  # the INVITE again until any response (RFC 3261 Timer A, simplified)


def amplitude(pcm: bytes, hz: float) -> float:
    """Peak amplitude of the sinusoid at `hz` in 8 kHz PCM (Hann-windowed FFT, +-3 Hz)."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    if samples.size < 400:
        return 0.0
    window = np.hanning(samples.size)
    spectrum = np.abs(np.fft.rfft(samples * window)) * 2 / window.sum()
    freqs = np.fft.rfftfreq(samples.size, 1 / 8000)
    band = (freqs > hz - 3) & (freqs < hz + 3)
    return float(spectrum[band].max())


def burst_amplitude(pcm: bytes, hz: float, seconds: float = 0.2) -> float:
    """The largest `amplitude` over short overlapping windows: finds a brief beep anywhere."""
    size = int(seconds * 8000) * 2
    step = size // 2
    starts = range(0, max(1, len(pcm) - size + 1), step)
    return max(amplitude(pcm[i : i + size], hz) for i in starts)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_datagram(data, (addr[0], addr[1]))


@dataclass
class SipPhone:
    name: str
    tone_hz: float | None = None
    answer_mode: str = "answer"  # for calls to us: answer | busy | ring | silent
    received: list[tuple[float, bytes]] = field(default_factory=list)
    responses: list[SipResponse] = field(default_factory=list)
    requests: list[SipRequest] = field(default_factory=list)
    final_status: int | None = None
    bye_received: bool = False
    answered: bool = False
    dialog: Dialog | None = None
    remote_media: Address | None = None
    unanswered: tuple[SipRequest, Address] | None = None  # the last INVITE a silent phone got
    display_name: str | None = None  # the From display name of its calls
    held_acks: list[tuple[SipRequest, Address]] | None = None  # not None: ACKs kept back

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._sip = _Udp(self._on_sip)
        await loop.create_datagram_endpoint(lambda: self._sip, local_addr=(HOST, 0))
        self._rtp = _Udp(self._on_rtp)
        await loop.create_datagram_endpoint(lambda: self._rtp, local_addr=(HOST, 0))
        assert self._sip.transport is not None and self._rtp.transport is not None
        self.sip_port = self._sip.transport.get_extra_info("sockname")[1]
        self.rtp_port = self._rtp.transport.get_extra_info("sockname")[1]
        self.sender = RtpSender(0)
        self._server: Address | None = None
        self._tone = tones.tone_pcm([self.tone_hz], 1000, 6000) if self.tone_hz else None
        self._frame_index = 0
        self._pending: list[bytes] = []  # DTMF packets waiting for their 20 ms slots
        self._stall_until = 0.0
        self._invite: SipRequest | None = None
        self._media_task = asyncio.create_task(self._media())

    async def stop(self) -> None:
        self._media_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._media_task
        for udp in (self._sip, self._rtp):
            if udp.transport is not None:
                udp.transport.close()

    @property
    def uri(self) -> str:
        return f"{self.name}@{HOST}:{self.sip_port}"

    # signalling --------------------------------------------------------------------

    def _send_sip(self, message: SipRequest | SipResponse, addr: Address) -> None:
        assert self._sip.transport is not None
        self._sip.transport.sendto(message.to_bytes(), addr)

    def _contact(self) -> NameAddr:
        return NameAddr(parse_uri(f"sip:{self.name}@{HOST}:{self.sip_port}"))

    def _offer(self, direction: str = "sendrecv") -> bytes:
        return build_offer(
            local_address=HOST,
            local_port=self.rtp_port,
            session_id=1,
            session_version=int(time.monotonic() * 1000) % 100000,
            direction=direction,  # type: ignore[arg-type]
        ).to_bytes()

    async def call(
        self, server: Address, user: str, *, within: float = 5.0, sdp: bytes | None = None
    ) -> int:
        """INVITE `user` at `server`; returns the final status (2xx: answered and ACKed)."""
        self._server = server
        self.final_status = None
        self._invite = build_request(
            "INVITE",
            parse_uri(f"sip:{user}@{server[0]}:{server[1]}"),
            via=local_via("UDP", HOST, self.sip_port),
            from_addr=NameAddr(parse_uri(f"sip:{self.name}@{HOST}"), self.display_name).with_tag(
                new_tag()
            ),
            to_addr=NameAddr(parse_uri(f"sip:{user}@{server[0]}")),
            call_id=new_call_id(HOST),
            cseq=1,
            contact=self._contact(),
            body=self._offer() if sdp is None else sdp,
            content_type="application/sdp",
        )
        self._offer_sd = parse_sdp(self._invite.body) if sdp is None else None
        await self._send_invite(within)
        assert self.final_status is not None
        return self.final_status

    async def hold(self, on: bool) -> int:
        """re-INVITE with sendonly (hold) or sendrecv (resume)."""
        assert self.dialog is not None and self._server is not None
        self.final_status = None
        self._invite = self.dialog.create_request(
            "INVITE",
            local_via("UDP", HOST, self.sip_port),
            body=self._offer("sendonly" if on else "sendrecv"),
            content_type="application/sdp",
        )
        await self._send_invite(5.0)
        assert self.final_status is not None
        return self.final_status

    async def _send_invite(self, within: float) -> None:
        """Send the INVITE, again every 0.5 s until any response (RFC 3261 Timer A, simplified)."""
        invite, server = self._invite, self._server
        assert invite is not None and server is not None
        count = len(self.responses)
        sent_at = -RESEND_SECONDS

        def responded() -> bool:
            nonlocal sent_at
            if len(self.responses) > count:
                return True
            if time.monotonic() - sent_at >= RESEND_SECONDS:
                self._send_sip(invite, server)
                sent_at = time.monotonic()
            return False

        await until(responded, within, f"{self.name}: a response to INVITE")
        await until(lambda: self.final_status is not None, within, f"{self.name} answer")

    async def hangup(self) -> None:
        assert self.dialog is not None and self._server is not None
        bye = self.dialog.create_request("BYE", local_via("UDP", HOST, self.sip_port))
        count = len(self.responses)
        self._send_sip(bye, self._server)
        await until(
            lambda: any(r.cseq.method == "BYE" for r in self.responses[count:]), 5.0, "BYE 200"
        )
        self.remote_media = None

    def _on_sip(self, data: bytes, addr: Address) -> None:
        message = parse_message(data)
        if isinstance(message, SipResponse):
            self._on_response(message, addr)
        else:
            self._on_request(message, addr)

    def _on_response(self, response: SipResponse, addr: Address) -> None:
        self.responses.append(response)
        if response.cseq.method != "INVITE" or response.status < 200 or self._invite is None:
            return
        invite = self._invite
        if self.dialog is None and response.status < 300:
            self.dialog = Dialog.as_uac(invite, response)
        if response.status < 300 and self.dialog is not None:
            ack = self.dialog.create_ack(invite.cseq.seq, local_via("UDP", HOST, self.sip_port))
            audio = accept_answer(parse_sdp(invite.body), parse_sdp(response.body))
            self.remote_media = (audio.remote_address, audio.remote_port)
            self.answered = True
        else:
            ack = SipRequest("ACK", invite.uri, invite.headers.copy())
            ack.headers.set("CSeq", f"{invite.cseq.seq} ACK")
            ack.headers.set("To", response.headers.get("to") or "")
            ack.headers.remove("content-type")
        if self.held_acks is not None:
            self.held_acks.append((ack, addr))  # a phone whose ACK is late or lost
        else:
            self._send_sip(ack, addr)
        if self.final_status is None:
            self.final_status = response.status

    def release_acks(self) -> None:
        """Send the ACKs kept back, and the ones to come at once."""
        held, self.held_acks = self.held_acks or [], None
        for ack, addr in held:
            self._send_sip(ack, addr)

    def _on_request(self, request: SipRequest, addr: Address) -> None:
        self.requests.append(request)
        if request.method == "BYE":
            self.bye_received = True
            self.remote_media = None
            self._send_sip(build_response(request, 200), addr)
        elif request.method == "INVITE":
            self._incoming_invite(request, addr)
        elif request.method != "ACK":  # CANCEL, OPTIONS...
            self._send_sip(build_response(request, 200), addr)

    def _incoming_invite(self, request: SipRequest, addr: Address) -> None:
        tag = new_tag()
        if self.answer_mode == "busy":
            self._send_sip(build_response(request, 486, to_tag=tag), addr)
            return
        if self.answer_mode == "ring":
            self._send_sip(build_response(request, 180, to_tag=tag), addr)
            return
        if self.answer_mode == "silent":  # answers nothing, not even 100 Trying
            self.unanswered = (request, addr)
            return
        answer, audio = answer_offer(
            parse_sdp(request.body),
            local_address=HOST,
            local_port=self.rtp_port,
            session_id=7,
            session_version=1,
        )
        self.dialog = Dialog.as_uas(request, tag, self._contact())
        self._server = addr
        self.remote_media = (audio.remote_address, audio.remote_port)
        self.answered = True
        self._send_sip(
            build_response(
                request,
                200,
                to_tag=tag,
                headers=[("Contact", str(self._contact()))],
                body=answer.to_bytes(),
                content_type="application/sdp",
            ),
            addr,
        )

    # media -------------------------------------------------------------------------

    def ring_now(self) -> None:
        """A silent phone's late 180 Ringing to the last INVITE it ignored."""
        assert self.unanswered is not None
        request, addr = self.unanswered
        self._send_sip(build_response(request, 180, to_tag=new_tag()), addr)

    def send_digits(self, digits: str) -> None:
        for digit in digits:
            self._pending.extend(p.to_bytes() for p in self.sender.dtmf(digit, 101))

    def set_tone(self, hz: float | None) -> None:
        self._tone = tones.tone_pcm([hz], 1000, 6000) if hz else None
        self.tone_hz = hz

    def _next_frame(self) -> bytes:
        if self._tone is None:
            return SILENCE_FRAME
        size = FRAME_SAMPLES * 2
        start = (self._frame_index % 50) * size
        self._frame_index += 1
        return self._tone[start : start + size]

    def stall(self, seconds: float) -> None:
        """Hold the packets of the next `seconds` back, then send them all at once (as a
        congested uplink delivers them)."""
        self._stall_until = asyncio.get_running_loop().time() + seconds

    async def _media(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        held: list[bytes] = []
        while True:
            due += 0.02
            await asyncio.sleep(max(0.0, due - loop.time()))
            target, transport = self.remote_media, self._rtp.transport
            if target is None or transport is None:
                continue
            if self._pending:
                held.append(self._pending.pop(0))
            else:
                held.append(self.sender.audio(g711.ulaw_encode(self._next_frame())).to_bytes())
            if loop.time() < self._stall_until:
                continue
            for packet in held:
                transport.sendto(packet, target)
            held.clear()

    def _on_rtp(self, data: bytes, addr: Address) -> None:
        packet = parse_rtp(data)
        if packet.payload_type == 0:
            self.received.append((time.monotonic(), g711.ulaw_decode(packet.payload)))

    def heard_since(self, mark: float) -> bytes:
        return b"".join(frame for at, frame in self.received if at >= mark)

    async def listen(self, seconds: float = 1.0) -> bytes:
        """Audio received over the next `seconds` (waits for that many frames to arrive)."""
        mark = time.monotonic()
        frames = int(seconds * 50)
        await until(
            lambda: sum(1 for at, _ in self.received[-frames - 5 :] if at >= mark) >= frames,
            seconds + 5.0,
            f"{self.name} to receive {frames} frames",
        )
        return self.heard_since(mark)

    # digest authentication (helpers for a bridge with SIP users) ---------------------

    def _authorization(
        self, response: SipResponse, method: str, uri: str, username: str, password: str
    ) -> str:
        challenge = parse_challenge(response.headers.get("www-authenticate") or "")
        return build_authorization(
            challenge, username=username, password=password, method=method, uri=uri
        )

    async def _transact(self, request: SipRequest, server: Address, within: float) -> SipResponse:
        """Send a non-INVITE request until a final response to it arrives."""
        self._server = server
        key = (request.call_id, request.cseq.seq, request.cseq.method)

        def final() -> SipResponse | None:
            return next(
                (
                    r
                    for r in self.responses
                    if (r.call_id, r.cseq.seq, r.cseq.method) == key and r.status >= 200
                ),
                None,
            )

        self._send_sip(request, server)
        await until(lambda: final() is not None, within, f"{self.name}: answer to {key}")
        response = final()
        assert response is not None
        return response

    async def register(
        self,
        server: Address,
        username: str,
        password: str | None,
        *,
        expires: int = 600,
        contact: str | None = None,
        within: float = 5.0,
    ) -> SipResponse:
        """REGISTER `sip:username@<server>` -> this phone, answering one digest challenge."""
        aor = parse_uri(f"sip:{username}@{server[0]}")
        call_id = new_call_id(HOST)
        tag = new_tag()
        response: SipResponse | None = None
        for cseq in (1, 2):
            headers = [("Expires", str(expires))]
            if response is not None and password is not None:
                uri = f"sip:{server[0]}:{server[1]}"
                headers.append(
                    ("Authorization", self._authorization(response, "REGISTER", uri, username,
                                                          password))
                )  # fmt: skip
            request = build_request(
                "REGISTER",
                parse_uri(f"sip:{server[0]}:{server[1]}"),
                via=local_via("UDP", HOST, self.sip_port),
                from_addr=NameAddr(aor).with_tag(tag),
                to_addr=NameAddr(aor),
                call_id=call_id,
                cseq=cseq,
                headers=[("Contact", contact or str(self._contact())), *headers],
            )
            response = await self._transact(request, server, within)
            if response.status != 401 or password is None:
                break
        assert response is not None
        return response

    async def call_with_auth(
        self, server: Address, user: str, username: str, password: str, *, within: float = 5.0
    ) -> int:
        """INVITE as `call` does; on a 401, INVITE again (CSeq 2) with the digest answer."""
        status = await self.call(server, user, within=within)
        if status != 401:
            return status
        first = self._invite
        assert first is not None
        challenge = next(
            r for r in reversed(self.responses) if r.status == 401 and r.call_id == first.call_id
        )
        again = SipRequest("INVITE", first.uri, first.headers.copy(), first.body)
        again.headers.set("Via", str(local_via("UDP", HOST, self.sip_port)))
        again.headers.set("CSeq", "2 INVITE")
        auth = self._authorization(challenge, "INVITE", str(first.uri), username, password)
        again.headers.add("Authorization", auth)
        self._invite = again
        self.final_status = None
        await self._send_invite(within)
        assert self.final_status is not None
        return self.final_status
