"""The per-participant dynamic profile (CONFBRIDGE(...) set by our FastAGI) is what
ConfBridge() really uses.

app_confbridge reads the CONFBRIDGE() datastore only when ConfBridge()'s profile argument
is blank (conf_find_bridge_profile / conf_find_user_profile); a named profile wins over
it. These tests watch options whose effect Asterisk reports itself: startmuted (the
ConfbridgeJoin event's Muted header), the user timeout (CONFBRIDGE_RESULT=TIMEOUT in our
BridgeConfLeave UserEvent) and the bridge's max_members (the caller over the limit
leaves with FAILED).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bridge_testing.ami_test_client import AmiTestClient, next_action_id
from bridge_testing.asterisk_pbx import AsteriskProcess
from bridge_testing.sipp import sipp_available
from bridge_testing.sipp_phone import Phone, dial, uac_scenario
from bridge_testing.wait import until
from live_bridge import Live

from bridge.core.models import Conference, Participant, ParticipantOptions, PlayBeep
from bridge.pbx.asterisk import mapping
from bridge.pbx.asterisk.dialin import set_dynamic_profile
from bridge.pbx.asterisk.fastagi import AgiSession, FastAgiServer
from bridge.pbx.asterisk.mapping import ProfileSetting
from bridge.protocols import ami
from bridge.protocols.ami import AmiEvent

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(not sipp_available(), reason="sipp (package sip-tester) is not installed"),
]

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _in(name: str, conference: str) -> Callable[[AmiEvent], bool]:
    def match(event: AmiEvent) -> bool:
        return event.name == name and event.get("Conference") == conference

    return match


def _left(conference: str) -> Callable[[AmiEvent], bool]:
    def match(event: AmiEvent) -> bool:
        return (
            event.name == "UserEvent"
            and event.get("UserEvent") == "BridgeConfLeave"
            and event.get("Conference") == conference
        )

    return match


@contextlib.asynccontextmanager
async def routing(
    pbx: AsteriskProcess, conference: str, settings: Sequence[ProfileSetting]
) -> AsyncIterator[None]:
    """A FastAGI that admits every caller into ``conference`` with ``settings`` as its
    dynamic profile, the way the bridge's own handler does it."""

    async def route(session: AgiSession) -> None:
        await set_dynamic_profile(session, settings)
        await session.set_variable("BRIDGE_CONF", conference, "name")

    async with FastAgiServer(route, port=pbx.ports.agi):
        yield


def _phone(workdir: Path, pbx: AsteriskProcess, phones: list[Phone]) -> Phone:
    phone = dial(workdir / f"phone{len(phones)}", pbx.ports.sip, "7700", uac_scenario())
    phones.append(phone)
    return phone


@pytest.fixture
def phones() -> Iterator[list[Phone]]:
    made: list[Phone] = []
    yield made
    for phone in made:
        phone.stop()


async def test_dynamic_user_profile_startmuted_and_timeout_apply(
    asterisk: AsteriskProcess, ami_client: AmiTestClient, tmp_path: Path, phones: list[Phone]
) -> None:
    conference = "cb-dynamic-user"
    conf = Conference("cf_dyn", "ac_dyn", "n", NOW, NOW, play_beep=PlayBeep.NEVER)
    listener = Participant(
        "pa_dyn", "cf_dyn", "ac_dyn", NOW, NOW, options=ParticipantOptions(talker=False)
    )
    settings = [
        *mapping.profile_settings(conf, listener),
        ProfileSetting("user", "timeout", "2", "integer"),
    ]
    since = ami_client.mark()
    async with routing(asterisk, conference, settings):
        phone = _phone(tmp_path, asterisk, phones)
        join = await ami_client.wait_event(_in("ConfbridgeJoin", conference), since=since)
        # Muted at the join itself: startmuted came from the dynamic profile.
        assert join.get("Muted") == "Yes", join.headers
        left = await ami_client.wait_event(_left(conference), since=since, within=15)
        assert left.get("Result") == "TIMEOUT", left.headers
        assert await phone.finished() == 0, phone.output()


async def test_dynamic_bridge_profile_max_members_applies(
    asterisk: AsteriskProcess, ami_client: AmiTestClient, tmp_path: Path, phones: list[Phone]
) -> None:
    conference = "cb-dynamic-bridge"
    settings = [
        ProfileSetting("bridge", "template", mapping.BRIDGE_TEMPLATE),
        ProfileSetting("bridge", "max_members", "1", "integer"),
        ProfileSetting("user", "template", mapping.USER_TEMPLATE),
        ProfileSetting("user", "quiet", "yes"),
    ]
    since = ami_client.mark()
    async with routing(asterisk, conference, settings):
        first = _phone(tmp_path, asterisk, phones)
        join = await ami_client.wait_event(_in("ConfbridgeJoin", conference), since=since)
        second_since = ami_client.mark()
        _phone(tmp_path, asterisk, phones)

        # The second caller either joins (max_members ignored) or is refused.
        def second_outcome(event: AmiEvent) -> bool:
            return _left(conference)(event) or _in("ConfbridgeJoin", conference)(event)

        outcome = await ami_client.wait_event(second_outcome, since=second_since, within=15)
        assert outcome.name == "UserEvent", f"a second member joined: {outcome.headers}"
        assert outcome.get("Result") == "FAILED"
        assert outcome.get("Uniqueid") != join.get("Uniqueid")
        kick = ami.confbridge_kick(conference, "all", next_action_id())
        assert (await ami_client.send(kick)).ok
        assert await first.finished() == 0, first.output()


async def test_listener_joins_muted_without_a_later_mute(live: Live) -> None:
    """End to end: talker=false is muted by ConfBridge at the join, not by the bridge's
    corrective ConfbridgeMute after it."""
    conf = await live.conference(
        "7701", play_beep="never", dial_in={"participant_options": {"talker": False}}
    )
    name = "cb-" + conf["id"].replace("_", "-")
    since = live.ami.mark()
    phone = live.phone("7701")
    join = await live.ami.wait_event(_in("ConfbridgeJoin", name), since=since)
    assert join.get("Muted") == "Yes", join.headers
    [p] = await live.wait_participants(conf["id"], 1)
    assert p["muted"] is True
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")
    assert await phone.finished() == 0, phone.output()


async def test_join_sound_comes_from_the_dynamic_bridge_profile(live: Live) -> None:
    """play_beep=exit_only: the join sound is silence/1 (the dynamic bridge profile), not
    ConfBridge's default confbridge-join. Asterisk's verbose log names what it plays."""
    conf = await live.conference("7702", play_beep="exit_only")
    announcer = "<CBAnn/cb-" + conf["id"].replace("_", "-") + "-"
    phone = live.phone("7702")
    await live.wait_participants(conf["id"], 1)

    def played() -> list[str]:
        lines = live.pbx.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if announcer in line and "Playing '" in line]

    first = (await until(played, what="the join sound in the Asterisk log"))[0]
    assert "Playing 'silence/1" in first, first
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")
    assert await phone.finished() == 0, phone.output()
