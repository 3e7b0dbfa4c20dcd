"""What the real FreeSWITCH itself has in one of our conferences (asked of FreeSWITCH, never
of the bridge), and a dial-out member to test with: shared by the real-FreeSWITCH suites."""

from __future__ import annotations

import json
from typing import Any

from bridge_testing.live_app import Live
from bridge_testing.real_freeswitch import FreeSwitchProcess

from bridge.pbx.freeswitch import mapping


def members(fs: FreeSwitchProcess, conf_id: str) -> list[dict[str, Any]]:
    """FreeSWITCH's own member list of our conference (``conference json_list``)."""
    body = fs.api("conference json_list")
    if not body.lstrip().startswith("["):
        return []
    for conf in json.loads(body):
        if mapping.conference_id_of(str(conf.get("conference_name"))) == conf_id:
            return list(conf.get("members") or [])
    return []


def member_flags(fs: FreeSwitchProcess, conf_id: str) -> dict[str, Any]:
    found = members(fs, conf_id)
    assert len(found) == 1, found
    return dict(found[0]["flags"])


def conference_name(fs: FreeSwitchProcess, conf_id: str) -> str:
    for conf in json.loads(fs.api("conference json_list")):
        name = str(conf["conference_name"])
        if mapping.conference_id_of(name) == conf_id:
            return name
    raise AssertionError(f"no conference for {conf_id} on FreeSWITCH")


async def dial_out_member(live: Live, code: str, **conference: Any) -> tuple[str, str]:
    conf = await live.ok(
        "POST",
        "/v1/conferences",
        {"name": "real", "dial_in": {"access_code": code}, **conference},
        201,
    )
    p = await live.ok("POST", f"/v1/conferences/{conf['id']}/participants", {"to": "park"}, 201)
    await live.wait_participant(conf["id"], p["id"], "joined")
    return conf["id"], p["id"]
