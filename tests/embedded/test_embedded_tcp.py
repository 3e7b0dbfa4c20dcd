"""SIP over TCP on the embedded engine: SIPp over TCP joins and is heard; responses go back on
the connection; bad, silent or oversized streams are cut off; a phone registered over TCP is
dialled out on its own connection."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from bridge_testing.embedded import HEARD, SECURED, Engine, joined, new_phone, until_status
from bridge_testing.phone import HOST, SipPhone, amplitude
from bridge_testing.sipp import start_sipp

from bridge.protocols.digest import build_authorization, parse_challenge
from bridge.protocols.sip import (
    NameAddr,
    SipMessage,
    SipRequest,
    SipResponse,
    SipStreamParser,
    build_request,
    build_response,
    local_via,
    new_call_id,
    new_tag,
    parse_uri,
)

pytestmark = pytest.mark.embedded


class TcpSipClient:
    """A bare SIP/TCP peer for tests: send messages, read framed ones, see the close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = SipStreamParser()
        self.inbox: list[SipMessage] = []
        self.port = int(writer.get_extra_info("sockname")[1])

    @classmethod
    async def open(cls, server: tuple[str, int]) -> TcpSipClient:
        reader, writer = await asyncio.open_connection(*server)
        return cls(reader, writer)

    def send(self, data: SipMessage | bytes) -> None:
        self.writer.write(data if isinstance(data, bytes) else data.to_bytes())

    async def receive(self, within: float = 5.0) -> SipMessage:
        async with asyncio.timeout(within):
            while not self.inbox:
                data = await self.reader.read(65536)
                assert data, "connection closed"
                self.inbox.extend(self.parser.feed(data))
        return self.inbox.pop(0)

    async def closed_by_peer(self, within: float = 5.0) -> bool:
        async with asyncio.timeout(within):
            while await self.reader.read(65536):
                pass
        return True

    def close(self) -> None:
        self.writer.close()


def options(client: TcpSipClient, server: tuple[str, int]) -> SipRequest:
    return build_request(
        "OPTIONS",
        parse_uri(f"sip:{server[0]}:{server[1]}"),
        via=local_via("TCP", HOST, client.port),
        from_addr=NameAddr(parse_uri(f"sip:probe@{HOST}")).with_tag(new_tag()),
        to_addr=NameAddr(parse_uri(f"sip:{server[0]}")),
        call_id=new_call_id(HOST),
        cseq=1,
    )


async def test_options_is_answered_on_the_same_connection(engine: Engine) -> None:
    client = await TcpSipClient.open(engine.sip)
    try:
        client.send(b"\r\n\r\n")  # RFC 5626 keep-alive: answered with a CRLF pong, no message
        request = options(client, engine.sip)
        client.send(request)
        response = await client.receive()
        assert isinstance(response, SipResponse) and response.status == 200
        assert response.top_via.transport == "TCP" and response.call_id == request.call_id
        assert engine.backend.ua.endpoint.tcp is not None
        assert len(engine.backend.ua.endpoint.tcp.connections) == 1
    finally:
        client.close()


@pytest.mark.parametrize(
    "junk",
    [
        b"NOT SIP AT ALL\r\n\r\n",
        b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nX: " + b"a" * 70_000,  # a header that never ends
        b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nContent-Length: 999999\r\n\r\n",
    ],
)
async def test_a_bad_stream_is_cut_off_and_the_engine_carries_on(
    engine: Engine, junk: bytes
) -> None:
    before = engine.backend.ua.endpoint.malformed
    client = await TcpSipClient.open(engine.sip)
    client.send(junk)
    assert await client.closed_by_peer()
    assert engine.backend.ua.endpoint.malformed == before + 1
    client.close()
    again = await TcpSipClient.open(engine.sip)
    again.send(options(again, engine.sip))
    response = await again.receive()
    assert isinstance(response, SipResponse) and response.status == 200
    again.close()


async def test_silent_or_stalled_connections_are_closed(engine: Engine) -> None:
    tcp = engine.backend.ua.endpoint.tcp
    assert tcp is not None
    tcp.partial_timeout = 0.3
    silent = await TcpSipClient.open(engine.sip)
    stalled = await TcpSipClient.open(engine.sip)
    stalled.send(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1")
    started = time.monotonic()
    assert await silent.closed_by_peer() and await stalled.closed_by_peer()
    assert time.monotonic() - started < 4.0
    silent.close()
    stalled.close()


@pytest.mark.usefixtures("sipp_installed")
async def test_sipp_over_tcp_joins_and_is_heard(
    engine: Engine, phones: list[SipPhone], tmp_path: Path
) -> None:
    cid = await engine.conference("7201", play_beep="never")
    listener = await new_phone(phones, "listener")
    assert await listener.call(engine.sip, "7201") == 200
    sipp = start_sipp(
        tmp_path / "sipp", engine.sip, "7201",
        scenario="uac_stream.xml", duration_ms=4000, options=["-t", "t1"],
    )  # fmt: skip
    try:
        people = await joined(engine, cid, 2)
        caller = next(p for p in people if p["from"] == "sipp")
        assert amplitude(await listener.listen(1.0), 1000.0) > HEARD
        code = await asyncio.to_thread(sipp.process.wait, 30)
        assert code == 0, sipp.output()  # its BYE over TCP got our 200
        left = await until_status(engine, cid, caller["id"], "left")
        assert left["leave_reason"] == "hangup"
    finally:
        sipp.stop()


@pytest.mark.parametrize("engine_options", [SECURED], ids=["with_users"])
async def test_phone_registered_over_tcp_is_dialled_on_its_connection(engine: Engine) -> None:
    secured = engine
    cid = await secured.conference("7202")
    client = await TcpSipClient.open(secured.sip)
    try:
        aor = parse_uri(f"sip:alice@{secured.sip[0]}")
        contact = f"<sip:alice@{HOST}:{client.port};transport=tcp>"
        call_id, tag = new_call_id(HOST), new_tag()
        authorization: list[tuple[str, str]] = []
        for cseq in (1, 2):
            register = build_request(
                "REGISTER",
                parse_uri(f"sip:{secured.sip[0]}:{secured.sip[1]}"),
                via=local_via("TCP", HOST, client.port),
                from_addr=NameAddr(aor).with_tag(tag),
                to_addr=NameAddr(aor),
                call_id=call_id,
                cseq=cseq,
                headers=[("Contact", contact), ("Expires", "300"), *authorization],
            )
            client.send(register)
            response = await client.receive()
            assert isinstance(response, SipResponse)
            if response.status != 401:
                break
            challenge = parse_challenge(response.headers.get("www-authenticate") or "")
            answer = build_authorization(
                challenge, username="alice", password="alice-pw", method="REGISTER",
                uri=str(register.uri),
            )  # fmt: skip
            authorization = [("Authorization", answer)]
        assert isinstance(response, SipResponse) and response.status == 200

        p = await secured.ok(
            "POST", f"/v1/conferences/{cid}/participants", 201, json={"to": "alice"}
        )
        invite = await client.receive()
        assert isinstance(invite, SipRequest) and invite.method == "INVITE"
        assert invite.top_via.transport == "TCP"
        assert str(invite.uri) == f"sip:alice@{HOST}:{client.port};transport=tcp"
        client.send(build_response(invite, 486, to_tag=new_tag()))
        ack = await client.receive()
        assert isinstance(ack, SipRequest) and ack.method == "ACK"
        failed = await until_status(secured, cid, p["id"], "failed")
        assert failed["failure_reason"] == "busy"
    finally:
        client.close()
