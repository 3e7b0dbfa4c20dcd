"""After every fault the API says what Asterisk has (ConfbridgeList, CoreShowChannels).

* The bridge is SIGKILLed with live calls and restarted (the adoption test of both engines
  is tests/adoption): a held call is adopted where it is, and the calls stay controllable.
* The bridge is SIGKILLed while an announcement plays (to one participant alone, or to
  everyone): after the restart its `announcement.finished` still comes, and the participant
  is back in the mix with its mute as the API has it.
* AMI is cut with commands in flight: those the API answered are carried out after the
  reconnect; while it is down changes are refused (503).
* Asterisk crashes (SIGKILL): the engine is unavailable at once, and the API converges when
  Asterisk is back.
* Hold/unhold 12 times in a row never loses the call; a hangup is reported when Asterisk
  reports it, not behind the leave sounds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bridge_testing.ami_test_client import AmiTestClient, next_action_id
from bridge_testing.asterisk_pbx import AMI_USER, AsteriskProcess
from bridge_testing.heard import asterisk_tone as tone_file
from bridge_testing.heard import hears, new_phone, phone_set
from bridge_testing.pbx_truth import api_places, pbx_places
from bridge_testing.sipp import sipp_available
from bridge_testing.sipp_phone import Phone, dial, uac_scenario
from bridge_testing.tcp_proxy import CuttableProxy
from bridge_testing.wait import Not, until
from live_bridge import Live
from receiver import WebhookReceiver

from bridge.protocols import ami

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(not sipp_available(), reason="sipp (package sip-tester) is not installed"),
]

SERVER = Path(__file__).resolve().parent / "bridge_process.py"
PLAYS_SECONDS = 15  # the announcement that plays through a bridge restart


@pytest.fixture(autouse=True)
async def calls_ended(asterisk: AsteriskProcess) -> AsyncIterator[None]:
    """After each test, none of its calls holds a ConfBridge room: a killed SIPp sends no
    BYE, and Asterisk would keep the call and its room until the RTP timeout, into the next
    test (whose "no room" checks then fail). Every room is emptied (ConfbridgeKick all)
    and every channel hung up until no room is listed; a hung-up channel may stay listed a
    few seconds more while it finishes, outside any room. Its own AMI login: a test may
    have restarted Asterisk."""
    yield
    client = await AmiTestClient.connect("127.0.0.1", asterisk.ports.ami, AMI_USER, asterisk.secret)
    try:

        async def no_room() -> bool | Not:
            rooms = await client.send(ami.confbridge_list_rooms(next_action_id()))
            names = [name for ev in rooms.events if (name := ev.get("Conference"))]
            for name in names:
                await client.send(ami.confbridge_kick(name, "all", next_action_id()))
            listing = await client.send(ami.core_show_channels(next_action_id()))
            for uid in [u for ev in listing.events if (u := ev.get("Uniqueid"))]:
                await client.send(ami.hangup(uid, next_action_id()))  # refused: it is going
            return not names or Not(f"rooms {names}")

        await until(no_room, 20, "no ConfBridge room left", every=0.1)
    finally:
        await client.close()


async def _converged(live_api: Any, ami: AmiTestClient, conf_id: str, within: float = 15.0) -> None:
    """The API's joined participants equal what Asterisk has, place and mute."""

    async def equal() -> bool | Not:
        ours = api_places(await live_api.participants(conf_id))
        theirs = await pbx_places(ami, conf_id)
        return ours == theirs or Not(f"API {ours} != Asterisk {theirs}")

    await until(equal, within, "the API equals Asterisk")


# ---------------------------------------------------------------- the bridge as a process


class BridgeProcess:
    def __init__(self, pbx: AsteriskProcess, workdir: Path) -> None:
        self.pbx, self.workdir = pbx, workdir
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""
        self.key = ""
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # tests/ on the child's path for harness (a script gets only its own folder)
        tests = str(SERVER.parents[1])
        path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "BRIDGE_TEST_AMI_SECRET": self.pbx.secret, "PYTHONPATH": path}
        args = [f"sqlite:///{self.workdir / 'bridge.db'}", str(self.workdir)]
        args += [str(self.pbx.ports.ami), str(self.pbx.ports.agi)]
        with (self.workdir / "bridge.log").open("a") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(SERVER),
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=env,
            )
        assert self.process.stdout is not None
        line = (await asyncio.wait_for(self.process.stdout.readline(), 40)).decode()
        assert line.startswith("READY "), (line, (self.workdir / "bridge.log").read_text()[-3000:])
        _, self.url, self.key = line.split()
        self.session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.key}"})

    async def kill(self) -> None:
        assert self.process is not None and self.session is not None
        self.process.kill()  # SIGKILL
        await asyncio.wait_for(self.process.wait(), 10)
        await self.session.close()

    async def ok(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        assert self.session is not None
        async with self.session.request(method, self.url + path, **kw) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            assert resp.status == expect, (resp.status, body)
            return body

    async def participants(self, conf_id: str, status: str = "joined") -> list[dict[str, Any]]:
        page = await self.ok("GET", f"/v1/conferences/{conf_id}/participants?status={status}")
        return list(page["items"])


@pytest.fixture
async def bridge_process(asterisk: AsteriskProcess, tmp_path: Path) -> AsyncIterator[BridgeProcess]:
    bridge = BridgeProcess(asterisk, tmp_path)
    await bridge.start()
    try:
        yield bridge
    finally:
        if bridge.process is not None and bridge.process.returncode is None:
            await bridge.kill()


async def test_adopted_held_call_stays_controllable(
    bridge_process: BridgeProcess,
    asterisk: AsteriskProcess,
    ami_client: AmiTestClient,
    tmp_path: Path,
) -> None:
    """The adoption itself (both engines, one test) is tests/adoption; here what only the
    Asterisk engine has to rebuild: a call out of the mix (held, in [bridge-hold]) adopted
    where it is, and every adopted call still controllable (unhold, unmute, eject)."""
    bridge = bridge_process
    conf = await bridge.ok(
        "POST", "/v1/conferences", 201, json={"name": "adopt", "dial_in": {"access_code": "7101"}}
    )
    cid = conf["id"]
    phones: list[Phone] = [
        dial(tmp_path / f"sipp/p{n}", asterisk.ports.sip, "7101", uac_scenario()) for n in range(3)
    ]
    try:

        async def three() -> list[dict[str, Any]] | None:
            joined = await bridge.participants(cid)
            return joined if len(joined) >= 3 else None

        joined = await until(three, 20, "three callers joined")
        talker, muted, held = (p["id"] for p in joined)
        path = f"/v1/conferences/{cid}/participants"
        await bridge.ok("PATCH", f"{path}/{muted}", json={"muted": True})
        await bridge.ok("PATCH", f"{path}/{held}", json={"hold": True})
        await _converged(bridge, ami_client, cid)

        await bridge.kill()
        await bridge.start()
        # adopted: the same three, the same places and flags, nobody left
        await _converged(bridge, ami_client, cid)
        assert len(await bridge.participants(cid)) == 3
        assert await bridge.participants(cid, "left") == []
        conf = await bridge.ok("GET", f"/v1/conferences/{cid}")
        assert conf["status"] != "empty", conf
        # and controllable: unhold, unmute, eject
        await bridge.ok("PATCH", f"{path}/{held}", json={"hold": False})
        await bridge.ok("PATCH", f"{path}/{muted}", json={"muted": False})
        await _converged(bridge, ami_client, cid)
        places = await pbx_places(ami_client, cid)
        assert places[held] == ("conf", False) and places[muted] == ("conf", False), places
        await bridge.ok("DELETE", f"{path}/{talker}")
        # talker is whichever INVITE Asterisk took first, not necessarily phones[0]'s
        ejected = await until(
            lambda: next((p for p in phones if p.process.poll() is not None), None),
            30,
            "the ejected caller's call ends",
        )
        assert await ejected.ended_by_pbx(), ejected.output()
        assert sum(p.process.poll() is None for p in phones) == 2
        await _converged(bridge, ami_client, cid)
        assert [p["id"] for p in await bridge.participants(cid, "left")] == [talker]
    finally:
        for phone in phones:
            phone.stop()


@pytest.mark.parametrize("alone", [True, False], ids=["to-one-participant", "to-everyone"])
async def test_bridge_sigkill_during_an_announcement(
    bridge_process: BridgeProcess,
    asterisk: AsteriskProcess,
    ami_client: AmiTestClient,
    receiver: WebhookReceiver,
    alone: bool,
) -> None:
    """To one participant: it is out of the mix, in [bridge-hold] play; to everyone: an
    announcer channel is in the conference. Either way the restarted bridge reads the
    announcement's id back from the channel and reports its end, once."""
    bridge = bridge_process
    conf = await bridge.ok(
        "POST",
        "/v1/conferences",
        201,
        json={
            "name": "adopt-play",
            "play_beep": "never",
            "status_callback_url": receiver.url,
            "dial_in": {"access_code": "7106"},
        },
    )
    cid = conf["id"]
    async with phone_set() as phones:
        ids: list[str] = []
        for n in range(2):  # one after the other: the first joined is the first phone
            phones.append(phone := await new_phone(f"adopt{n}"))
            assert await phone.call(("127.0.0.1", asterisk.ports.sip), "7106") == 200

            async def more(n: int = n) -> list[dict[str, Any]] | None:
                joined = await bridge.participants(cid)
                return joined if len(joined) > n else None

            joined = await until(more, 20, f"caller {n} joined")
            ids += [p["id"] for p in joined if p["id"] not in ids]
        a, b = phones
        pa = ids[0]
        path = f"/v1/conferences/{cid}"
        await bridge.ok("PATCH", f"{path}/participants/{pa}", json={"muted": True})
        await _converged(bridge, ami_client, cid)

        # long enough to outlast the kill and the restart on a loaded machine (one that
        # ends while no bridge runs is never reported: nothing on Asterisk says it played)
        long_tone = tone_file(asterisk, 900, ms=PLAYS_SECONDS * 1000)
        mark = time.monotonic()
        body: dict[str, Any] = {"media": [{"play": {"file": long_tone}}]}
        if alone:
            body["participant_id"] = pa
        ann = await bridge.ok("POST", f"{path}/announcements", 202, json=body)
        await hears(a, 900, mark)  # the announcement is playing
        await bridge.kill()
        await bridge.start()

        def finished(_: object) -> bool:
            return any(
                h["type"] == "announcement.finished"
                and h["data"].get("announcement_id") == ann["id"]
                for h in receiver.events(cid)
            )

        await receiver.wait_for(finished, within=PLAYS_SECONDS + 15)
        assert time.monotonic() - mark > PLAYS_SECONDS - 1, "reported finished before its end"
        # back in the mix, still muted as the API says, and hearing the others again
        await _converged(bridge, ami_client, cid)
        places = await pbx_places(ami_client, cid)
        assert places[pa] == ("conf", True), places
        assert await bridge.participants(cid, "left") == []
        b.set_tone(1300)
        await hears(a, 1300, time.monotonic())
        kinds = [h["type"] for h in receiver.events(cid)]
        assert kinds.count("announcement.finished") == 1, kinds


# ---------------------------------------------------------------- AMI outage, commands in flight


class StatusWatch:
    """Every status the API gives one participant, in order, polled until stopped: what a
    client that polls would have seen (a status that comes back is a rewind)."""

    def __init__(self, live: Live, conf_id: str, pid: str) -> None:
        self.live, self.conf_id, self.pid = live, conf_id, pid
        self.seen: list[str] = []
        self._stop = False
        self._task = asyncio.create_task(until(self._look, 120, "stopped", every=0.02))

    async def _look(self) -> bool:
        status = (await self.live.get(self.conf_id, self.pid))["status"]
        if not self.seen or self.seen[-1] != status:
            self.seen.append(status)
        return self._stop

    async def stop(self) -> list[str]:
        self._stop = True
        await self._task
        return self.seen


async def test_ami_cut_with_commands_in_flight_converges_asterisk_on_the_api(
    proxied: tuple[Live, CuttableProxy],
) -> None:
    """The rule: a change refused while the link is down changes nothing (503); one the API
    accepted while it was up (answered 200) is carried out after the reconnect, whether
    its action was lost on the way or in Asterisk's answer. Asterisk ends with what the
    API says."""
    live, proxy = proxied
    conf = await live.conference("7102")
    for _ in range(4):
        live.phone("7102")
    joined = await live.wait_participants(conf["id"], 4)
    a, b, c, d = (p["id"] for p in joined)
    path = f"/v1/conferences/{conf['id']}/participants"
    await _converged(live, live.ami, conf["id"])

    # commands in flight when the link goes: the mute sent and never arriving, the hold
    # and the eject decided (the link was up) and waiting behind it to be sent
    proxy.swallow = True
    started = time.monotonic()
    in_flight = [
        asyncio.create_task(live.call("PATCH", f"{path}/{a}", json={"muted": True})),
        asyncio.create_task(live.call("PATCH", f"{path}/{b}", json={"hold": True})),
        asyncio.create_task(live.call("DELETE", f"{path}/{c}")),
    ]
    watch = StatusWatch(live, conf["id"], c)
    await until(lambda: b"ConfbridgeMute" in proxy.swallowed, timeout=5, what="mute sent")

    async def decided() -> bool:  # the hold and the eject are decided (the link is up)
        return (await live.get(conf["id"], b))["hold"] is True and (await live.get(conf["id"], c))[
            "status"
        ] != "joined"

    await until(decided, timeout=5, what="hold and eject decided")
    proxy.cut()
    await until(lambda: not live.backend.available, timeout=2, what="engine unavailable")
    answers = await asyncio.gather(*in_flight)
    print(
        f"\nthe commands in flight answered {[s for s, _ in answers]} "
        f"{(time.monotonic() - started) * 1000:.0f} ms after they were sent"
    )
    assert [s for s, _ in answers] == [200, 200, 200], answers
    # while it is down: refused, nothing changes
    status, body = await live.call("PATCH", f"{path}/{d}", json={"muted": True})
    assert status == 503 and body["error"]["code"] == "engine_unavailable", (status, body)
    assert (await live.get(conf["id"], d))["muted"] is False
    places = await pbx_places(live.ami, conf["id"])
    assert places[a] == places[b] == places[c] == ("conf", False), places  # not carried out

    resyncs = live.backend.resyncs
    proxy.restore()
    await until(lambda: live.backend.resyncs > resyncs, timeout=30, what="resync")
    # what the API answered 200 to is what Asterisk ends with
    await _converged(live, live.ami, conf["id"])
    places = await pbx_places(live.ami, conf["id"])
    assert places == {a: ("conf", True), b: ("hold", False), d: ("conf", False)}, places
    assert (await live.get(conf["id"], a))["muted"] is True
    assert (await live.get(conf["id"], b))["hold"] is True
    assert (await live.get(conf["id"], c))["status"] == "left"
    # the ejected one was leaving from the DELETE until Asterisk confirmed it gone: never
    # joined again in between, neither in the API nor in a webhook
    await live.wait_hooks(conf["id"], "participant.left")
    seen = await watch.stop()
    hooks = [h["type"] for h in live.receiver.events(conf["id"]) if h.get("participant_id") == c]
    print(f"\nthe ejected participant: API {seen}, webhooks {hooks}")
    assert seen in (["joined", "leaving", "left"], ["leaving", "left"]), seen
    after = hooks[hooks.index("participant.leaving") :]
    assert "participant.joined" not in after and after.count("participant.left") == 1, hooks
    # commands flow again
    await live.ok("PATCH", f"{path}/{d}", json={"muted": True})
    await live.ok("PATCH", f"{path}/{b}", json={"hold": False})
    await _converged(live, live.ami, conf["id"])
    places = await pbx_places(live.ami, conf["id"])
    assert places == {a: ("conf", True), b: ("conf", False), d: ("conf", True)}, places


async def test_ami_cut_after_asterisk_carried_out_a_command_whose_answer_is_lost(
    proxied: tuple[Live, CuttableProxy],
) -> None:
    """Asterisk muted the caller, its answer (and events) never came back, then the link
    went: the PATCH is answered 200 at once, and after the reconnect API and Asterisk
    agree it is muted (carrying it out again changes nothing)."""
    live, proxy = proxied
    conf = await live.conference("7107")
    live.phone("7107")
    [p] = await live.wait_participants(conf["id"], 1)
    await _converged(live, live.ami, conf["id"])
    proxy.deaf = True
    started = time.monotonic()
    in_flight = asyncio.create_task(
        live.call(
            "PATCH", f"/v1/conferences/{conf['id']}/participants/{p['id']}", json={"muted": True}
        )
    )

    async def muted_there() -> bool:
        return (await pbx_places(live.ami, conf["id"])).get(p["id"]) == ("conf", True)

    await until(muted_there, 5, "Asterisk mutes the caller")
    proxy.cut()
    status, body = await in_flight
    took = time.monotonic() - started
    print(f"\nthe PATCH whose answer was lost answered {status} after {took * 1000:.0f} ms")
    assert status == 200, body
    assert took < live.backend._action_timeout, "it waited out the action timeout"
    resyncs = live.backend.resyncs
    proxy.restore()
    await until(lambda: live.backend.resyncs > resyncs, timeout=30, what="resync")
    await _converged(live, live.ami, conf["id"])
    assert (await pbx_places(live.ami, conf["id"]))[p["id"]] == ("conf", True)
    assert (await live.get(conf["id"], p["id"]))["muted"] is True


# ---------------------------------------------------------------- Asterisk crash


async def test_asterisk_crash_marks_engine_unavailable_at_once(live: Live) -> None:
    conf = await live.conference("7103")
    live.phone("7103")
    live.phone("7103")
    joined = await live.wait_participants(conf["id"], 2)
    pbx = live.pbx
    assert pbx.process is not None
    started = time.monotonic()
    os.killpg(pbx.process.pid, signal.SIGKILL)
    await until(lambda: not live.backend.available, timeout=1.0, what="engine unavailable")
    detected = time.monotonic() - started
    print(f"\nasterisk crash: engine unavailable after {detected * 1000:.0f} ms")
    path = f"/v1/conferences/{conf['id']}/participants/{joined[0]['id']}"
    status, body = await live.call("PATCH", path, json={"muted": True})
    assert status == 503 and body["error"]["code"] == "engine_unavailable", (status, body)
    await asyncio.to_thread(pbx.process.wait, 10)
    await asyncio.to_thread(pbx.stop)
    await asyncio.to_thread(pbx.start)
    await asyncio.to_thread(pbx.wait_fully_booted)
    await until(lambda: live.backend.available, timeout=15, what="engine back")
    fresh = await AmiTestClient.connect("127.0.0.1", pbx.ports.ami, AMI_USER, pbx.secret)
    try:
        await live.wait_participants(conf["id"], 2, status="left", within=10)
        await _converged(live, fresh, conf["id"])
        live.ami = fresh
    finally:
        live.stop_phones()


# ---------------------------------------------------------------- hold loop, leave timing


async def test_hold_unhold_twelve_times_never_loses_the_call(live: Live) -> None:
    conf = await live.conference("7104")
    phone = live.phone("7104")
    live.phone("7104")
    joined = await live.wait_participants(conf["id"], 2)
    pid = joined[0]["id"]
    path = f"/v1/conferences/{conf['id']}/participants/{pid}"
    for cycle in range(12):
        away, back = (
            ({"hold": True}, {"hold": False})
            if cycle % 2 == 0
            else (
                {"listen": False},
                {"listen": True},
            )
        )
        await live.ok("PATCH", path, json=away)
        await until(lambda: live.backend.registry.by_participant[pid].where == "hold", timeout=10)
        await live.ok("PATCH", path, json=back)
        await _converged(live, live.ami, conf["id"])
        assert (await pbx_places(live.ami, conf["id"])).get(pid) == ("conf", False), cycle
        assert live.backend.registry.by_participant[pid].where == "conf", cycle
    assert (await live.get(conf["id"], pid))["status"] == "joined"
    assert phone.process.poll() is None, phone.output()


async def test_hangup_reported_when_asterisk_reports_it(live: Live) -> None:
    """With the leave sound on, callers that hang up together are reported left as soon as
    Asterisk sends ConfbridgeLeave: before the last of them is through the serial leave
    sounds (which hold back its Hangup and our UserEvent)."""
    conf = await live.conference("7105", play_beep="always")
    count = 12
    for _ in range(count):
        live.phone("7105", steps=(("pause", 4000),), wait_for_bye_ms=1)
    live.phone("7105")
    joined = await live.wait_participants(conf["id"], count + 1, within=20)
    channels = {live.backend.registry.by_participant[p["id"]].uniqueid for p in joined}
    mark = live.ami.mark()
    await live.wait_participants(conf["id"], count, status="left", within=30)
    reported = time.monotonic()
    await until(
        lambda: (
            len(
                {e.get("Uniqueid") for e in live.ami.events[mark:] if e.name == "Hangup"} & channels
            )
            == count
        ),
        timeout=60,
    )

    def last(name: str) -> float:
        return max(
            t
            for e, t in zip(live.ami.events[mark:], live.ami.stamps[mark:], strict=True)
            if e.name == name and e.get("Uniqueid") in channels
        )

    leave, hangup = last("ConfbridgeLeave"), last("Hangup")
    print(
        f"\nafter the last ConfbridgeLeave: API left {(reported - leave) * 1000:.0f} ms, "
        f"last Hangup {(hangup - leave) * 1000:.0f} ms"
    )
    assert reported < hangup, "the leaves waited for the Hangups"
