from __future__ import annotations
import asyncio
import pytest
from ami_test_client import next_action_id
from live_bridge import Live, until
from bridge.protocols import ami
pytestmark = [pytest.mark.asterisk]

async def test_scratch(live: Live) -> None:
    conf = await live.conference("7301")
    live.phone("7301")
    await live.wait_participants(conf["id"], 1)
    call = next(iter(live.backend.registry.calls.values()))
    uid = call.uniqueid
    mark = live.ami.mark()
    r = await live.ami.send(ami.setvar("BRIDGE_MOVE", ("7", "token"), next_action_id(), channel=uid))
    print("setvar", r)
    r = await live.ami.send(ami.redirect(uid, "bridge-hold", "s", next_action_id()))
    await asyncio.sleep(1.0)
    lst = await live.ami.send(ami.AmiAction("CoreShowChannels", next_action_id(), ami.build_action("CoreShowChannels", [], "x1"), completion="list")) if False else None
    for ev in live.ami.events[mark:]:
        if ev.get("Uniqueid") == uid or ev.name.startswith("Confbridge") or ev.name=="UserEvent":
            print(ev.name, [h for h in ev.headers if h[0] in ("ChanVariable","UserEvent","Uniqueid","Context","Exten")])
    mark = live.ami.mark()
    r = await live.ami.send(ami.redirect(uid, "bridge-join", "s", next_action_id()))
    await asyncio.sleep(1.0)
    name = "cb-" + conf["id"].replace("_", "-")
    r = await live.ami.send(ami.confbridge_list(name, next_action_id()))
    for ev in r.events: print("LIST", ev.headers)
    for ev in live.ami.events[mark:]:
        if ev.name.startswith("Confbridge"):
            print(ev.name, [h for h in ev.headers if h[0] in ("ChanVariable","Uniqueid")])
