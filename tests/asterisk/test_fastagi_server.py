"""Our FastAGI server over real TCP, without Asterisk: a scripted client plays
Asterisk's side of the conversation."""

from __future__ import annotations

import asyncio

import pytest

from bridge.pbx.asterisk.fastagi import AgiSession, FastAgiLimits, FastAgiServer, route_by_script

ENV = (
    b"agi_network: yes\n"
    b"agi_network_script: dialin\n"
    b"agi_request: agi://127.0.0.1/dialin\n"
    b"agi_channel: PJSIP/alice-00000001\n"
    b"agi_uniqueid: 1700000000.1\n"
    b"agi_arg_1: 4242\n"
    b"\n"
)


async def _fake_asterisk_call(port: int, replies: dict[bytes, bytes]) -> list[bytes]:
    """Connect like Asterisk, answer each command from ``replies``, return the commands."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ENV)
    commands: list[bytes] = []
    while line := await reader.readline():
        commands.append(line)
        verb = next((k for k in replies if line.startswith(k)), None)
        writer.write(replies[verb] if verb is not None else b"510 Invalid or unknown command\n")
        await writer.drain()
    writer.close()
    return commands


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server closed the connection (EOF, or a reset when our
    unread bytes were still in its buffer)."""
    try:
        return await reader.read() == b""
    except ConnectionResetError:
        return True


async def test_handler_runs_commands_and_gets_parsed_replies() -> None:
    seen: dict[str, object] = {}

    async def handler(session: AgiSession) -> None:
        seen["args"] = session.env.args
        seen["set"] = await session.set_variable("BRIDGE_CONF", "cb-1", "name")
        seen["get"] = await session.get_variable("BRIDGE_CALLER")
        seen["pin"] = await session.get_data("conf-getpin", timeout_ms=100, max_digits=4)

    replies = {
        b"SET VARIABLE": b"200 result=1\n",
        b"GET VARIABLE": b"HANGUP\n200 result=1 (+15551234567)\n",
        b"GET DATA": b"520-Invalid command syntax.  Proper usage follows:\nUsage: x\n"
        b"520 End of proper usage.\n",
    }
    async with FastAgiServer(handler, port=0) as server:
        async with asyncio.timeout(10):
            commands = await _fake_asterisk_call(server.port, replies)
    assert commands == [
        b"SET VARIABLE BRIDGE_CONF cb-1\n",
        b"GET VARIABLE BRIDGE_CALLER\n",
        b"GET DATA conf-getpin 100 4\n",
    ]
    assert seen["args"] == ("4242",)
    assert seen["get"] == "+15551234567"
    pin = seen["pin"]
    assert getattr(pin, "code", None) == 520


async def test_partial_header_then_disconnect_does_not_block_another_call() -> None:
    served = asyncio.Event()

    async def handler(session: AgiSession) -> None:
        await session.set_variable("BRIDGE_CONF", "cb-1", "name")
        served.set()

    limits = FastAgiLimits(header_timeout=30.0)  # long: the partial client must not need it
    async with FastAgiServer(handler, port=0, limits=limits) as server:
        # 1: a partial environment line, then a disconnect.
        _, bad_writer = await asyncio.open_connection("127.0.0.1", server.port)
        bad_writer.write(b"agi_network: yes\nagi_chan")
        await bad_writer.drain()
        # 2: a client that sends nothing at all and stays connected.
        _, silent_writer = await asyncio.open_connection("127.0.0.1", server.port)
        bad_writer.close()
        # 3: a real call is served meanwhile.
        async with asyncio.timeout(5):
            commands = await _fake_asterisk_call(server.port, {b"SET": b"200 result=1\n"})
        assert served.is_set()
        assert commands == [b"SET VARIABLE BRIDGE_CONF cb-1\n"]
        silent_writer.close()


async def test_silent_client_is_dropped_after_the_header_timeout() -> None:
    async def handler(session: AgiSession) -> None:
        raise AssertionError("no environment, no handler")

    limits = FastAgiLimits(header_timeout=0.2)
    async with FastAgiServer(handler, port=0, limits=limits) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # the server closed it
        writer.close()


async def test_overlong_line_is_dropped() -> None:
    async def handler(session: AgiSession) -> None:
        raise AssertionError("never reached")

    limits = FastAgiLimits(max_line=256)
    async with FastAgiServer(handler, port=0, limits=limits) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"agi_network: " + b"x" * 1000 + b"\n")
        async with asyncio.timeout(5):
            assert await _closed_by_server(reader)
        writer.close()


async def test_concurrency_limit_refuses_extra_calls() -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def handler(session: AgiSession) -> None:
        entered.set()
        await release.wait()

    async with FastAgiServer(handler, port=0, limits=FastAgiLimits(max_sessions=1)) as server:
        _, first = await asyncio.open_connection("127.0.0.1", server.port)
        first.write(ENV)
        async with asyncio.timeout(5):
            await entered.wait()
            reader, second = await asyncio.open_connection("127.0.0.1", server.port)
            second.write(ENV)
            assert await _closed_by_server(reader)
        assert server.rejected == 1
        release.set()
        first.close()
        second.close()


async def test_command_timeout_and_closed_peer_end_the_session_only() -> None:
    outcome: list[str] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.command(b"ANSWER\n", seconds=0.2)
        except TimeoutError:
            outcome.append("timeout")
            raise

    async with FastAgiServer(handler, port=0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(ENV)
        async with asyncio.timeout(5):
            assert await reader.readline() == b"ANSWER\n"
            assert await reader.read() == b""  # never answered: the server gave up
        writer.close()
    assert outcome == ["timeout"]


async def test_route_by_script() -> None:
    calls: list[str] = []

    async def dialin(session: AgiSession) -> None:
        calls.append("dialin")

    async def fallback(session: AgiSession) -> None:
        calls.append("fallback")

    async with FastAgiServer(route_by_script({"dialin": dialin}, fallback), port=0) as server:
        async with asyncio.timeout(5):
            await _fake_asterisk_call(server.port, {})
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(ENV.replace(b"script: dialin", b"script: other"))
            assert await reader.read() == b""
            writer.close()
    assert calls == ["dialin", "fallback"]


@pytest.mark.parametrize("value", ["cb-1\nHANGUP", "cb 1"])
async def test_unsafe_values_never_reach_the_socket(value: str) -> None:
    from bridge.protocols.safe import UnsafeValueError

    errors: list[Exception] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.set_variable("BRIDGE_CONF", value, "name")
        except UnsafeValueError as exc:
            errors.append(exc)

    async with FastAgiServer(handler, port=0) as server:
        async with asyncio.timeout(5):
            commands = await _fake_asterisk_call(server.port, {})
    assert commands == [] and len(errors) == 1
