"""The parser against every recorded FreeSWITCH byte stream, whole and in pieces."""

from __future__ import annotations

import collections
import itertools
import re
from typing import Literal

import pytest
from bridge_testing.fake_esl import RECORDINGS, REFERENCE, load_transcript, raw_stream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.protocols import esl
from bridge.protocols.esl_events import conference_event


def parse(data: bytes) -> list[esl.EslMessage]:
    parser = esl.EslParser()
    messages = parser.feed(data)
    assert not parser.mid_frame
    return messages


def content_type(msg: esl.EslMessage) -> str:
    match msg:
        case esl.Event() | esl.OtherMessage():
            return msg.content_type
        case esl.AuthRequest():
            return "auth/request"
        case esl.CommandReply():
            return "command/reply"
        case esl.ApiResponse():
            return "api/response"
        case esl.DisconnectNotice():
            return "text/disconnect-notice"
        case esl.RudeRejection():
            return "text/rude-rejection"


def recorded_counts() -> dict[str, tuple[collections.Counter[str], collections.Counter[str]]]:
    """event-counts.txt: per connection, Content-Type counts and Event counts."""
    out: dict[str, tuple[collections.Counter[str], collections.Counter[str]]] = {}
    current: tuple[collections.Counter[str], collections.Counter[str]] | None = None
    for line in (REFERENCE / "event-counts.txt").read_text().splitlines():
        if line.startswith("=== "):
            current = (collections.Counter(), collections.Counter())
            out[line[4:].strip()] = current
        elif (m := re.fullmatch(r"\s+(\d+) (.+)", line)) and current is not None:
            section = current[0] if "/" in m.group(2) else current[1]
            section[m.group(2)] = int(m.group(1))
    return out


def event_key(event: esl.Event) -> str:
    if event.name == "CUSTOM":
        return f"CUSTOM {event.subclass} {event.headers.get('Action')}"
    return event.name


def test_transcripts_rebuild_the_raw_streams() -> None:
    # guards the fake: its frames must be exactly the recorded bytes
    for name in RECORDINGS:
        frames = load_transcript(name)
        sides: tuple[tuple[Literal["fs2app", "app2fs"], str], ...] = (
            ("fs2app", "FS>APP"),
            ("app2fs", "APP>FS"),
        )
        for direction, label in sides:
            joined = b"".join(f.data for f in frames if f.direction == label)
            assert joined == raw_stream(name, direction), (name, direction)


@pytest.mark.parametrize("name", [n for n in RECORDINGS if n[:2] in ("10", "11", "20", "30")])
def test_message_and_event_counts_match_event_counts_txt(name: str) -> None:
    types, events = recorded_counts()[name]
    messages = parse(raw_stream(name, "fs2app"))
    assert collections.Counter(content_type(m) for m in messages) == types
    got = collections.Counter(event_key(m) for m in messages if isinstance(m, esl.Event))
    assert got == events


@pytest.mark.parametrize("name", RECORDINGS)
def test_one_message_per_recorded_fs_frame(name: str) -> None:
    frames = [f for f in load_transcript(name) if f.direction == "FS>APP"]
    assert len(parse(raw_stream(name, "fs2app"))) == len(frames)


@pytest.mark.parametrize("name", [n for n in RECORDINGS if not n.startswith("10")])
def test_byte_by_byte_equals_whole(name: str) -> None:
    data = raw_stream(name, "fs2app")
    parser = esl.EslParser()
    pieces: list[esl.EslMessage] = []
    for i in range(len(data)):
        pieces.extend(parser.feed(data[i : i + 1]))
    assert pieces == parse(data)


def test_byte_by_byte_on_the_start_of_the_all_stream() -> None:
    data = raw_stream("10-events-plain-ALL", "fs2app")
    cut = data.index(b"Content-Length", 200_000)  # a frame boundary near 200 KB
    parser = esl.EslParser()
    pieces: list[esl.EslMessage] = []
    for i in range(cut):
        pieces.extend(parser.feed(data[i : i + 1]))
    assert pieces == parse(data[:cut])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(RECORDINGS),
    cuts=st.lists(st.integers(min_value=0, max_value=3_000_000), max_size=40),
)
def test_random_chunking_equals_whole(name: str, cuts: list[int]) -> None:
    data = raw_stream(name, "fs2app")
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    parser = esl.EslParser()
    pieces: list[esl.EslMessage] = []
    for start, end in itertools.pairwise(bounds):
        pieces.extend(parser.feed(data[start:end]))
    assert pieces == parse(data)


def test_bad_auth() -> None:
    messages = parse(raw_stream("01-bad-auth", "fs2app"))
    assert isinstance(messages[0], esl.AuthRequest)
    reply = messages[1]
    assert isinstance(reply, esl.CommandReply)
    assert (reply.ok, reply.text) == (False, "-ERR invalid")
    notice = messages[2]
    assert isinstance(notice, esl.DisconnectNotice) and not notice.linger
    assert notice.body == "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


def test_command_before_auth() -> None:
    auth_req, early, accepted, api, bye, notice = parse(
        raw_stream("02-command-before-auth", "fs2app")
    )
    assert isinstance(auth_req, esl.AuthRequest)
    assert isinstance(early, esl.CommandReply)
    assert (early.ok, early.text) == (False, "-ERR command not found")
    assert isinstance(accepted, esl.CommandReply) and accepted.text == "+OK accepted"
    assert isinstance(api, esl.ApiResponse) and api.ok
    assert isinstance(bye, esl.CommandReply) and bye.text == "+OK bye"
    assert isinstance(notice, esl.DisconnectNotice)


def test_control_api_errors_are_in_the_body() -> None:
    responses = [
        m for m in parse(raw_stream("20-control", "fs2app")) if isinstance(m, esl.ApiResponse)
    ]
    bodies = {r.body: r.ok for r in responses}
    assert bodies["-ERR Conference nosuch not found\n"] is False
    assert bodies["-ERR Non-Existant ID 999\n"] is False
    assert bodies["+OK No active conferences.\n"] is True
    assert bodies["[]"] is True or bodies.get("[]\n") is True


def test_bgapi_result_body_and_reply_job_uuid() -> None:
    messages = parse(raw_stream("20-control", "fs2app"))
    replies = [m for m in messages if isinstance(m, esl.CommandReply) and m.job_uuid]
    jobs = [m for m in messages if isinstance(m, esl.Event) and m.name == "BACKGROUND_JOB"]
    assert [r.job_uuid for r in replies] == [j.headers["Job-UUID"] for j in jobs]
    assert jobs[0].body == "+OK Job-UUID: 4539a28c-58df-4340-955f-7c92d92c74fd\n"
    assert jobs[0].headers["Job-Command-Arg"] == "room1 bgdial loopback/tone/default 1005 Eve"
    assert jobs[1].body is not None and jobs[1].body.count("\n") == 6  # six members listed


def test_outbound_connect_reply_and_linger_notice() -> None:
    messages = parse(raw_stream("30-outbound-socket", "fs2app"))
    connect = messages[0]
    assert isinstance(connect, esl.CommandReply) and connect.ok
    assert connect.text == "+OK"  # "%2BOK%0A" on the wire
    assert connect.headers["Event-Name"] == "CHANNEL_DATA"
    assert connect.headers["Socket-Mode"] == "async"
    notices = [m for m in messages if isinstance(m, esl.DisconnectNotice)]
    assert [n.linger for n in notices] == [True, False]
    assert notices[0].headers["Linger-Time"] == "-1"


def test_plain_json_and_xml_carry_the_same_conference_events() -> None:
    def events(name: str) -> list[esl.Event]:
        return [m for m in parse(raw_stream(name, "fs2app")) if isinstance(m, esl.Event)]

    plain = events("11-events-plain-conference-maintenance")
    json_ = events("12-events-json-conference-maintenance")
    xml = events("13-events-xml-conference-maintenance")
    assert [e.content_type for e in json_[:1] + xml[:1]] == ["text/event-json", "text/event-xml"]
    assert [e.sequence for e in plain] == [e.sequence for e in json_] == [e.sequence for e in xml]
    for p, j, x in zip(plain, json_, xml, strict=True):
        assert p.header_items == j.header_items == x.header_items


def test_repeated_headers_are_kept() -> None:
    messages = parse(raw_stream("11-events-plain-conference-maintenance", "fs2app"))
    floor = next(
        m
        for m in messages
        if isinstance(m, esl.Event) and m.headers.get("Action") == "floor-change"
    )
    assert len(floor.get_all("Conference-Name")) == 2
    assert floor.headers["Old-ID"] == "none"


def recorded_conference_lines() -> list[list[str]]:
    rows = []
    for line in (REFERENCE / "conference-maintenance-events.txt").read_text().splitlines():
        if re.match(r"\s+\d+ t=", line):
            rows.append([part.strip() for part in line.split("|")])
    return rows


def test_every_recorded_conference_action_is_decoded() -> None:
    rows = recorded_conference_lines()
    messages = parse(raw_stream("11-events-plain-conference-maintenance", "fs2app"))
    typed = [conference_event(m) for m in messages if isinstance(m, esl.Event)]
    assert len(rows) == len(typed) == 175
    for row, ev in zip(rows, typed, strict=True):
        assert ev is not None
        assert ev.action == row[0].split()[-1]
        name, size = row[1].split()
        assert (ev.conference_name, f"size={ev.conference_size}") == (name, size)
        member = row[2].split()
        if member[0] == "id=-":
            assert ev.member_id is None
        else:
            assert f"id={ev.member_id}" == member[0]
            assert ev.member_type == member[1]
            assert ev.channel_uuid == member[-1]
        for pair in row[3].split():
            key, _, value = pair.partition("=")
            if key in ev.headers and "=" in pair and " " not in ev.headers[key]:
                assert ev.headers[key] == value, (ev.action, key)
    by_action = {ev.action: ev for ev in typed if ev is not None}
    assert by_action["dtmf-member"].digits == "1234"
    assert by_action["bgdial-result"].job_uuid == "4539a28c-58df-4340-955f-7c92d92c74fd"
    assert by_action["start-recording"].file == "/opt/fs/rec.wav"
    assert any(ev and ev.hangup_cause == "NORMAL_CLEARING" for ev in typed)
