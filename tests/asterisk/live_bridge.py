"""The real application wired to the real Asterisk, as the backend tests see it."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from bridge_testing.ami_test_client import AmiTestClient, next_action_id
from bridge_testing.app_client import AdminApi, serve_app
from bridge_testing.asterisk_pbx import AsteriskProcess
from bridge_testing.sipp_phone import Phone, dial, uac_scenario
from bridge_testing.wait import until
from receiver import WebhookReceiver

from bridge.app import Parts
from bridge.config import Config
from bridge.pbx.asterisk.backend import AsteriskBackend
from bridge.protocols import ami
from bridge.protocols.ami import AmiEvent

PBX_RECORDINGS = "/var/spool/asterisk/monitor"


def make_backend(
    pbx: AsteriskProcess,
    ami_port: int | None = None,
    dial_endpoint: str = "bridge-loopback",
    recordings_on_pbx: str = PBX_RECORDINGS,
) -> AsteriskBackend:
    return AsteriskBackend(
        dial_endpoint=dial_endpoint,
        ami_host="127.0.0.1",
        ami_port=ami_port or pbx.ports.ami,
        ami_username="bridge",
        ami_secret=pbx.secret,
        agi_host="127.0.0.1",
        agi_port=pbx.ports.agi,
        recordings_dir_on_pbx=recordings_on_pbx,
        action_timeout=4.0,  # a reply lost in a cut is given up on within the tests' waits
    )


@contextlib.asynccontextmanager
async def running_bridge(
    pbx: AsteriskProcess,
    ami_client: AmiTestClient,
    receiver: WebhookReceiver,
    tmp_path: Path,
    *,
    ami_port: int | None = None,
    unreserved_max: int = 40,
    dial_endpoint: str = "bridge-loopback",
    shared_data: bool = False,
) -> AsyncIterator[Live]:
    """`shared_data`: the bridge's data directory is inside the Asterisk root, so its
    recordings directory is one Asterisk writes to (under another path: the shared-directory
    set-up `ami_recordings_dir` describes). Otherwise Asterisk records where the bridge
    cannot see it."""
    data_dir, on_pbx = tmp_path / "data", PBX_RECORDINGS
    if shared_data:
        inside = f"/var/spool/asterisk/cbtest-{tmp_path.name}"
        data_dir = Path(str(pbx.root) + inside)
        on_pbx = f"{inside}/recordings"
    backend = make_backend(pbx, ami_port, dial_endpoint, on_pbx)
    config = Config(
        outbound_allowed_cidrs=("127.0.0.1/32",),  # the webhook receiver is on the loopback
        data_dir=data_dir,
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        webhook_retry_base_seconds=0.05,
        webhook_retry_cap_seconds=0.2,
        webhook_poll_seconds=0.1,
        webhook_timeout_seconds=2.0,
        scheduler_interval_seconds=0.2,
        unreserved_max_participants=unreserved_max,
    )
    try:
        async with serve_app(config, backend=backend) as app:
            assert backend.ami is not None and backend.ami.ready, backend.health()
            live = Live(
                app.client, app.parts, backend, pbx, ami_client, receiver, app.admin_key, tmp_path
            )
            try:
                yield live
            finally:
                live.stop_phones()
    finally:
        if shared_data:
            shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Live(AdminApi):
    client: TestClient[Any, Any]
    parts: Parts
    backend: AsteriskBackend
    pbx: AsteriskProcess
    ami: AmiTestClient
    receiver: WebhookReceiver
    admin_key: str
    workdir: Path
    phones: list[Phone] = field(default_factory=list)

    async def conference(self, code: str, **body: Any) -> dict[str, Any]:
        dial_in = {"access_code": code, **body.pop("dial_in", {})}
        payload = {
            "name": "test",
            "status_callback_url": self.receiver.url,
            "dial_in": dial_in,
            **body,
        }
        return await self.ok("POST", "/v1/conferences", 201, json=payload)  # type: ignore[no-any-return]

    def phone(self, code: str, *, trace: bool = False, **scenario: Any) -> Phone:
        n = len(self.phones)
        phone = dial(
            self.workdir / f"sipp/phone{n}",
            self.pbx.ports.sip,
            code,
            uac_scenario(**scenario),
            trace=trace,
        )
        self.phones.append(phone)
        return phone

    async def participants(self, conf_id: str, status: str = "joined") -> list[dict[str, Any]]:
        """Every participant with `status`, across pages."""
        return await self.every_item(f"/v1/conferences/{conf_id}/participants", f"status={status}")

    async def wait_participants(
        self, conf_id: str, count: int, status: str = "joined", within: float = 20.0
    ) -> list[dict[str, Any]]:
        async def counted() -> list[dict[str, Any]] | None:
            items = await self.participants(conf_id, status)
            return items if len(items) == count else None

        return await until(counted, within, f"{count} {status} participants")

    async def get(self, conf_id: str, pid: str | None = None) -> dict[str, Any]:
        path = f"/v1/conferences/{conf_id}" + (f"/participants/{pid}" if pid else "")
        return await self.ok("GET", path)  # type: ignore[no-any-return]

    async def wait_status(self, conf_id: str, status: str, within: float = 20.0) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            conf = await self.get(conf_id)
            return conf if conf["status"] == status else None

        return await until(reached, within, f"conference {status}")

    async def pbx_members(self, conf_id: str) -> list[AmiEvent]:
        """Asterisk's own view: ConfbridgeList of the conference's engine name."""
        name = "cb-" + conf_id.replace("_", "-")
        listing = await self.ami.send(ami.confbridge_list(name, next_action_id()))
        assert listing.ok, listing
        return list(listing.events)

    def hook_types(self, conf_id: str) -> list[str]:
        return [e["type"] for e in self.receiver.events(conf_id)]

    async def wait_hooks(self, conf_id: str, *types: str, within: float = 20.0) -> None:
        def arrived(_: object) -> bool:
            seen = self.hook_types(conf_id)
            return all(seen.count(t) >= types.count(t) for t in types)

        await self.receiver.wait_for(arrived, within)

    def stop_phones(self) -> None:
        for phone in self.phones:
            phone.stop()
