"""One real PBX per engine for the adoption test: the real Asterisk (shared with tests/asterisk,
shared_asterisk.py) or a real FreeSWITCH of its own, each with the configuration we ship
(dialplan/, freeswitch-conf/), behind one `Rig`: the
Config fields that point a bridge at it, its SIP port, and what it really has in a
conference (participant id -> muted), asked of the PBX itself, never of the bridge."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bridge_testing import shared_asterisk
from bridge_testing.ami_test_client import AmiTestClient
from bridge_testing.asterisk_pbx import AMI_USER, asterisk_root, root_is_complete
from bridge_testing.pbx_truth import pbx_places
from bridge_testing.real_freeswitch import (
    INSTALL_HINT,
    FreeSwitchPorts,
    FreeSwitchProcess,
    freeswitch_home,
)
from bridge_testing.real_freeswitch import installed as freeswitch_installed
from secret_guard import register_secret

from bridge.pbx.freeswitch import mapping


@dataclass
class Rig:
    engine: str
    sip_port: int
    config: dict[str, Any]  # the Config fields of the engine
    truth: Callable[[str], Awaitable[dict[str, bool]]]  # conference id -> {pid: muted}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: a missing PBX is a failure, not a skip)")
    pytest.skip(reason)


def asterisk_rig() -> Iterator[Rig]:
    root = asterisk_root()
    if not root_is_complete(root):
        _unavailable(f"no Asterisk root at {root}; run .ci/asterisk-root.sh")
    if os.geteuid() != 0:
        _unavailable("the Asterisk tests need root (chroot, mount)")
    pbx = shared_asterisk.acquire()  # the one of tests/asterisk, when the run has both

    async def truth(conference_id: str) -> dict[str, bool]:
        ami = await AmiTestClient.connect("127.0.0.1", pbx.ports.ami, AMI_USER, pbx.secret)
        try:
            places = await pbx_places(ami, conference_id)
        finally:
            await ami.close()
        return {pid: muted for pid, (place, muted) in places.items() if place == "conf"}

    config = {
        "engine": "asterisk",
        "ami_host": "127.0.0.1",
        "ami_port": pbx.ports.ami,
        "ami_username": AMI_USER,
        "ami_secret": pbx.secret,
        "agi_host": "127.0.0.1",
        "agi_port": pbx.ports.agi,
    }
    try:
        yield Rig("asterisk", pbx.ports.sip, config, truth)
    finally:
        shared_asterisk.release()


def freeswitch_rig() -> Iterator[Rig]:
    home = freeswitch_home()
    if not freeswitch_installed(home):
        _unavailable(f"no FreeSWITCH at {home}; run {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="cb-freeswitch-") as tmp:
        fs = FreeSwitchProcess(home, Path(tmp) / "fs", FreeSwitchPorts.pick())
        register_secret(fs.password)
        fs.prepare()

        async def truth(conference_id: str) -> dict[str, bool]:
            body = await asyncio.to_thread(fs.api, "conference json_list")
            found: dict[str, bool] = {}
            for conf in json.loads(body) if body.lstrip().startswith("[") else []:
                if mapping.conference_id_of(str(conf.get("conference_name"))) != conference_id:
                    continue
                for member in conf.get("members") or []:
                    uuid = str(member.get("uuid") or "")
                    ask = f"uuid_getvar {uuid} {mapping.PARTICIPANT_VARIABLE}"
                    pid = (await asyncio.to_thread(fs.api, ask)).strip()
                    if pid.startswith("pa_"):
                        found[pid] = not (member.get("flags") or {}).get("can_speak", True)
            return found

        config = {
            "engine": "freeswitch",
            "esl_host": "127.0.0.1",
            "esl_port": fs.ports.esl,
            "esl_password": fs.password,
            "esl_outbound_port": fs.ports.outbound,
            "esl_media_dir": str(fs.sounds),
        }
        try:
            fs.start()
            yield Rig("freeswitch", fs.ports.sip, config, truth)
        finally:
            fs.stop()
