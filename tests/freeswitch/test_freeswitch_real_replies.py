"""The replies the fake ESL server (engine_fixtures.py) invents, checked against the real
FreeSWITCH.

The recordings never held these commands, so FakeFreeSwitch answers them ``+OK``
(``unrecorded``) or with REAL_REPLIES. Here each one, built by our ESL builders, goes
to the real FreeSWITCH on a live member, and its real reply must read the way the fake's
does to the backend: a success (no ``-ERR``/``-USAGE``), with the content the backend
parses. A control shows a real failure does read as one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bridge_testing.engine_fixtures import REAL_REPLIES
from bridge_testing.live_app import Live, start_live
from bridge_testing.real_freeswitch import FreeSwitchProcess, raw_esl
from fs_members import conference_name, dial_out_member, members

from bridge.pbx.freeswitch import mapping
from bridge.protocols import esl

pytestmark = [pytest.mark.freeswitch, pytest.mark.freeswitch_real]


@pytest.fixture
async def live(freeswitch: FreeSwitchProcess, tmp_path: Path) -> AsyncIterator[Live]:
    async with start_live(freeswitch, tmp_path) as app:
        yield app


def reply(fs: FreeSwitchProcess, cmd: esl.ApiCommand) -> esl.ApiResponse:
    body = raw_esl(fs.ports.esl, fs.password, f"api {cmd.line()}")
    return esl.ApiResponse(ok=not body.startswith(("-ERR", "-USAGE")), body=body)


async def test_unrecorded_member_and_recording_commands_succeed_as_the_fake_says(
    live: Live, tmp_path: Path
) -> None:
    fs = live.fs
    conf_id, pid = await dial_out_member(live, "7260")
    name = conference_name(fs, conf_id)
    [member] = members(fs, conf_id)
    member_id, channel = int(member["id"]), str(member["uuid"])
    path = str(tmp_path / "data/recordings/real-replies.wav")
    (tmp_path / "data/recordings").mkdir(parents=True, exist_ok=True)
    real: dict[str, str] = {}
    for cmd in (
        esl.conf_recording(name, "start", path),
        esl.conf_recording(name, "pause", path),
        esl.conf_recording(name, "resume", path),
        esl.conf_recording(name, "stop", path),
        esl.conf_enter_sound(name, "off"),
        esl.conf_enter_sound(name, "on"),
        esl.conf_exit_sound(name, "off"),
        esl.conf_exit_sound(name, "on"),
        esl.conf_hold(name, member_id),
        esl.conf_unhold(name, member_id),
    ):
        answer = reply(fs, cmd)
        real[cmd.line()] = answer.body
        assert answer.ok, (cmd.line(), answer.body)
    # what the backend reads out of uuid_getvar: our participant id on our channels
    got = reply(fs, esl.command("uuid_getvar", channel, mapping.PARTICIPANT_VARIABLE))
    assert got.ok and got.body.strip() == pid, got.body
    # FreeSWITCH really recorded: the file exists once the recording stopped
    assert await asyncio.to_thread(Path(path).exists), real
    await live.ok("DELETE", f"/v1/conferences/{conf_id}")


def test_a_real_failure_reads_as_one(freeswitch: FreeSwitchProcess) -> None:
    """Control: the same parsing sees a real FreeSWITCH error as a failure."""
    got = reply(freeswitch, esl.command("uuid_getvar", str(uuid.uuid4()), "x"))
    assert not got.ok, got.body


def test_interface_types_reply_reads_as_the_fakes(freeswitch: FreeSwitchProcess) -> None:
    """The fake's ``show interface_types`` (REAL_REPLIES) and the real one agree on what
    the backend takes from it: this FreeSWITCH has no TTS module."""
    real = reply(freeswitch, esl.command("show", "interface_types"))
    fake = REAL_REPLIES[b"api show interface_types\n\n"].decode()
    assert real.ok
    assert mapping.has_speech(real.body) is mapping.has_speech(fake) is False
    assert real.body.splitlines()[0] == fake.splitlines()[0] == "type,total"
