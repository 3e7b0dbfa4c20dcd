"""A bridge restart with live calls, the same test on every PBX engine (real Asterisk, real
FreeSWITCH): the bridge runs as a child process, real callers join, the bridge is SIGKILLed
and started again on the same data. It must adopt every call the PBX still has (the API
equals what the PBX lists, mute included, nobody marked left), and a caller hanging up after
the adoption is seen: the participant is left and its participant.left webhook is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bridge_testing.heard import SipPhone, phone_set
from bridge_testing.join_rig import BridgeChild
from bridge_testing.wait import Not, until
from pbx_rigs import Rig
from receiver import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
CODE = "7301"


async def _api(bridge: BridgeChild, cid: str) -> dict[str, bool]:
    """The joined participants as the API has them: id -> muted."""
    return {p["id"]: bool(p["muted"]) for p in await bridge.participants(cid, "joined")}


async def _converged(bridge: BridgeChild, rig: Rig, cid: str, within: float = 20.0) -> None:
    """The API's joined participants equal what the PBX has in the conference, mute too."""

    async def equal() -> bool | Not:
        ours, theirs = await _api(bridge, cid), await rig.truth(cid)
        return ours == theirs or Not(f"{rig.engine}: API {ours} != PBX {theirs}")

    await until(equal, within, "the API equals the PBX")


@pytest.fixture
async def phones() -> AsyncIterator[list[SipPhone]]:
    async with phone_set() as made:
        yield made


async def test_bridge_sigkill_with_live_calls_adopts_them(
    rig: Rig, receiver: WebhookReceiver, phones: list[SipPhone], tmp_path: Path
) -> None:
    config: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "database_url": f"sqlite:///{tmp_path / 'bridge.db'}",
        "outbound_allowed_cidrs": ["127.0.0.1/32"],  # the webhook receiver
        "webhook_poll_seconds": 0.1,
        **rig.config,
    }
    log = tmp_path / "bridge.log"
    async with BridgeChild.running(ROOT, config, log) as bridge:
        assert await bridge.engine_ready(), bridge.tail()
        conf = await bridge.ok(
            "POST", "/v1/conferences", 201,
            json={"name": "adopt", "play_beep": "never", "status_callback_url": receiver.url,
                  "dial_in": {"access_code": CODE}},
        )  # fmt: skip
        cid = conf["id"]
        ids: list[str] = []
        for n in range(3):  # one after the other: ids[n] is phones[n]'s participant
            phones.append(phone := SipPhone(f"adopt{n}"))
            await phone.start()
            assert await phone.call(("127.0.0.1", rig.sip_port), CODE) == 200

            async def listed(n: int = n) -> bool:
                return len(await _api(bridge, cid)) > n

            await until(listed, 20, f"caller {n} listed joined")
            ids += [pid for pid in await _api(bridge, cid) if pid not in ids]
        await bridge.ok(
            "PATCH", f"/v1/conferences/{cid}/participants/{ids[1]}", json={"muted": True}
        )
        await _converged(bridge, rig, cid)

        # every webhook so far marked sent: one still leased by the killed process would
        # hold its conference's later webhooks until the lease runs out (60 s)
        async def all_sent() -> bool:
            page = await bridge.ok("GET", f"/v1/deliveries?status=pending&conference_id={cid}")
            return not page["items"]

        await until(all_sent, 20, "every webhook before the kill marked sent")
        bridge.process.kill()  # SIGKILL: no shutdown, the calls stay up on the PBX
        await asyncio.to_thread(bridge.process.wait, 10)

    async with BridgeChild.running(ROOT, config, log.with_suffix(".2.log")) as bridge:
        assert await bridge.engine_ready(), bridge.tail()
        # adopted: the same three, the same mute, nobody left, the conference not empty
        await _converged(bridge, rig, cid)
        assert await _api(bridge, cid) == {ids[0]: False, ids[1]: True, ids[2]: False}
        assert await bridge.participants(cid, "left") == []
        assert (await bridge.ok("GET", f"/v1/conferences/{cid}"))["status"] != "empty"

        # a hangup after the adoption is seen: left, with its webhook
        await phones[0].hangup()

        async def left() -> bool:
            return [p["id"] for p in await bridge.participants(cid, "left")] == [ids[0]]

        await until(left, 20, "the hangup after the adoption reported left")

        def hooked(_: object) -> bool:
            return any(
                e["type"] == "participant.left" and e["participant_id"] == ids[0]
                for e in receiver.events(cid)
            )

        await receiver.wait_for(hooked, within=20)
        await _converged(bridge, rig, cid)
