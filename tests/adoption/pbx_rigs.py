"""One real PBX per engine for the adoption test: the real Asterisk (shared with
tests/asterisk) or a real FreeSWITCH of its own (bridge_testing/real_pbx.py), each with the
configuration we ship (dialplan/, freeswitch-conf/), behind one `Rig`: the Config fields
that point a bridge at it, its SIP port, and what it really has in a conference
(participant id -> muted), asked of the PBX itself, never of the bridge."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bridge_testing.ami_test_client import AmiTestClient
from bridge_testing.asterisk_pbx import AMI_USER
from bridge_testing.pbx_truth import pbx_places
from bridge_testing.real_pbx import (
    asterisk_config,
    freeswitch_config,
    running_freeswitch,
    shared_asterisk_pbx,
)

from bridge.pbx.freeswitch import mapping


@dataclass
class Rig:
    engine: str
    sip_port: int
    config: dict[str, Any]  # the Config fields of the engine
    truth: Callable[[str], Awaitable[dict[str, bool]]]  # conference id -> {pid: muted}


def asterisk_rig() -> Iterator[Rig]:
    with shared_asterisk_pbx() as pbx:  # the one of tests/asterisk, when the run has both

        async def truth(conference_id: str) -> dict[str, bool]:
            ami = await AmiTestClient.connect("127.0.0.1", pbx.ports.ami, AMI_USER, pbx.secret)
            try:
                places = await pbx_places(ami, conference_id)
            finally:
                await ami.close()
            return {pid: muted for pid, (place, muted) in places.items() if place == "conf"}

        yield Rig("asterisk", pbx.ports.sip, asterisk_config(pbx), truth)


def freeswitch_rig() -> Iterator[Rig]:
    with running_freeswitch() as fs:

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

        yield Rig("freeswitch", fs.ports.sip, freeswitch_config(fs), truth)
