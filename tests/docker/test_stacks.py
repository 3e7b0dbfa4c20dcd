"""docker/'s images and compose stacks, built and run with podman (`python -m pytest -m docker`).

Each stack test brings its stack up under a name of this run, waits for the images'
HEALTHCHECKs, then does what an operator's first call does: create a conference through
the API with a webhook receiver on the host, dial in with two of our RTP phones through
the stack's engine, check that both are joined and hear each other, that the webhooks
arrive, and bring the stack down, removing what it created by name. Host-network services
get free ports, never the ones of a PBX that may run on the same machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from bridge_testing.phone import SipPhone, amplitude
from bridge_testing.wait import until
from podman_stack import Podman, Stack, free_both, free_port, rtp_range
from receiver import WebhookReceiver

HEARD = 1500.0  # a 6000-peak tone arrives near 6000 through every engine; silence is near 0
# The phones' own tones, clear of every placeholder prompt of the FreeSWITCH image
# (400-1400 Hz prompts, 500/600/700 Hz entry and mute tones, 784 Hz hold music, 1800 and
# 2000-2900 Hz digits): hearing one can only be the other phone through the mixer.
ALICE_HZ, BOB_HZ = 660.0, 1650.0


@dataclass
class Api:
    """The stack's HTTP API with its admin key."""

    base: str
    key: str

    async def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.base + path, headers=headers, **kw) as resp,
        ):
            body = await resp.json(content_type=None)
            assert resp.status == expect, (method, path, resp.status, body)
            return body

    async def joined(self, cid: str, count: int, within: float = 15.0) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            page = await self.call("GET", f"/v1/conferences/{cid}/participants")
            people: list[dict[str, Any]] = page["items"] if isinstance(page, dict) else page
            return people if sum(p["status"] == "joined" for p in people) >= count else None

        return await until(enough, within, f"{count} participants joined", every=0.2)


def admin_key(stack: Stack, service: str) -> str:
    return stack.exec(service, "cat", "/var/lib/bridge/admin-api-key").strip()


@pytest.fixture
def phones() -> Iterator[list[SipPhone]]:
    made: list[SipPhone] = []
    yield made


async def first_call(
    api: Api,
    sip: tuple[str, int],
    receiver: WebhookReceiver,
    phones: list[SipPhone],
    code: str,
    reader: Api | None = None,
) -> None:
    """Create a conference on `api`, dial two phones into it at `sip`, check audio both ways
    and the webhooks; `reader` (another instance) must see the same participants."""
    conference = await api.call(
        "POST",
        "/v1/conferences",
        201,
        json={
            "name": f"docker-{code}",
            "dial_in": {"access_code": code},
            "status_callback_url": receiver.url,
            "play_beep": "never",
        },
    )
    cid = conference["id"]
    alice, bob = SipPhone("alice", ALICE_HZ), SipPhone("bob", BOB_HZ)
    for phone in (alice, bob):
        await phone.start()
        phones.append(phone)
    try:
        assert await alice.call(sip, code, within=10.0) == 200
        assert await bob.call(sip, code, within=10.0) == 200
        await (reader or api).joined(cid, 2)
        heard_by_alice = await alice.listen(1.0)
        heard_by_bob = await bob.listen(1.0)
        # through a real mixer: each hears the other's tone
        assert amplitude(heard_by_alice, BOB_HZ) > HEARD, "alice does not hear bob"
        assert amplitude(heard_by_bob, ALICE_HZ) > HEARD, "bob does not hear alice"
        await receiver.wait_for(
            lambda got: sum(1 for r in got if r.json["event"]["type"] == "participant.joined") >= 2,
            within=20.0,
        )
        await alice.hangup()
        await bob.hangup()
        await receiver.wait_for(
            lambda got: any(r.json["event"]["type"] == "participant.left" for r in got),
            within=20.0,
        )
    finally:
        for phone in (alice, bob):
            await phone.stop()


def test_bridge_image_is_small_non_root_with_extensions(podman: Podman) -> None:
    image = podman.image("bridge")
    inspect = json.loads(podman.run(["image", "inspect", image]).stdout)[0]
    config = inspect["Config"]
    assert config["User"] == "bridge"
    assert "/var/lib/bridge" in config["Volumes"]
    health = inspect.get("Healthcheck") or config.get("Healthcheck") or {}
    assert health.get("Test"), "HEALTHCHECK lost (build in docker format)"
    probe = (
        "import bridge.media._mix, bridge.pbx.embedded._rtp_core, shutil, os;"
        "print(os.getuid(), shutil.which('gcc'), shutil.which('cc'), shutil.which('pip'))"
    )
    out = podman.run(
        ["run", "--rm", "--name", f"cbtest-{podman.token}-probe", image, "python3", "-c", probe]
    ).stdout.split()
    assert out[0] != "0" and out[1:] == ["None", "None", "None"], out
    size_mb = inspect["Size"] / 1e6
    print(f"\nbridge image: {size_mb:.0f} MB")
    assert size_mb < 400, "the build tools leaked into the image"


def stack(podman: Podman, name: str, env: dict[str, str], *services: str) -> Iterator[Stack]:
    s = Stack(podman, name, env, services)
    try:
        s.up()
        yield s
    finally:
        s.down()


async def test_embedded_stack(
    podman: Podman, receiver: WebhookReceiver, phones: list[SipPhone]
) -> None:
    api_port, sip_port = free_port(), free_both()
    low, high = rtp_range()
    env = {
        "BRIDGE_IMAGE": podman.image("bridge"),
        "BRIDGE_PORT": str(api_port),
        "BRIDGE_SIP_PORT": str(sip_port),
        "BRIDGE_RTP_PORT_MIN": str(low),
        "BRIDGE_RTP_PORT_MAX": str(high),
        "BRIDGE_OUTBOUND_ALLOWED_CIDRS": "127.0.0.0/8",  # the receiver on the host
    }
    for s in stack(podman, "embedded", env, "bridge"):
        print(f"\nembedded stack healthy in {s.wait_healthy('bridge'):.1f}s")
        api = Api(f"http://127.0.0.1:{api_port}", admin_key(s, "bridge"))
        health = await api.call("GET", "/healthz")
        assert "embedded" in json.dumps(health)
        await first_call(api, ("127.0.0.1", sip_port), receiver, phones, "4101")
        logs = s.logs("bridge")
        assert "alembic" not in logs and "Traceback" not in logs, logs


async def test_two_bridges_on_postgres(
    podman: Podman, receiver: WebhookReceiver, phones: list[SipPhone]
) -> None:
    ports = {name: free_port() for name in ("pg", "a", "b")}
    sip_a, sip_b = free_both(), free_both()
    while sip_b == sip_a:
        sip_b = free_both()
    (a_low, a_high), (b_low, b_high) = rtp_range(), rtp_range()
    env = {
        "BRIDGE_IMAGE": podman.image("bridge"),
        "POSTGRES_IMAGE": podman.image("postgres"),
        "POSTGRES_PASSWORD": f"t{podman.token}x",
        "POSTGRES_PORT": str(ports["pg"]),
        "BRIDGE_A_PORT": str(ports["a"]),
        "BRIDGE_B_PORT": str(ports["b"]),
        "BRIDGE_A_SIP_PORT": str(sip_a),
        "BRIDGE_B_SIP_PORT": str(sip_b),
        "BRIDGE_A_RTP_PORT_MIN": str(a_low),
        "BRIDGE_A_RTP_PORT_MAX": str(a_high),
        "BRIDGE_B_RTP_PORT_MIN": str(b_low),
        "BRIDGE_B_RTP_PORT_MAX": str(b_high),
        "BRIDGE_OUTBOUND_ALLOWED_CIDRS": "127.0.0.0/8",
    }
    for s in stack(podman, "postgres", env, "postgres", "bridge-a", "bridge-b"):
        s.wait_healthy("postgres")
        s.wait_healthy("bridge-a", within=120)
        s.wait_healthy("bridge-b", within=120)
        key = admin_key(s, "bridge-a")  # a made the schema and the admin account
        a = Api(f"http://127.0.0.1:{ports['a']}", key)
        b = Api(f"http://127.0.0.1:{ports['b']}", key)
        for service in ("bridge-a", "bridge-b"):  # the start-up summary names the database
            assert f"database postgresql://bridge:***@127.0.0.1:{ports['pg']}/" in s.logs(service)
        # made through a, dialled in through b's engine and read there: one database
        await first_call(a, ("127.0.0.1", sip_b), receiver, phones, "4201", reader=b)
        listed = await a.call("GET", "/v1/conferences")
        items = listed["items"] if isinstance(listed, dict) else listed
        assert any(c["name"] == "docker-4201" for c in items)


async def test_asterisk_stack(
    podman: Podman, receiver: WebhookReceiver, phones: list[SipPhone]
) -> None:
    api_port, ami_port, agi_port, sip_port = free_port(), free_port(), free_port(), free_both()
    env = {
        "BRIDGE_IMAGE": podman.image("bridge"),
        "ASTERISK_IMAGE": podman.image("asterisk"),
        "BRIDGE_AMI_SECRET": f"t{podman.token}{podman.token}",
        "BRIDGE_AMI_PORT": str(ami_port),
        "BRIDGE_AGI_PORT": str(agi_port),
        "ASTERISK_SIP_BIND": f"127.0.0.1:{sip_port}",
        "BRIDGE_PORT": str(api_port),
        "BRIDGE_OUTBOUND_ALLOWED_CIDRS": "127.0.0.0/8",
    }
    for s in stack(podman, "asterisk", env, "asterisk", "bridge"):
        s.wait_healthy("asterisk", within=120)
        s.wait_healthy("bridge")
        api = Api(f"http://127.0.0.1:{api_port}", admin_key(s, "bridge"))
        await wait_engine(api, "asterisk")
        # the stack's Asterisk loads dialplan/ as shipped
        dialplan = s.exec("asterisk", "asterisk", "-rx", "dialplan show bridge-dialin")
        assert "bridge-dialin" in dialplan and "AGI" in dialplan, dialplan
        await first_call(api, ("127.0.0.1", sip_port), receiver, phones, "4301")


async def test_freeswitch_stack(
    podman: Podman, receiver: WebhookReceiver, phones: list[SipPhone]
) -> None:
    api_port, esl_port, outbound_port, sip_port = (
        free_port(),
        free_port(),
        free_port(),
        free_both(),
    )
    low, high = rtp_range()
    env = {
        "BRIDGE_IMAGE": podman.image("bridge"),
        "FREESWITCH_IMAGE": podman.image("freeswitch"),
        "BRIDGE_ESL_PASSWORD": f"t{podman.token}{podman.token}",
        "BRIDGE_ESL_PORT": str(esl_port),
        "BRIDGE_ESL_OUTBOUND_PORT": str(outbound_port),
        "FREESWITCH_SIP_PORT": str(sip_port),
        "FREESWITCH_RTP_PORTS": f"{low}-{high}",
        "BRIDGE_PORT": str(api_port),
        "BRIDGE_OUTBOUND_ALLOWED_CIDRS": "127.0.0.0/8",
    }
    for s in stack(podman, "freeswitch", env, "freeswitch", "bridge"):
        s.wait_healthy("freeswitch", within=120)
        s.wait_healthy("bridge")
        api = Api(f"http://127.0.0.1:{api_port}", admin_key(s, "bridge"))
        await wait_engine(api, "freeswitch")
        await first_call(api, ("127.0.0.1", sip_port), receiver, phones, "4401")


async def wait_engine(api: Api, name: str, within: float = 60.0) -> None:
    """Until /healthz says the engine's control link is up."""

    async def up() -> bool:
        health = await api.call("GET", "/healthz")
        engine = health.get("engine") or {}
        # asterisk: ok when AMI is ready; freeswitch: its ESL state
        return engine.get("name") == name and bool(
            engine.get("ok") or engine.get("esl") == "connected"
        )

    await until(up, within, f"the {name} link up", every=0.5)
