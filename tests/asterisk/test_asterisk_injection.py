"""Dialplan-function expansion, splitting and trunk choice, proved on the real Asterisk.

Every payload carries its own marker: ``${SHELL(touch /tmp/<marker>)}`` and friends,
``$[...]``, values with `,` `|` `&` `^` quotes and parentheses (which split application
data into extra arguments, e.g. MixMonitor's shell command), and CR/LF payloads that would
add a whole AMI ``Originate`` of our test-only ``[bridge-test-probe]`` context (which runs
``${SHELL(touch /tmp/<marker>)}``) or an AGI ``EXEC System``. Asterisk runs chrooted, so
a payload that executed leaves ``<asterisk-root>/tmp/<marker>``; the positive controls
first show that this check does see an execution (through the bridge's own AMI user).

Fields, through the real app: dial-out ``to`` and ``from``, every media file (hold,
wait, announcements, name / has_joined / has_left, while_stopped), say text, reservation
``divert``; from the caller's side (SIPp): From user, display name and dialled digits.
Then straight at the backend and the AMI/AGI/mapping builders (defence in depth).
"""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from bridge_testing.ami_test_client import AmiTestClient, next_action_id
from bridge_testing.asterisk_pbx import ADMIN_USER, AsteriskProcess
from bridge_testing.sipp import sipp_available
from bridge_testing.tcp_proxy import CuttableProxy
from bridge_testing.wait import Not, until
from live_bridge import Live, running_bridge

from bridge.core import engine as e
from bridge.core.admission import Admission, Outcome
from bridge.core.ids import engine_name
from bridge.core.models import Conference, MediaItem, Participant, ParticipantOptions
from bridge.pbx.asterisk import mapping
from bridge.pbx.asterisk.dialin import DialIn, confbridge_command
from bridge.pbx.asterisk.fastagi import AgiSession
from bridge.pbx.backend import EngineError, InboundCall, Route
from bridge.protocols import agi, ami
from bridge.protocols.agi import AgiEnvironment, AgiProtocolError, AgiResponse
from bridge.protocols.safe import UnsafeValueError

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(not sipp_available(), reason="sipp (package sip-tester) is not installed"),
]

# {m} is the marker; every template runs `touch /tmp/{m}` if anything expands or splits.
TEMPLATES = (
    "${{SHELL(touch /tmp/{m})}}",
    "$[${{SHELL(touch /tmp/{m})}}]",
    "$[1 + SHELL(touch /tmp/{m})]",
    "${{EVAL(${{SHELL(touch /tmp/{m})}})}}",
    "x,,touch /tmp/{m}",  # MixMonitor(file,,command) / Playback(file,options)
    "x|System(touch /tmp/{m})",
    "x&System(touch /tmp/{m})",
    "x^b(System(touch /tmp/{m}))",
    'x"),System(touch /tmp/{m}',
    "x'${{SHELL(touch /tmp/{m})}}'",
    "x\r\nAction: Originate\r\nChannel: Local/shell@bridge-test-probe\r\nApplication: Wait\r\n"
    "Data: 1\r\nVariable: BRIDGE_TEST_MARKER={m}\r\n",
    "x\nAction: Originate\nChannel: Local/shell@bridge-test-probe\nApplication: Wait\n"
    "Data: 1\nVariable: BRIDGE_TEST_MARKER={m}\n",
    'x\nEXEC System "touch /tmp/{m}"\n',
    "x\x00${{SHELL(touch /tmp/{m})}}",
)
# A tenant choosing the PJSIP endpoint (trunk) or a channel technology.
TRUNK_CHOICES = (
    "bridge-test-victim/sip:bob@127.0.0.1:5070",
    "accnoendpoint/sip:bob@127.0.0.1",
    "PJSIP/bridge-test-victim",
    "PJSIP/1001@bridge-test-victim",
    "1001@bridge-test-victim",
    "Local/shell@bridge-test-probe",
    "sip:bob@127.0.0.1;transport=tcp",
    "sip:bob@127.0.0.1?X-Evil=1",
    "sip:${{SHELL(touch /tmp/{m})}}@127.0.0.1",
)


@dataclass
class Markers:
    """Unique marker names and where an execution would leave them (the chroot's /tmp)."""

    pbx: AsteriskProcess
    made: list[str] = field(default_factory=list)

    def new(self) -> str:
        marker = f"cbinj{secrets.token_hex(6)}"
        self.made.append(marker)
        return marker

    def payloads(self, templates: tuple[str, ...] = TEMPLATES) -> list[tuple[str, str]]:
        """``(marker, payload)`` per template, each with its own marker."""
        out = []
        for template in templates:
            marker = self.new()
            out.append((marker, template.format(m=marker)))
        return out

    def path(self, marker: str) -> Path:
        return self.pbx.root / "tmp" / marker

    def fired(self) -> list[str]:
        return [m for m in self.made if self.path(m).exists()]

    async def settled(self, client: AmiTestClient) -> None:
        """Until a control shell started now has run. An absence needs a moment that
        proves it: every payload reached Asterisk before this, and a payload that executed
        would run the same way (a Local/ channel into the probe context, or a shell from
        the dialplan), so once the control's marker exists a payload's would too."""
        control = f"cbctl{secrets.token_hex(6)}"  # not in `made`: it is meant to fire
        await self.run_probe(client, control)
        self.path(control).unlink()

    async def run_probe(self, client: AmiTestClient, marker: str) -> None:
        """Originate into the probe context, whose shell leaves `marker`; wait for it."""
        action = ami.originate(
            "Local/shell@bridge-test-probe",
            next_action_id(),
            application="Wait",
            data=[(1, "integer")],
            variables={"BRIDGE_TEST_MARKER": (marker, "name")},
        )
        result = await client.send(action, within=15)
        assert result.ok, result
        await until(lambda: self.path(marker).exists(), 15, f"marker {marker}")

    async def assert_none_fired(self, client: AmiTestClient) -> None:
        await self.settled(client)
        assert self.fired() == [], "payload executed on Asterisk"

    def cleanup(self) -> None:
        for marker in self.made:
            self.path(marker).unlink(missing_ok=True)


@pytest.fixture
def markers(asterisk: AsteriskProcess) -> Any:
    box = Markers(asterisk)
    yield box
    box.cleanup()


@pytest.fixture
async def admin_ami(asterisk: AsteriskProcess) -> AsyncIterator[AmiTestClient]:
    client = await AmiTestClient.connect(
        "127.0.0.1", asterisk.ports.ami, ADMIN_USER, asterisk.admin_secret
    )
    try:
        yield client
    finally:
        await client.close()


def raw_action(name: str, *lines: str) -> ami.AmiAction:
    """An action written by hand, past our codec (the test plays a client we do not own)."""
    aid = next_action_id("raw")
    text = "\r\n".join([f"Action: {name}", f"ActionID: {aid}", *lines]) + "\r\n\r\n"
    return ami.AmiAction(name, aid, text.encode())


async def getvar(client: AmiTestClient, variable: str, channel: str | None = None) -> str | None:
    lines = ([f"Channel: {channel}"] if channel else []) + [f"Variable: {variable}"]
    result = await client.send(raw_action("Getvar", *lines))
    assert result.response is not None
    return result.response.get("Value") if result.ok else None


# ============================================================== positive controls


async def test_marker_check_detects_a_real_execution(
    asterisk: AsteriskProcess, ami_client: AmiTestClient, admin_ami: AmiTestClient, markers: Markers
) -> None:
    """Controls that can fail: an Originate into the probe context really runs the shell
    (through the bridge's own AMI user: exactly what a CR/LF-injected Originate would
    do), so a missing marker elsewhere means "not executed", not "not detectable"."""
    for client in (ami_client, admin_ami):
        await markers.run_probe(client, markers.new())
    # Least privilege: the shipped user may not even read ${SHELL()} (needs write=system).
    marker = markers.new()
    result = await ami_client.send(raw_action("Getvar", f"Variable: SHELL(touch /tmp/{marker})"))
    assert not result.ok and "Forbidden" in result.message, result
    # And a plain Setvar stores ${SHELL(...)} literally: expansion happens only where a
    # dialplan line substitutes it, which is why every value we set is checked.
    uid = f"cb-test-{secrets.token_hex(4)}"
    result = await admin_ami.send(
        raw_action(
            "Originate",
            "Channel: Local/wait@bridge-test-probe",
            "Application: Wait",
            "Data: 20",
            f"ChannelId: {uid}",
            "Async: true",
        ),
        within=15,
    )
    assert result.ok, result
    literal = f"${{SHELL(touch /tmp/{marker})}}"

    async def stored() -> bool | Not:  # once the channel exists
        set_result = await ami_client.send(
            raw_action("Setvar", f"Channel: {uid}", "Variable: BRIDGE_TEST", f"Value: {literal}")
        )
        return set_result.ok or Not(set_result.message)

    await until(stored, 5, f"Setvar on {uid}", every=0.1)
    assert await getvar(ami_client, "BRIDGE_TEST", uid) == literal
    await ami_client.send(ami.hangup(uid, next_action_id()))
    await markers.settled(ami_client)
    assert not markers.path(marker).exists()  # neither the Getvar nor the Setvar ran it


# ============================================================== through the API


def _error_code(body: Any) -> str:
    assert isinstance(body, dict) and "error" in body, body
    return str(body["error"]["code"])


async def test_api_refuses_every_payload_and_changes_nothing(
    proxied: tuple[Live, CuttableProxy], markers: Markers
) -> None:
    live, proxy = proxied
    conf = await live.conference("5301")
    cid = conf["id"]
    sent_before = len(proxy.sent)
    start = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%d_%H:%M:%S")

    def play(file: str) -> dict[str, Any]:
        return {"play": {"file": file}}

    def in_option(option: str) -> Callable[[str], dict[str, Any]]:
        return lambda v: {"to": "1001", "participant": {option: play(v)}}

    media_fields: list[tuple[str, str, Callable[[str], dict[str, Any]]]] = [
        (
            "POST",
            f"/v1/conferences/{cid}/participants",
            lambda v: {"to": "1001", "hold_media": play(v)},
        ),
        ("POST", f"/v1/conferences/{cid}/announcements", lambda v: {"media": play(v)}),
        ("POST", f"/v1/conferences/{cid}/announcements", lambda v: {"media": {"say": {"text": v}}}),
        ("PATCH", f"/v1/conferences/{cid}", lambda v: {"wait_media": play(v)}),
        ("POST", "/v1/conferences", lambda v: {"name": "n", "wait_media": play(v)}),
    ] + [
        ("POST", f"/v1/conferences/{cid}/participants", in_option(option))
        for option in ("name", "has_joined_message", "has_left_message", "while_stopped_media")
    ]
    codes: dict[str, set[str]] = {"to": set(), "from": set(), "divert": set(), "media": set()}
    for _marker, value in markers.payloads(TRUNK_CHOICES):
        status, body = await live.call(
            "POST", f"/v1/conferences/{cid}/participants", json={"to": value}
        )
        assert status == 400, (value, status, body)
        codes["to"].add(_error_code(body))
        divert = {"conference_name": "Inj", "max_participants": 40, "start_time": start,
                  "duration": 60, "divert": value}  # fmt: skip
        status, body = await live.call("POST", "/v1/reservations", json=divert)
        assert status == 400, (value, status, body)
        codes["divert"].add(_error_code(body))
    for _marker, value in markers.payloads():
        status, body = await live.call(
            "POST", f"/v1/conferences/{cid}/participants", json={"to": value}
        )
        assert status == 400, (value, status, body)
        codes["to"].add(_error_code(body))
        status, body = await live.call(
            "POST", f"/v1/conferences/{cid}/participants", json={"to": "1001", "from": value}
        )
        assert status == 400, (value, status, body)
        codes["from"].add(_error_code(body))
        reservation = {
            "conference_name": "Inj",
            "max_participants": 40,
            "start_time": start,
            "duration": 60,
            "divert": value,
        }
        status, body = await live.call("POST", "/v1/reservations", json=reservation)
        assert status == 400, (value, status, body)
        codes["divert"].add(_error_code(body))
        for method, path, build in media_fields:
            status, body = await live.call(method, path, json=build(value))
            assert status == 400, (path, value, status, body)
            codes["media"].add(_error_code(body))
    # the NUL payload is refused at the JSON edge (invalid_text), the others by the field
    assert codes["to"] == {"invalid_dial_target", "invalid_text"}
    assert codes["divert"] == {"invalid_dial_target", "invalid_text"}
    assert codes["from"] == {"invalid_field", "invalid_text"}
    assert codes["media"] <= {"invalid_field", "invalid_text"}, codes
    # Nothing changed: no participant, no reservation, the conference as it was, and not
    # one byte of any payload on the AMI wire.
    assert await live.participants(cid, "joining") == []
    assert (await live.get(cid)).get("wait_media") == conf.get("wait_media")
    listing = await live.ok("GET", "/v1/reservations")
    assert listing["items"] == []
    new_bytes = bytes(proxy.sent[sent_before:])
    assert not any(m.encode() in new_bytes for m in markers.made)
    assert b"Originate" not in new_bytes
    await markers.assert_none_fired(live.ami)


# ============================================================== from the caller's side


def _filtered(value: str, allowed: str) -> str:
    return "".join(ch for ch in value if ch in allowed)


CALLER_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+._-"


async def test_caller_ids_and_dialled_digits_are_filtered_literally(
    live: Live, markers: Markers
) -> None:
    """From user (percent-encoded, so Asterisk decodes `${`, `,`, CR/LF...), display name
    and the dialled number carry payloads; the dialplan FILTERs them before AGI, the
    bridge admits the call with the filtered, literal id, and nothing expands."""
    conf = await live.conference("5302")
    users = markers.payloads(
        (
            "${{SHELL(touch /tmp/{m})}}",
            "$[${{SHELL(touch /tmp/{m})}}]",
            "a,b|c&d^e(f)'g-{m}",
            "x\r\nagi_uniqueid: hijack\r\nagi_arg_1: 9999{m}",
            "${{EVAL(${{SHELL(touch /tmp/{m})}})}}",
        )
    )
    names = markers.payloads(
        (
            "${{SHELL(touch /tmp/{m})}}",
            "a,b|c&d^e(f)'g {m}",
            "${{EVAL(x)}} {m}",
            "$(touch /tmp/{m})",
            "`touch /tmp/{m}`",
        )
    )
    phones = []
    for (_, user), (_, name) in zip(users, names, strict=True):
        encoded = urllib.parse.quote(user, safe="")
        phones.append(live.phone("5302", user=encoded, name=name, wait_for_bye_ms=30_000))
    # dialled digits: the first character is not an extension character at all (no match:
    # 404), or valid digits are followed by a payload (FILTERed to an unknown code: 404)
    dialled = [
        urllib.parse.quote(p, safe="")
        for _, p in markers.payloads(("${{SHELL(touch /tmp/{m})}}", "5302,|&$[{m}]"))
    ]
    dialled.append("5302" + urllib.parse.quote("${SHELL(touch /tmp/" + markers.new() + ")}"))
    refused = [live.phone(code, expect=404) for code in dialled]
    people = await live.wait_participants(conf["id"], len(phones), within=30)
    filtered = [_filtered(urllib.parse.unquote(u), CALLER_ALPHABET) for _, u in users]
    # the bridge's caller_id allow-list holds 40 characters at most: longer ones are dropped
    bridge_from = sorted(str(v if len(v) <= 40 else None) for v in filtered)
    # the bridge saw the filtered literal value (a CR/LF-injected env line would have
    # changed agi_uniqueid or agi_arg_1 and the call would not have been admitted here)
    assert sorted(str(p["from"]) for p in people) == bridge_from
    calls = list(live.backend.registry.calls.values())
    assert all(c.uniqueid != "hijack" for c in calls)
    # Asterisk's own view of each live channel, read back with Getvar
    seen_nums, seen_names = [], []
    for call in calls:
        seen_nums.append(await getvar(live.ami, "CALLERID(num)", call.uniqueid))
        seen_names.append(await getvar(live.ami, "CALLERID(name)", call.uniqueid))
    assert sorted(str(n) for n in seen_nums) == sorted(filtered)
    expected_names = sorted(_filtered(n, CALLER_ALPHABET) for _, n in names)
    assert sorted(str(n) for n in seen_names) == expected_names
    log = live.pbx.log_path.read_text(errors="replace")
    for value in filtered:
        assert f"CALLERID(num)={value}" in log  # the Set() that stored the literal
    for phone in refused:
        assert await phone.finished() == 0, phone.output()
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")
    for phone in phones:
        assert await phone.ended_by_pbx(), phone.output()
    await markers.assert_none_fired(live.ami)


# ============================================================== divert and trunk choice


async def _reserve(live: Live, code: str, divert: str) -> None:
    start = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%d_%H:%M:%S")
    body = {
        "conference_name": f"Div{code}",
        "max_participants": 40,
        "start_time": start,
        "duration": 60,
        "divert": divert,
        "conference": {"dial_in": {"access_code": code}},
    }
    await live.ok("POST", "/v1/reservations", 201, json=body)


def _contacts_of_302(messages: str) -> list[str]:
    out, in_302 = [], False
    for line in messages.splitlines():
        if line.startswith("SIP/2.0 "):
            in_302 = line.startswith("SIP/2.0 302")
        elif line.endswith(" SIP/2.0"):  # a request line (our ACK) ends the response
            in_302 = False
        elif in_302 and line.lower().startswith(("contact:", "m:")):
            out.append(line.split(":", 1)[1].strip())
    return out


async def test_divert_goes_through_the_configured_endpoint_only(
    asterisk: AsteriskProcess,
    ami_client: AmiTestClient,
    receiver: Any,
    tmp_path: Path,
) -> None:
    """Transfer() on PJSIP looks its argument up as an endpoint name and 302s to that
    endpoint's contact. A divert "bridge-test-victim" must not reveal or use the victim
    endpoint: a user or number divert goes through the configured dial endpoint
    (bridge-test-trunk, contact sip:trunk@127.0.0.1:5999) with the user replaced."""
    async with running_bridge(
        asterisk, ami_client, receiver, tmp_path, dial_endpoint="bridge-test-trunk"
    ) as live:
        cases = (
            ("5311", "bridge-test-victim", "<sip:bridge-test-victim@127.0.0.1:5999>"),
            ("5312", "+4420123456", "<sip:+4420123456@127.0.0.1:5999>"),
            ("5313", "sip:lobby@example.org:5070", "<sip:lobby@example.org:5070>"),
        )
        for code, divert, contact in cases:
            await _reserve(live, code, divert)
            phone = live.phone(code, expect=302, trace=True)
            assert await phone.finished() == 0, phone.output()
            contacts = _contacts_of_302(phone.messages())
            assert contacts == [contact], (divert, contacts)
            assert "victim-secret" not in phone.messages()
        # an Originate for the user "bridge-test-victim" is dialled on the trunk
        channel = mapping.dial_channel("bridge-test-victim", "bridge-test-trunk")
        assert channel == "PJSIP/bridge-test-victim@bridge-test-trunk"
        assert not live.backend.registry.calls


async def test_divert_with_no_contact_on_the_endpoint_is_busy(live: Live) -> None:
    """The default dial endpoint (bridge-loopback) has no contact: a name divert cannot be
    resolved, so the caller is busied (486) instead of being sent to an endpoint the
    name happens to match."""
    await _reserve(live, "5314", "bridge-test-victim")
    phone = live.phone("5314", expect=486, trace=True)
    assert await phone.finished() == 0, phone.output()
    assert "victim-secret" not in phone.messages()


# ============================================================== past the API


def _now() -> datetime:
    return datetime.now(UTC)


def _participant(conf_id: str, **kw: Any) -> Participant:
    now = _now()
    return Participant("pa_" + secrets.token_hex(13), conf_id, "ac_x", now, now, **kw)


async def test_backend_refuses_payloads_that_skip_the_api(
    proxied: tuple[Live, CuttableProxy], markers: Markers
) -> None:
    live, proxy = proxied
    conf = await live.conference("5303")
    model = Conference(conf["id"], "ac_x", "n", _now(), _now())
    backend = live.backend
    sent_before = len(proxy.sent)
    for _marker, value in markers.payloads(TRUNK_CHOICES):
        with pytest.raises(EngineError):
            await backend.execute(e.Originate(model, _participant(conf["id"], to=value)))
    for _marker, value in markers.payloads():
        with pytest.raises(EngineError):
            await backend.execute(e.Originate(model, _participant(conf["id"], to=value)))
        with pytest.raises(EngineError):
            await backend.execute(e.Play(model, (MediaItem("play", file=value),), None, "an_x"))
        with pytest.raises(EngineError):
            await backend.execute(e.StartRecording(model, "re_x", f"/tmp/{value}.wav"))
        media = MediaItem("play", file=value)
        for option, builders in (
            ("name", (mapping.join_announcement, mapping.leave_announcement)),
            ("has_joined_message", (mapping.join_announcement,)),
            ("has_left_message", (mapping.leave_announcement,)),
            ("while_stopped_media", (lambda p: mapping.wait_media(model, p),)),
        ):
            p = _participant(conf["id"], options=ParticipantOptions(**{option: media}))  # type: ignore[arg-type]
            for build in builders:
                with pytest.raises(UnsafeValueError):
                    build(p)
    new_bytes = bytes(proxy.sent[sent_before:])
    assert not any(m.encode() in new_bytes for m in markers.made)
    assert b"Originate" not in new_bytes
    assert not backend.registry.calls
    await markers.assert_none_fired(live.ami)


def _builders(value: str) -> list[Callable[[], object]]:
    """Every builder that puts a value on an AMI/AGI wire or into a dialplan variable."""
    return [
        lambda: mapping.dial_channel(value, "bridge-loopback"),
        lambda: mapping.divert_uri(value),
        lambda: mapping.checked_divert_uri(value),
        lambda: mapping.sound(value),
        lambda: mapping.checked_playlist(value),
        lambda: mapping.checked_playlist("a&" + value),
        lambda: mapping.record_file(value),
        lambda: confbridge_command(mapping.ProfileSetting("user", "quiet", value)),
        lambda: ami.originate(value, "a1", context="bridge-join", exten="s"),
        lambda: ami.originate(
            "Local/x@bridge-announce",
            "a2",
            context="c",
            exten="s",
            variables={"BRIDGE_ANNOUNCE": (value, "text")},
        ),
        lambda: ami.originate(
            "Local/x@bridge-announce", "a3", application="Playback", data=[(value, "text")]
        ),
        lambda: ami.originate(
            "Local/x@bridge-announce", "a4", context="c", exten="s", caller_id=value
        ),
        lambda: ami.setvar("BRIDGE_HOLD_MEDIA", (value, "text"), "a5", channel="x"),
        lambda: ami.getvar(value, "a6", channel="x"),
        lambda: ami.redirect(value, "bridge-join", "s", "a7"),
        lambda: ami.redirect("x", value, "s", "a8"),
        lambda: ami.confbridge_kick("cb-1", value, "a9"),
        lambda: ami.confbridge_mute(value, "all", "a10"),
        lambda: ami.build_action("MixMonitorMute", [("Channel", (value, "channel"))], "a11"),
        lambda: agi.set_variable("BRIDGE_LOBBY_MEDIA", value, "text"),
        lambda: agi.set_variable("BRIDGE_DIVERT", value, "text"),
        lambda: agi.exec_app("Playback", (value, "text")),
        lambda: agi.stream_file(value),
        lambda: agi.get_data(value),
        lambda: agi.get_dial_contacts(value),
    ]


def _trunk_builders(value: str) -> list[Callable[[], object]]:
    """Where a dial-out or divert target becomes a channel or a 302 Contact."""
    return [
        lambda: mapping.dial_channel(value, "bridge-loopback"),
        lambda: mapping.divert_uri(value),
        lambda: mapping.checked_divert_uri(value),
        lambda: mapping.dial_target(value),
    ]


def test_builders_refuse_expansion_splitting_and_trunk_choice(markers: Markers) -> None:
    """Defence in depth: every AMI / AGI / mapping builder refuses the payloads itself."""
    cases = [(v, _builders(v)) for _, v in markers.payloads()]
    cases += [(v, _trunk_builders(v)) for _, v in markers.payloads(TRUNK_CHOICES)]
    for value, builders in cases:
        for index, build in enumerate(builders):
            with pytest.raises((UnsafeValueError, ValueError)):
                build()
                pytest.fail(f"builder {index} accepted {value!r}")
    # what is allowed stays exact
    assert mapping.dial_channel("+4420123456", "trunk") == "PJSIP/+4420123456@trunk"
    assert mapping.dial_channel("sip:bob@[2001:db8::1]:5070", "trunk") == (
        "PJSIP/trunk/sip:bob@[2001:db8::1]:5070"
    )
    assert mapping.divert_uri("sip:Bob@Example.org") == "sip:Bob@example.org"
    assert mapping.divert_uri("alice") is None
    assert (
        mapping.checked_playlist("greetings/hi&confbridge-join") == "greetings/hi&confbridge-join"
    )
    with pytest.raises(UnsafeValueError):
        mapping.sound("http://169.254.169.254/latest")  # res_http_media_cache would fetch it
    with pytest.raises(UnsafeValueError):
        mapping.sound("/var/spool/asterisk/monitor/other-tenant")
    with pytest.raises(UnsafeValueError):
        ami.originate("Local/x@c", "v", context="c", exten="s", variables={"A": ("a,B=c", "text")})


def test_agi_environment_with_a_repeated_key_is_refused() -> None:
    """A caller-controlled env value that got a line in (CR/LF after percent-decoding)
    would repeat agi_uniqueid or agi_arg_1 to take over another call: refused."""
    lines = ["agi_uniqueid: 1.1\n", "agi_callerid: a\n", "agi_uniqueid: hijack\n", "\n"]
    with pytest.raises(AgiProtocolError):
        agi.parse_environment(lines)


@dataclass
class _FakeSession:
    """Just enough of AgiSession for DialIn: records every command line."""

    env: AgiEnvironment
    reply: AgiResponse = field(default_factory=lambda: AgiResponse(200, 1, text="200 result=1"))
    lines: list[bytes] = field(default_factory=list)
    hung_up: bool = False

    async def command(self, line: bytes, *, seconds: float | None = None) -> AgiResponse:
        self.lines.append(line)
        return self.reply

    async def set_variable(self, name: str, value: object, kind: Any) -> AgiResponse:
        return await self.command(agi.set_variable(name, value, kind))

    async def answer(self) -> AgiResponse:
        return await self.command(agi.answer())


@dataclass
class _Divert:
    divert: str

    async def route(self, call: InboundCall) -> Route:
        return Route(Admission(Outcome.DIVERT, divert=self.divert))


async def test_dialin_divert_built_only_from_a_dial_target(markers: Markers) -> None:
    """A stored divert that never passed the API (an old row, a bug) is still re-parsed:
    anything that is not a DialTarget busies the caller; a user is resolved through the
    configured endpoint's contact (here a fake GET FULL VARIABLE reply)."""
    env = AgiEnvironment({"uniqueid": "1.1", "channel": "PJSIP/x-1"}, ("5401",))

    async def admit(session: AgiSession, route: Route) -> None:
        raise AssertionError("not admitted")

    for _marker, value in markers.payloads() + markers.payloads(TRUNK_CHOICES):
        session = _FakeSession(env)
        await DialIn(_Divert(value), admit)(cast(AgiSession, session))
        text = b"".join(session.lines).decode()
        assert "BRIDGE_DIVERT" not in text and "BRIDGE_ACTION reject" in text, text
        assert "BRIDGE_HANGUP_CAUSE 17" in text, text  # busy
    reply = AgiResponse(
        200, 1, "PJSIP/trunk/sip:trunk@10.0.0.9:5070;transport=udp&PJSIP/trunk/sip:x@y", None
    )
    session = _FakeSession(env, reply=reply)
    await DialIn(_Divert("bridge-test-victim"), admit, dial_endpoint="trunk")(
        cast(AgiSession, session)
    )
    assert session.lines[0] == b"GET FULL VARIABLE ${PJSIP_DIAL_CONTACTS(trunk)}\n"
    assert b"SET VARIABLE BRIDGE_DIVERT sip:bridge-test-victim@10.0.0.9:5070\n" in session.lines


async def test_literal_values_survive_the_round_trip(live: Live) -> None:
    """What we do let through is stored and read back literally on a live channel: the
    playlist and the conference name the real FastAGI handler set."""
    conf = await live.conference("5304", wait_media={"play": {"file": "greetings/x-y_1.gsm"}})
    live.phone("5304", wait_for_bye_ms=30_000)
    [p] = await live.wait_participants(conf["id"], 1)
    call = live.backend.registry.by_participant[p["id"]]
    assert await getvar(live.ami, "BRIDGE_LOBBY_MEDIA", call.uniqueid) == "greetings/x-y_1"
    assert await getvar(live.ami, "BRIDGE_CONF", call.uniqueid) == engine_name(conf["id"])
    assert await getvar(live.ami, "BRIDGE_PARTICIPANT", call.uniqueid) == p["id"]
    await live.ok("DELETE", f"/v1/conferences/{conf['id']}")


async def test_dialplan_refuses_a_divert_that_is_not_a_plain_sip_uri(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth in [bridge-divert]: even if the bridge's checks were bypassed and a
    bare endpoint name (or a URI with `&`) reached BRIDGE_DIVERT, the dialplan busies the
    caller instead of letting Transfer() pick that endpoint's contact."""
    from bridge.pbx.asterisk import dialin

    for code, raw in (
        ("5321", "bridge-test-victim"),
        ("5322", "sip:x@127.0.0.1&PJSIP/bridge-test-victim"),
    ):

        async def bypass(
            session: AgiSession, divert: str | None, endpoint: str, raw: str = raw
        ) -> str:
            return raw

        monkeypatch.setattr(dialin, "divert_target", bypass)
        monkeypatch.setattr(mapping, "checked_divert_uri", lambda uri: uri)
        await _reserve(live, code, "sip:lobby@example.org")
        phone = live.phone(code, expect=486, trace=True)
        assert await phone.finished() == 0, phone.output()
        assert "victim-secret" not in phone.messages()
