"""The engine contract for a lost control link (pbx/backend.py `available`, services/live.py):
while the engine cannot be reached, a change that needs it is refused with 503
`engine_unavailable` and nothing changes; after the link is back, the engine's Snapshot
wins, so a command lost in the cut is undone in the API rather than silently believed.

The engine here is the named fake (tests/fakes.py): the real engines' outages are tested in
tests/asterisk and tests/freeswitch with real links cut."""

from __future__ import annotations

from harness import Bridge

from bridge.core import engine as e
from bridge.core.models import LeaveReason


async def _joined(bridge: Bridge) -> tuple[str, str]:
    conf = await bridge.ok("POST", "/v1/conferences", 201, json={"name": "outage"})
    cid = str(conf["id"])
    p = await bridge.ok("POST", f"/v1/conferences/{cid}/participants", 201, json={"to": "1"})
    await bridge.settle()
    return cid, str(p["id"])


async def test_a_change_that_needs_the_engine_is_refused_while_it_is_down(bridge: Bridge) -> None:
    backend = bridge.backend
    cid, pid = await _joined(bridge)
    events_before = await bridge.ok("GET", f"/v1/conferences/{cid}/events")
    backend.available = False
    sent = len(backend.commands)
    body = await bridge.ok(
        "PATCH", f"/v1/conferences/{cid}/participants/{pid}", 503, json={"muted": True}
    )
    assert body["error"]["code"] == "engine_unavailable"
    got = await bridge.ok("GET", f"/v1/conferences/{cid}/participants/{pid}")
    assert got["muted"] is False, "a refused change changes nothing"
    assert len(backend.commands) == sent, "nothing was sent to the engine"
    assert await bridge.ok("GET", f"/v1/conferences/{cid}/events") == events_before
    # a change with no engine command still works during the outage
    await bridge.ok("PATCH", f"/v1/conferences/{cid}", json={"alias": "still-here"})
    backend.available = True
    got = await bridge.ok(
        "PATCH", f"/v1/conferences/{cid}/participants/{pid}", json={"muted": True}
    )
    assert got["muted"] is True


async def test_the_snapshot_after_a_reconnect_wins_for_flags(bridge: Bridge) -> None:
    backend = bridge.backend
    cid, pid = await _joined(bridge)
    await bridge.ok("PATCH", f"/v1/conferences/{cid}/participants/{pid}", json={"muted": True})
    # the engine lost that mute in a cut, and someone set deaf on the PBX meanwhile
    flags = e.MemberFlags(muted=False, deaf=True, hold=False)
    await backend._report(e.Snapshot({cid: frozenset({pid})}, {pid: flags}))
    await bridge.settle()
    got = await bridge.ok("GET", f"/v1/conferences/{cid}/participants/{pid}")
    assert (got["status"], got["muted"], got["deaf"], got["hold"]) == ("joined", False, True, False)


async def test_a_leave_the_api_accepted_is_not_undone_by_the_snapshot(bridge: Bridge) -> None:
    """An eject answered 200 whose kick was lost in the cut: the engine's Snapshot after
    the reconnect still lists the participant. It stays leaving, is kicked again, and is
    left only when the engine says it is gone; no event says it joined again. The rule is
    the services' (observer): the same for every engine."""
    backend = bridge.backend
    cid, pid = await _joined(bridge)
    path = f"/v1/conferences/{cid}/participants/{pid}"
    backend.refuse = {e.Kick}  # lost with the link: the engine still has the call
    assert (await bridge.ok("DELETE", path))["status"] == "leaving"
    await bridge.settle()
    flags = e.MemberFlags(muted=False, deaf=False, hold=False)
    listing = e.Snapshot({cid: frozenset({pid})}, {pid: flags})
    await backend._report(listing)  # a resync whose kick is lost again
    await bridge.settle()
    assert (await bridge.ok("GET", path))["status"] == "leaving"
    joined = await bridge.ok("GET", f"/v1/conferences/{cid}/participants?status=joined")
    assert joined["items"] == []
    backend.refuse = set()
    await backend._report(listing)  # the next one: the kick is carried out this time
    await bridge.settle()
    assert [k.reason for k in backend.of(e.Kick)] == [LeaveReason.KICKED]
    got = await bridge.ok("GET", path)
    assert (got["status"], got["leave_reason"]) == ("left", "kicked"), got
    page = await bridge.ok("GET", f"/v1/conferences/{cid}/events")
    mine = [ev["type"] for ev in page["items"] if ev.get("participant_id") == pid]
    assert mine[mine.index("participant.leaving") :] == ["participant.leaving", "participant.left"]


async def test_a_snapshot_without_the_leaving_participant_makes_it_left(bridge: Bridge) -> None:
    backend = bridge.backend
    cid, pid = await _joined(bridge)
    path = f"/v1/conferences/{cid}/participants/{pid}"
    backend.refuse = {e.Kick}
    await bridge.ok("DELETE", path)
    await backend._report(e.Snapshot({}, {}))  # the call ended while the link was down
    await bridge.settle()
    got = await bridge.ok("GET", path)
    assert (got["status"], got["leave_reason"]) == ("left", "kicked"), got
