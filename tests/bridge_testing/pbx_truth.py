"""What Asterisk really has, by our participant id, to compare the API against after a fault.

Every call of ours carries BRIDGE_PARTICIPANT and BRIDGE_CONF (manager.conf channelvars), so
ConfbridgeList (members, muted) and CoreShowChannels (who waits in the hold or lobby
contexts) give each participant's place without asking the bridge.
"""

from __future__ import annotations

from typing import Any

from bridge.protocols import ami
from bridge_testing.ami_test_client import AmiTestClient, next_action_id

PLACES = {"bridge-hold": "hold", "bridge-lobby": "lobby"}


def engine_name(conference_id: str) -> str:
    return "cb-" + conference_id.replace("_", "-")


async def pbx_places(client: AmiTestClient, conference_id: str) -> dict[str, tuple[str, bool]]:
    """participant id -> (conf | hold | lobby, muted) as Asterisk has them."""
    name = engine_name(conference_id)
    out: dict[str, tuple[str, bool]] = {}
    listing = await client.send(ami.confbridge_list(name, next_action_id()))
    for member in listing.events:
        pid = await _participant_of(client, member)
        if pid:
            out[pid] = ("conf", (member.get("Muted") or "").lower() == "yes")
    channels = await client.send(ami.core_show_channels(next_action_id()))
    for channel in channels.events:
        place = PLACES.get(channel.get("Context") or "")
        if place is None or await _getvar(client, channel, "BRIDGE_CONF") != name:
            continue
        pid = await _participant_of(client, channel)
        if pid and pid not in out:
            out[pid] = (place, False)
    return out


async def _getvar(client: AmiTestClient, channel: ami.AmiEvent, variable: str) -> str | None:
    uid = channel.get("Uniqueid") or ""
    result = await client.send(ami.getvar(variable, next_action_id(), channel=uid))
    return (result.response.get("Value") if result.response else None) or None


async def _participant_of(client: AmiTestClient, channel: ami.AmiEvent) -> str | None:
    """Asked with Getvar (not read from the events' ChanVariable), so the check does not
    rest on the configuration it checks."""
    return await _getvar(client, channel, "BRIDGE_PARTICIPANT")


def api_places(participants: list[dict[str, Any]]) -> dict[str, tuple[str, bool]]:
    """The same view from the API's joined participants (held or deaf: out of the mix)."""
    out: dict[str, tuple[str, bool]] = {}
    for p in participants:
        away = p.get("hold") or p.get("deaf")
        out[p["id"]] = ("hold", False) if away else ("conf", bool(p.get("muted")))
    return out
