"""A dial-out to a SIP target that answers nothing, not even 100 Trying: RFC 3261 9.1 says a
CANCEL MUST NOT be sent before a provisional response. The participant fails with
`no_answer` at its answer timeout, the INVITE is no longer retransmitted, and a CANCEL goes
out only once (if ever) a provisional response arrives. Real SIP over loopback."""

from __future__ import annotations

import pytest
from bridge_testing.embedded import Engine, joined, new_phone, until_status
from bridge_testing.phone import SipPhone
from bridge_testing.wait import until

pytestmark = pytest.mark.embedded


async def test_no_cancel_before_a_provisional_response(
    engine: Engine, phones: list[SipPhone]
) -> None:
    cid = await engine.conference("7104", play_beep="never")
    inside = await new_phone(phones, "inside", 500.0)
    assert await inside.call(engine.sip, "7104") == 200
    await joined(engine, cid, 1)

    silent = await new_phone(phones, "silent")
    silent.answer_mode = "silent"
    p = await engine.ok("POST", f"/v1/conferences/{cid}/participants", 201,
                        json={"to": f"sip:{silent.uri}", "seconds_answer_timeout": 1})  # fmt: skip
    failed = await until_status(engine, cid, p["id"], "failed")
    assert failed["failure_reason"] == "no_answer"
    assert not [r for r in silent.requests if r.method == "CANCEL"], "CANCEL before any 1xx"
    invites = [r for r in silent.requests if r.method == "INVITE"]
    assert invites, "the INVITE never arrived"

    # A provisional response after we gave up: now (and only now) the CANCEL may go.
    mark = len(silent.requests)
    silent.ring_now()
    await until(lambda: any(r.method == "CANCEL" for r in silent.requests[mark:]), 5.0, "CANCEL")
    cancel = next(r for r in silent.requests if r.method == "CANCEL")
    assert cancel.call_id == invites[0].call_id
