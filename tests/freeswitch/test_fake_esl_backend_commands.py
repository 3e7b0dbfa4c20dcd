"""FAKE ESL: FreeSwitchBackend against FakeFreeSwitch: the exact bytes each Command
sends, and the observations the recorded conference::maintenance stream produces.

What each command does to a real member (mute, deaf, hold, talker=false, caller-control
digits, a dial-out FreeSWITCH cannot place) is tested on the real FreeSWITCH
(test_freeswitch_real_commands.py, test_freeswitch_real_dialin.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from bridge_testing.engine_fixtures import EVENTS, ROOM1, EslRig, find_event, make_participant

from bridge.core import engine as e
from bridge.core.models import (
    CallOptions,
    ConferenceStatus,
    LeaveReason,
    MediaItem,
    ParticipantOptions,
    PlayBeep,
)
from bridge.pbx.backend import EngineError

pytestmark = pytest.mark.freeswitch


async def test_connect_subscribes_probes_the_version_and_resyncs(rig: EslRig) -> None:
    assert rig.fake.requests[:4] == [
        b"auth ClueCon\n\n",
        b"event plain BACKGROUND_JOB CUSTOM conference::maintenance\n\n",
        b"api version\n\n",
        b"api conference json_list\n\n",
    ]
    assert rig.backend.version == (1, 11, 3)
    assert (await rig.seen.wait(e.Snapshot)) == [e.Snapshot({})]
    assert rig.backend.health()["esl"] == "connected"


async def command_bytes(rig: EslRig, command: e.Command) -> list[bytes]:
    mark = len(rig.fake.requests)
    await rig.backend.execute(command)
    return rig.sent_since(mark)


async def test_play_and_say_to_all_or_one(rig: EslRig) -> None:
    bob = rig.member("Bob")
    await rig.join("Bob")
    await rig.seen.wait(e.MemberJoined)
    c, n = rig.conf, rig.name.encode()
    beep = MediaItem("play", file="beep.wav")
    hello = MediaItem("say", text="hello world")
    # the recorded FreeSWITCH had no TTS engine: say fails there, and we say so
    with pytest.raises(EngineError, match="say"):
        await rig.backend.execute(e.Play(c, (hello,), None, "an_0"))
    rig.fake.overrides[b"api conference room1 say hello world\n\n"] = b"+OK (say) OK\n"
    sent = await command_bytes(rig, e.Play(c, (beep, hello), None, "an_1"))
    assert sent == [
        b"api conference " + n + b" play beep.wav\n\n",
        b"api conference " + n + b" say hello world\n\n",
    ]
    sent = await command_bytes(rig, e.Play(c, (beep, MediaItem("say", text="hello")), bob, "an_2"))
    assert sent == [
        b"api conference " + n + b" play beep.wav 2\n\n",
        b"api conference " + n + b" saymember 2 hello\n\n",
    ]
    # an_0 failed (its finish follows all the same); the others end in say (no done
    # event): finished once FreeSWITCH took them
    done = await rig.seen.wait(e.AnnouncementFinished, 3)
    assert [a.announcement_id for a in done] == ["an_0", "an_1", "an_2"]


async def test_announcement_finishes_on_play_file_done(rig: EslRig) -> None:
    c = rig.conf
    # a media item is a file under the media directory, never an absolute path: the
    # recorded FreeSWITCH played /opt/fs/share/freeswitch/sounds/test/beep-2s.wav
    rig.backend._media_root = "/opt/fs/share/freeswitch/sounds"
    beep = MediaItem("play", file="test/beep-2s.wav")
    rig.member("Bob")
    await rig.join("Bob")
    await rig.backend.execute(e.Play(c, (beep,), None, "an_beep"))
    assert rig.seen.of(e.AnnouncementFinished) == []
    frame = find_event(
        EVENTS, "play-file-done", File="/opt/fs/share/freeswitch/sounds/" + (beep.file or "")
    )
    await rig.push(frame)
    assert await rig.seen.wait(e.AnnouncementFinished) == [e.AnnouncementFinished(c.id, "an_beep")]


async def test_recording_start_pause_resume_stop_and_its_end(rig: EslRig) -> None:
    c, n = rig.conf, rig.name.encode()
    rig.member("Bob")
    await rig.join("Bob")
    path = "/opt/fs/rec.wav"  # the recorded path, so the recorded stop-recording matches
    assert await command_bytes(rig, e.StartRecording(c, "rc_1", path)) == [
        b"api conference " + n + b" recording start /opt/fs/rec.wav\n\n"
    ]
    assert await command_bytes(rig, e.PauseRecording(c, "rc_1", True)) == [
        b"api conference " + n + b" recording pause /opt/fs/rec.wav\n\n"
    ]
    assert await command_bytes(rig, e.PauseRecording(c, "rc_1", False)) == [
        b"api conference " + n + b" recording resume /opt/fs/rec.wav\n\n"
    ]
    assert await command_bytes(rig, e.StopRecording(c, "rc_1")) == [
        b"api conference " + n + b" recording stop /opt/fs/rec.wav\n\n"
    ]
    await rig.push(find_event(EVENTS, "stop-recording"))
    ended = await rig.seen.wait(e.RecordingEnded)
    assert ended == [e.RecordingEnded(c.id, "rc_1", size_bytes=58064, duration_seconds=3.62)]


async def test_kick_hup_and_end_conference(rig: EslRig) -> None:
    c, n = rig.conf, rig.name.encode()
    carol, dave = rig.member("Carol"), rig.member("Dave")
    await rig.join("Carol")
    await rig.join("Dave")
    await rig.seen.wait(e.MemberJoined, 2)
    assert await command_bytes(rig, e.Kick(c, carol, LeaveReason.KICKED)) == [
        b"api conference " + n + b" kick 3\n\n"
    ]
    assert await command_bytes(rig, e.Kick(c, dave, LeaveReason.EXIT_DIGIT)) == [
        b"api conference " + n + b" hup 4\n\n"
    ]
    await rig.push(find_event(EVENTS, "del-member", Member_ID="3"))
    await rig.push(find_event(EVENTS, "del-member", Member_ID="4"))
    left = await rig.seen.wait(e.MemberLeft, 2)
    assert left == [
        e.MemberLeft(carol.id, LeaveReason.KICKED),
        e.MemberLeft(dave.id, LeaveReason.EXIT_DIGIT),
    ]
    frank = rig.member("Frank")
    rig.member("Eve", call_options=CallOptions(next_page="https://app.example/next"))
    await rig.join("Frank")
    await rig.join("Eve")
    await rig.seen.wait(e.MemberJoined, 4)
    sent = await command_bytes(rig, e.EndConference(c))
    # everyone leaves; Frank's call ends, Eve's goes on to its next page
    assert sent == [
        b"api conference " + n + b" hup all\n\n",
        b"api uuid_kill " + ROOM1["Frank"][0].encode() + b"\n\n",
    ]
    assert frank.id not in {m.participant_id for m in rig.seen.of(e.MemberLeft)}


async def test_recorded_stream_becomes_observations(rig: EslRig) -> None:
    who = {name: rig.member(name) for name in ROOM1}
    pid = {name: p.id for name, p in who.items()}
    await rig.fake.push(*EVENTS)
    await rig.seen.wait(e.MemberLeft, 6)
    joined = [o.participant_id for o in rig.seen.of(e.MemberJoined)]
    assert joined == [pid[n] for n in ("Alice", "Bob", "Carol", "Dave", "Eve", "Frank")]
    left = {o.participant_id for o in rig.seen.of(e.MemberLeft)}
    assert left == set(pid.values())
    # Eve was transferred to room9: its room9 events are not about our conference
    bob_mutes = [o.muted for o in rig.seen.of(e.MuteChanged) if o.participant_id == pid["Bob"]]
    assert bob_mutes[:6] == [True, False, True, False, True, False]
    talking = {o.participant_id for o in rig.seen.of(e.TalkingChanged)}
    assert pid["Alice"] in talking and pid["Carol"] not in talking
    assert rig.backend.events_applied > 100  # room2/room3 events are filtered before this


async def test_stale_member_events_are_ignored(rig: EslRig) -> None:
    bob = rig.member("Bob")
    await rig.join("Bob")
    await rig.seen.wait(e.MemberJoined)
    # the same channel in another instance of the conference: a different unique id
    frame = find_event(EVENTS, "del-member", Member_ID="3")
    carol_uuid, bob_uuid = (ROOM1[n][0].encode() for n in ("Carol", "Bob"))
    frame = frame.replace(b"Unique-ID: " + carol_uuid, b"Unique-ID: " + bob_uuid)
    stale = frame.replace(b"Conference-Unique-ID: a9f9672c", b"Conference-Unique-ID: 00000000")
    await rig.push(stale)
    await rig.push(find_event(EVENTS, "start-talking", Member_ID="2"))
    await rig.seen.wait(e.TalkingChanged)
    assert rig.seen.of(e.MemberLeft) == []
    assert bob.id in rig.backend._by_participant


async def test_originate_sends_bgapi_with_our_job_uuid(rig: EslRig) -> None:
    c = replace(rig.conf, status=ConferenceStatus.POPULATED, play_beep=PlayBeep.NEVER)
    opts = ParticipantOptions(start_on_entry=True, destroy_on_exit=True)
    rig.backend._dial_prefix = "loopback/"  # configuration, not the tenant, picks the trunk
    p = make_participant(c, to="tone", from_="1004", options=opts)
    mark = len(rig.fake.requests)
    await rig.backend.execute(e.Originate(c, p))
    (sent,) = await rig.fake.wait_for(b"bgapi originate")
    assert rig.sent_since(mark) == [sent]
    line, job, end = sent.split(b"\n")[0], sent.split(b"\n")[1], sent[-2:]
    uuid = rig.backend._by_participant[p.id]
    assert line == (
        b"bgapi originate {origination_uuid=" + uuid.encode() + b",originate_timeout=30,"
        b"bridge_participant_id=" + p.id.encode() + b",conference_controls=cb-digits,"
        b"conference_moderator_controls=cb-digits,conference_permanent_wait_mod_moh=true,"
        b"conference_enter_sound=silence_stream://10,conference_exit_sound=silence_stream://10,"
        b"origination_caller_id_number=1004,origination_callee_id_number=tone}loopback/tone "
        b"&conference(" + rig.name.encode() + b"@default+flags{moderator|endconf})"
    )
    assert job.startswith(b"Job-UUID: ") and end == b"\n\n"
    assert await rig.seen.wait(e.CallAnswered) == [e.CallAnswered(p.id)]


async def test_answered_dial_out_gets_its_maximum_call_duration(rig: EslRig) -> None:
    p = replace(
        make_participant(rig.conf, to="sip:bob@example.org"),
        call_options=CallOptions(minutes_max_call_duration=2),
    )
    await rig.backend.execute(e.Originate(rig.conf, p))
    (sent,) = await rig.fake.wait_for(b"api sched_hangup")
    uuid = rig.backend._by_participant[p.id]
    assert sent == b"api sched_hangup +120 " + uuid.encode() + b" ALLOTTED_TIMEOUT\n\n"


async def test_live_play_beep_change_follows_with_enter_and_exit_sound(rig: EslRig) -> None:
    bob = rig.member("Bob")
    await rig.join("Bob")
    n = rig.name.encode()
    quiet = replace(rig.conf, play_beep=PlayBeep.EXIT_ONLY)
    sent = await command_bytes(rig, e.SetMute(quiet, bob, True))
    assert sent == [
        b"api conference " + n + b" enter_sound off\n\n",
        b"api conference " + n + b" mute 2\n\n",
    ]


async def test_commands_for_unknown_calls_are_refused(rig: EslRig) -> None:
    stranger = make_participant(rig.conf)
    for command in (
        e.SetMute(rig.conf, stranger, True),
        e.Kick(rig.conf, stranger, LeaveReason.KICKED),
        e.Play(rig.conf, (MediaItem("play", file="x.wav"),), stranger),
    ):
        with pytest.raises(EngineError):
            await rig.backend.execute(command)
