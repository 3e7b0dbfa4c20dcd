"""EslConnection against FakeEslServer replaying the recorded FreeSWITCH traffic."""

from __future__ import annotations

import asyncio

import pytest
from bridge_testing.fake_esl import FakeFactory, Faults, load_transcript
from esl_recorded import REFUSED_RECORDED, build, recorded_commands

from bridge.pbx.freeswitch.connection import (
    EslAuthError,
    EslCommandTimeout,
    EslConnection,
    EslDisconnected,
    State,
)
from bridge.protocols import esl

pytestmark = pytest.mark.freeswitch


class Recorder:
    def __init__(self) -> None:
        self.events: list[esl.Event] = []
        self.states: asyncio.Queue[State] = asyncio.Queue()
        self.enough = asyncio.Event()
        self.want = 0

    def on_event(self, event: esl.Event) -> None:
        self.events.append(event)
        if len(self.events) >= self.want:
            self.enough.set()

    def on_state(self, state: State) -> None:
        self.states.put_nowait(state)

    async def state(self, wanted: State) -> None:
        async with asyncio.timeout(5):
            while await self.states.get() != wanted:
                pass


def connect(port: int, rec: Recorder, password: str = "ClueCon") -> EslConnection:
    return EslConnection(
        "127.0.0.1",
        port,
        password,
        asyncio.get_running_loop(),
        rec.on_event,
        rec.on_state,
        command_timeout=2.0,
        backoff_initial=0.01,
        backoff_max=0.05,
    )


async def test_events_arrive_in_sequence_order(fake_esl: FakeFactory) -> None:
    server = await fake_esl("11-events-plain-conference-maintenance")
    rec = Recorder()
    rec.want = 175
    conn = connect(server.port, rec)
    await conn.start()
    await conn.subscribe("CUSTOM", "conference::maintenance")
    async with asyncio.timeout(5):
        await rec.enough.wait()
    await conn.stop()
    seqs = [e.sequence for e in rec.events]
    assert len(seqs) == 175 and seqs == sorted(seqs)  # type: ignore[type-var]
    assert server.mismatches == []
    assert server.requests == recorded_commands("11-events-plain-conference-maintenance")


async def test_whole_control_session_replays(fake_esl: FakeFactory) -> None:
    server = await fake_esl("20-control")
    rec = Recorder()
    conn = connect(server.port, rec)
    await conn.start()
    await conn.subscribe("BACKGROUND_JOB")
    recorded = [
        m
        for m in esl.EslParser().feed(
            b"".join(f.data for f in load_transcript("20-control") if f.direction == "FS>APP")
        )
        if isinstance(m, esl.ApiResponse)
    ]
    answers: list[esl.ApiResponse] = []
    jobs = []
    for line in recorded_commands("20-control")[2:-1]:
        text = line[:-2].decode()
        cmd = _api_command(text) if text not in REFUSED_RECORDED else _raw_command(text)
        if text.startswith("bgapi"):
            jobs.append(await conn.bgapi(cmd))
        else:
            answers.append(await conn.api(cmd))
    await conn.stop()
    assert server.mismatches == []
    assert answers == recorded
    assert jobs[0].body == "+OK Job-UUID: 4539a28c-58df-4340-955f-7c92d92c74fd\n"
    assert jobs[1].argument == "room1 list" and jobs[1].body.count("\n") == 6
    assert rec.events == []  # our own BACKGROUND_JOB results are not echoed as events


def _raw_command(line: str) -> esl.ApiCommand:
    """A recorded line our builders refuse (REFUSED_RECORDED), replayed as is."""
    words = line.partition(" ")[2].split(" ")
    return esl.ApiCommand(words[0], tuple(words[1:]))


def _api_command(line: str) -> esl.ApiCommand:
    """The ApiCommand behind a recorded line (build() proves these bytes are identical)."""
    verb, _, rest = line.partition(" ")
    words = rest.split(" ")
    cmd = esl.ApiCommand(words[0], tuple(words[1:]))
    expected = esl.api(cmd) if verb == "api" else esl.bgapi(cmd)
    assert build(line) == expected
    return cmd


async def test_bad_password_is_a_clear_error(fake_esl: FakeFactory) -> None:
    server = await fake_esl("01-bad-auth")
    rec = Recorder()
    conn = connect(server.port, rec, password="WrongPassword")
    with pytest.raises(EslAuthError, match="-ERR invalid"):
        await conn.start()
    await rec.state("failed")
    await conn.stop()
    assert server.connections == 1  # no retry loop against a wrong password


async def test_command_timeout_when_the_reply_never_comes(fake_esl: FakeFactory) -> None:
    server = await fake_esl("20-control", Faults(silent_at_request=3))
    rec = Recorder()
    conn = connect(server.port, rec)
    await conn.start()
    await conn.subscribe("BACKGROUND_JOB")
    assert (await conn.api(esl.status())).ok
    with pytest.raises(EslCommandTimeout):
        await conn.api(esl.version(), timeout=0.2)
    await conn.stop()  # must not wait for the reply that never comes


def _reply_frame(recording: str, request_no: int) -> int:
    """Index of the first FS>APP frame after the request_no-th request."""
    seen = -1
    for index, frame in enumerate(load_transcript(recording)):
        if frame.direction == "APP>FS":
            seen += 1
        elif seen == request_no:
            return index
    raise AssertionError("no such reply")


@pytest.mark.parametrize("cut_at", [10, 60], ids=["mid-header", "eof-inside-body"])
async def test_reconnects_after_a_drop(fake_esl: FakeFactory, cut_at: int) -> None:
    server = await fake_esl(
        "20-control", Faults(cut_frame=_reply_frame("20-control", 2), cut_at=cut_at)
    )
    rec = Recorder()
    conn = connect(server.port, rec)
    await conn.start()
    await rec.state("connected")
    await conn.subscribe("BACKGROUND_JOB")
    with pytest.raises(EslDisconnected):
        await conn.api(esl.status())
    await rec.state("disconnected")
    await rec.state("connected")
    reply = await conn.api(esl.status())  # re-authenticated and re-subscribed by itself
    assert reply.body.startswith("UP 0 years")
    await conn.stop()
    assert server.connections == 2 and server.mismatches == []


async def test_disconnect_notice_fails_pending_and_reconnects(fake_esl: FakeFactory) -> None:
    server = await fake_esl("20-control", Faults(goodbye_at_request=2))
    rec = Recorder()
    conn = connect(server.port, rec)
    await conn.start()
    await conn.subscribe("BACKGROUND_JOB")
    with pytest.raises(EslDisconnected):
        await conn.api(esl.status())
    await rec.state("disconnected")
    await rec.state("connected")
    assert (await conn.api(esl.status())).ok
    await conn.stop()
    await rec.state("stopped")
