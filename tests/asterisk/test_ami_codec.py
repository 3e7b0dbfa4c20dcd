"""Offline tests of the AMI codec: synthetic edge cases and bytes captured from
the real Asterisk 22 that tests/asterisk/test_asterisk_smoke.py drives."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.protocols import ami
from bridge.protocols.ami import (
    ActionTracker,
    AmiBanner,
    AmiEvent,
    AmiParser,
    AmiProtocolError,
    AmiResponse,
)
from bridge.protocols.safe import UnsafeValueError

DATA = Path(__file__).resolve().parent / "data"


def _events(messages: list[ami.AmiItem]) -> list[AmiEvent]:
    return [m for m in messages if isinstance(m, AmiEvent)]


# ------------------------------------------------------------------ parser


def test_banner_then_crlf_blocks() -> None:
    raw = (
        b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: a1\r\nMessage: ok\r\n\r\n"
    )
    banner, response = AmiParser().feed(raw)
    assert banner == AmiBanner("11.0.0")
    assert isinstance(response, AmiResponse)
    assert response.ok and response.action_id == "a1" and response.message == "ok"


def test_lf_only_lines_and_crlf_lf_terminator() -> None:
    parser = AmiParser(expect_banner=False)
    raw = b"Event: A\nX: 1\n\nEvent: B\r\nY: 2\r\n\nEvent: C\r\n\r\n\r\n"
    names = [e.name for e in _events(parser.feed(raw))]
    assert names == ["A", "B", "C"]


def test_repeated_keys_are_kept_in_order() -> None:
    raw = b"Event: VarSet\r\nVariable: A=1\r\nVariable: B=2\r\nChannel: X\r\n\r\n"
    (event,) = AmiParser(expect_banner=False).feed(raw)
    assert isinstance(event, AmiEvent)
    assert event.get_all("variable") == ["A=1", "B=2"]
    assert event.as_dict() == {"Event": "VarSet", "Variable": ["A=1", "B=2"], "Channel": "X"}
    assert event.get("Variable") == "A=1"


def test_value_keeps_colons_and_empty_values() -> None:
    raw = b"Event: E\r\nData: a: b: c\r\nAccountCode: \r\n\r\n"
    (event,) = AmiParser(expect_banner=False).feed(raw)
    assert isinstance(event, AmiEvent)
    assert event.get("Data") == "a: b: c" and event.get("AccountCode") == ""


def test_missing_banner_is_a_protocol_error() -> None:
    with pytest.raises(AmiProtocolError):
        AmiParser().feed(b"HTTP/1.1 200 OK\r\n")


def test_line_bound() -> None:
    parser = AmiParser(expect_banner=False, max_line=64)
    with pytest.raises(AmiProtocolError):
        parser.feed(b"Event: " + b"x" * 100)  # no newline yet: buffered bytes are bounded too
    with pytest.raises(AmiProtocolError):
        parser.feed(b"\r\n")  # a failed parser stays failed


def test_message_bound() -> None:
    parser = AmiParser(expect_banner=False, max_message=200)
    with pytest.raises(AmiProtocolError):
        parser.feed(b"".join(b"K%d: vvvvvvvvvv\r\n" % i for i in range(50)))


@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=40))
def test_any_split_gives_the_same_messages(cuts: list[int]) -> None:
    raw = (DATA / "originate_confbridge.ami").read_bytes()[:3000]
    whole = AmiParser().feed(raw)
    parser, out, pos, i = AmiParser(), [], 0, 0
    while pos < len(raw):
        step = cuts[i % len(cuts)]
        out += parser.feed(raw[pos : pos + step])
        pos, i = pos + step, i + 1
    assert out == whole


# ------------------------------------------------------------------ captures


def test_capture_originate_into_confbridge() -> None:
    messages = AmiParser().feed((DATA / "originate_confbridge.ami").read_bytes())
    assert isinstance(messages[0], AmiBanner)
    events = _events(messages)
    join = next(e for e in events if e.name == "ConfbridgeJoin")
    assert join.get("Conference") == "cb-smoke-originate"
    assert (join.get("Channel") or "").startswith("Local/wait@bridge-anchor-")
    assert join.get("BridgeUniqueid")
    names = [e.name for e in events]
    assert names.index("ConfbridgeStart") < names.index("ConfbridgeJoin")
    assert names.index("ConfbridgeLeave") < names.index("ConfbridgeEnd")
    assert "OriginateResponse" in names


def test_capture_replayed_through_the_tracker() -> None:
    """Re-register the actions the smoke test sent and replay the captured bytes."""
    messages = AmiParser().feed((DATA / "originate_confbridge.ami").read_bytes())
    sent: dict[str, ami.AmiAction] = {}
    for message in messages:
        if not isinstance(message, AmiResponse):
            continue
        aid = message.action_id or ""
        if "user list will follow" in message.message:
            sent[aid] = ami.confbridge_list("cb-smoke-originate", aid)
        elif "conferences will follow" in message.message:
            sent[aid] = ami.confbridge_list_rooms(aid)
        elif "Originate" in message.message:
            sent[aid] = ami.originate("Local/wait@bridge-anchor", aid, application="ConfBridge")
    tracker = ActionTracker()
    for action in sent.values():
        tracker.register(action)
    results = [r for m in messages for r in tracker.feed(m)]
    by_name = {r.action: r for r in results}
    assert by_name["ConfbridgeList"].ok and len(by_name["ConfbridgeList"].events) == 1
    rooms = by_name["ConfbridgeListRooms"]
    assert rooms.ok and [e.get("Parties") for e in rooms.events] == ["1"]
    originate = by_name["Originate"]
    assert originate.ok and originate.events[0].name == "OriginateResponse"
    assert tracker.pending == frozenset()


def test_capture_sipp_call_with_dtmf_and_leave_reason() -> None:
    events = _events(AmiParser().feed((DATA / "sipp_confbridge_dtmf.ami").read_bytes()))
    names = [e.name for e in events]
    dtmf = next(e for e in events if e.name == "DTMFEnd")
    assert dtmf.get("Digit") == "1" and dtmf.get("Direction") == "Received"
    assert names.index("ConfbridgeJoin") < names.index("DTMFEnd") < names.index("ConfbridgeLeave")
    leave = next(e for e in events if e.name == "UserEvent")
    assert leave.get("UserEvent") == "BridgeConfLeave" and leave.get("Result") == "HANGUP"


# ------------------------------------------------------------------ actions


def test_build_action_encodes_crlf_blocks() -> None:
    payload = ami.build_action("ConfbridgeKick", {"Conference": ("cb-1", "name")}, "a-1")
    assert payload == b"Action: ConfbridgeKick\r\nActionID: a-1\r\nConference: cb-1\r\n\r\n"


@pytest.mark.parametrize(
    "bad", ["cb-1\r\nAction: Originate", "cb-1\nX: y", "cb\x00", "cb 1", "", "x" * 81]
)
def test_build_action_refuses_unsafe_values(bad: str) -> None:
    with pytest.raises(UnsafeValueError):
        ami.build_action("ConfbridgeKick", {"Conference": (bad, "name")}, "a-1")
    with pytest.raises(UnsafeValueError):
        ami.confbridge_mute(bad, "all", "a-1")


def test_build_action_refuses_unsafe_keys_names_and_ids() -> None:
    with pytest.raises(UnsafeValueError):
        ami.build_action("Ping\r\nAction: Originate", {}, "a-1")
    with pytest.raises(UnsafeValueError):
        ami.build_action("Ping", {}, "a-1\r\nAction: Hangup")
    with pytest.raises(UnsafeValueError):
        ami.build_action("Ping", {"X\r\nY": ("1", "integer")}, "a-1")


def test_originate_has_one_variable_header_per_variable() -> None:
    action = ami.originate(
        "Local/play@bridge-announce",
        "o-1",
        context="bridge-announce",
        exten="join",
        variables={"BRIDGE_CONF": ("cb-7", "name"), "BRIDGE_ANNOUNCE": ("beep", "path")},
        caller_id="+15551234567",
        timeout_ms=30000,
    )
    lines = action.payload.decode().split("\r\n")
    assert "Variable: BRIDGE_CONF=cb-7" in lines
    assert "Variable: BRIDGE_ANNOUNCE=beep" in lines
    assert "Async: true" in lines and action.completion == "originate"
    assert "Channel: Local/play@bridge-announce" in lines
    with pytest.raises(UnsafeValueError):
        ami.originate("Local/x@y", "o-2", context="c", exten="s", variables={"A=B": ("1", "name")})
    with pytest.raises(UnsafeValueError):
        ami.originate("PJSIP/1001\r\n", "o-3", application="ConfBridge")


def test_originate_application_data_is_checked_per_argument() -> None:
    action = ami.originate(
        "PJSIP/alice",
        "o-1",
        application="ConfBridge",
        data=[("cb-1", "name"), ("cb_bridge", "name")],
        asynchronous=False,
    )
    assert b"Data: cb-1,cb_bridge\r\n" in action.payload
    assert action.completion == "response"
    with pytest.raises(UnsafeValueError):
        ami.originate("PJSIP/alice", "o-2", application="ConfBridge", data=[("a,b", "name")])


def test_every_typed_builder_produces_one_block() -> None:
    actions = [
        ami.login("bridge", "s3cret", "1", events="call,reporting"),
        ami.logoff("2"),
        ami.ping("3"),
        ami.events("call,dtmf", "4"),
        ami.confbridge_list("cb-1", "5"),
        ami.confbridge_list_rooms("6"),
        ami.confbridge_kick("cb-1", "PJSIP/a-00000001", "7"),
        ami.confbridge_mute("cb-1", "PJSIP/a-00000001", "8"),
        ami.confbridge_unmute("cb-1", "PJSIP/a-00000001", "9"),
        ami.confbridge_start_record("cb-1", "10", record_file="/var/spool/rec/cb-1.wav"),
        ami.confbridge_stop_record("cb-1", "11"),
        ami.confbridge_lock("cb-1", "12"),
        ami.confbridge_unlock("cb-1", "13"),
        ami.redirect("PJSIP/a-00000001", "bridge-join", "s", "14"),
        ami.hangup("PJSIP/a-00000001", "15", cause=16),
        ami.setvar("BRIDGE_CONF", ("cb-1", "name"), "16", channel="PJSIP/a-00000001"),
        ami.getvar("BRIDGE_CONF", "17", channel="PJSIP/a-00000001"),
        ami.user_event("BridgeNote", "18", {"Conference": ("cb-1", "name")}),
    ]
    for action in actions:
        assert action.payload.endswith(b"\r\n\r\n")
        assert action.payload.count(b"\r\n\r\n") == 1
        assert f"ActionID: {action.action_id}\r\n".encode() in action.payload
    with pytest.raises(UnsafeValueError):
        ami.confbridge_start_record("cb-1", "x", record_file="../../etc/asterisk/manager.conf")


# ------------------------------------------------------------------ tracker


def _msg(raw: bytes) -> list[ami.AmiItem]:
    return AmiParser(expect_banner=False).feed(raw)


def test_tracker_collects_a_list_and_checks_list_items() -> None:
    tracker = ActionTracker()
    tracker.register(ami.confbridge_list("cb-1", "L1"))
    raw = (
        b"Response: Success\r\nActionID: L1\r\nEventList: start\r\n"
        b"Message: Confbridge user list will follow\r\n\r\n"
        b"Event: ConfbridgeList\r\nActionID: L1\r\nChannel: PJSIP/a-1\r\n\r\n"
        b"Event: ConfbridgeJoin\r\nChannel: PJSIP/b-2\r\n\r\n"
        b"Event: ConfbridgeList\r\nActionID: L1\r\nChannel: PJSIP/b-2\r\n\r\n"
        b"Event: ConfbridgeListComplete\r\nActionID: L1\r\nEventList: Complete\r\n"
        b"ListItems: 2\r\n\r\n"
    )
    results = [r for m in _msg(raw) for r in tracker.feed(m)]
    assert len(results) == 1 and results[0].ok
    assert [e.get("Channel") for e in results[0].events] == ["PJSIP/a-1", "PJSIP/b-2"]


def test_tracker_flags_a_list_items_mismatch() -> None:
    tracker = ActionTracker()
    tracker.register(ami.confbridge_list_rooms("R1"))
    raw = (
        b"Response: Success\r\nActionID: R1\r\nEventList: start\r\n\r\n"
        b"Event: ConfbridgeListRoomsComplete\r\nActionID: R1\r\nEventList: Complete\r\n"
        b"ListItems: 3\r\n\r\n"
    )
    (result,) = [r for m in _msg(raw) for r in tracker.feed(m)]
    assert not result.ok and "ListItems" in result.message


@pytest.mark.parametrize("message", ["No active conferences.", "No Conference by that name found."])
def test_tracker_maps_empty_list_errors_to_empty_lists(message: str) -> None:
    tracker = ActionTracker()
    tracker.register(ami.confbridge_list("cb-1", "E1"))
    raw = f"Response: Error\r\nActionID: E1\r\nMessage: {message}\r\n\r\n".encode()
    (result,) = [r for m in _msg(raw) for r in tracker.feed(m)]
    assert result.ok and result.events == ()


def test_tracker_keeps_other_errors_as_errors() -> None:
    tracker = ActionTracker()
    tracker.register(ami.confbridge_list("cb-1", "E2"))
    tracker.register(ami.confbridge_kick("cb-1", "all", "E3"))
    raw = (
        b"Response: Error\r\nActionID: E2\r\nMessage: No Conference name provided.\r\n\r\n"
        b"Response: Error\r\nActionID: E3\r\nMessage: No active conferences.\r\n\r\n"
    )
    results = [r for m in _msg(raw) for r in tracker.feed(m)]
    assert [(r.action_id, r.ok) for r in results] == [("E2", False), ("E3", False)]


def test_tracker_waits_for_originate_response_and_fails_all_on_disconnect() -> None:
    tracker = ActionTracker()
    tracker.register(ami.originate("PJSIP/x", "O1", application="Wait", data=[(1, "integer")]))
    tracker.register(ami.ping("P1"))
    raw = (
        b"Response: Success\r\nActionID: O1\r\nMessage: Originate successfully queued\r\n\r\n"
        b"Event: OriginateResponse\r\nActionID: O1\r\nResponse: Failure\r\nReason: 0\r\n\r\n"
    )
    (result,) = [r for m in _msg(raw) for r in tracker.feed(m)]
    assert result.action_id == "O1" and not result.ok
    (lost,) = tracker.fail_all("connection closed")
    assert lost.action_id == "P1" and not lost.ok
    assert tracker.pending == frozenset()


def test_tracker_refuses_duplicate_action_ids() -> None:
    tracker = ActionTracker()
    tracker.register(ami.ping("D1"))
    with pytest.raises(ValueError):
        tracker.register(ami.ping("D1"))
