"""Each vendor's paging over every row: FreeClimb's page/numPages/nextPageUri (cursor),
VoIPbin's page_size/page_token/next_page_token, Aculab's unpaged lists, each through more
than one page (and more than one read batch of the use case)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bridge_testing.facades import Tenant
from harness import Bridge

from bridge.api.facades import common
from bridge.services import connect

COUNT = 205  # three FreeClimb pages of 100


async def create_many(bridge: Bridge, tenant: Tenant, n: int) -> list[str]:
    path = f"/apiserver/Accounts/{tenant.account_id}/Conferences"
    ids = []
    for i in range(n):
        resp = await bridge.client.post(path, json={"alias": f"c{i}"}, headers=tenant.freeclimb)
        assert resp.status == 200, await resp.text()
        ids.append((await resp.json())["conferenceId"])
    return ids


async def test_freeclimb_and_voipbin_page_through_every_conference(
    bridge: Bridge, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "BATCH", 40)  # the use case is read in several batches too
    made = await create_many(bridge, tenant, COUNT)
    path = f"/apiserver/Accounts/{tenant.account_id}/Conferences"
    seen: list[str] = []
    pages = []
    uri: str | None = path
    while uri is not None:
        resp = await bridge.client.get(uri, headers=tenant.freeclimb)
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        pages.append(page)
        seen += [x["conferenceId"] for x in page["conferences"]]
        nxt = page["nextPageUri"]
        assert nxt is None or nxt.startswith(f"/Accounts/{tenant.account_id}/Conferences?")
        uri = None if nxt is None else "/apiserver" + nxt  # relative to the API base
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    assert [(p["page"], p["start"], p["end"], len(p["conferences"])) for p in pages] == [
        (0, 0, 99, 100),
        (1, 100, 199, 100),
        (2, 200, 204, 5),
    ]
    assert {(p["total"], p["numPages"], p["pageSize"]) for p in pages} == {(COUNT, 3, 100)}
    # a filter applies before paging: one match, one page
    resp = await bridge.client.get(path, params={"alias": "c150"}, headers=tenant.freeclimb)
    one = await resp.json()
    assert one["total"] == 1 and one["nextPageUri"] is None
    assert one["conferences"][0]["conferenceId"] == made[150]
    resp = await bridge.client.get(path, params={"cursor": "../x"}, headers=tenant.freeclimb)
    assert resp.status == 400 and (await resp.json())["details"]["code"] == "invalid_field"

    got: list[str] = []
    tokens = []
    token = ""
    while True:
        query = {"page_size": "100", **({"page_token": token} if token else {})}
        resp = await bridge.client.get("/v1.0/conferences", params=query, headers=tenant.voipbin)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        got += [x["id"] for x in body["result"]]
        token = body["next_page_token"]
        tokens.append(token)
        if not token:
            break
    assert got == sorted(made), "every conference once, in order"
    assert len(tokens) == 3 and tokens[-1] == "", "no empty page after the last"


async def test_aculab_lists_every_reservation(
    bridge: Bridge, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "BATCH", 25)
    monkeypatch.setattr(connect, "BATCH", 25)
    start = (bridge.clock.now() + timedelta(hours=2)).strftime("%Y-%m-%d-%H-%M")
    names = [f"Room{i}" for i in range(60)]
    for name in names:
        form = {"conference_name": name, "max_participants": "40", "start_time": start,
                "duration": "30"}  # fmt: skip
        resp = await bridge.client.post(
            "/webservices/conference_reservation_create", data=form, headers=tenant.aculab
        )
        assert resp.status == 200, await resp.text()
    resp = await bridge.client.get("/webservices/conference_list", headers=tenant.aculab)
    listed = (await resp.json())["conferences"]
    assert sorted(x["conference_name"] for x in listed) == sorted(names)
    assert {x["status"] for x in listed} == {"RESERVED"}
    # the last one booked is found by name past the first read batch
    resp = await bridge.client.get(
        "/webservices/conference_participant_list",
        params={"conference_name": names[-1]},
        headers=tenant.aculab,
    )
    assert resp.status == 200 and (await resp.json()) == {"status": "RESERVED", "participants": []}
