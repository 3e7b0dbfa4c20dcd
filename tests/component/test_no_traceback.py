"""Client mistakes, from malformed HTTP to hostile JSON, sent to the server as shipped
(`python -m bridge serve`, embedded engine, SQLite, loopback): every answer is a 4xx with
the JSON error shape, and the server's log (its stderr) holds no traceback and no ERROR.

aiohttp answers a request it cannot parse (a header over 8,190 bytes, a bad request line)
itself, before any route; the server's runner (bridge/api/server.py) makes that answer
JSON too and logs one line instead of a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bridge_testing.wait import until_sync

import bridge
from bridge.app import ADMIN_KEY_FILE

ROOT = Path(bridge.__file__).resolve().parents[1]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    port: int
    key: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    # a free port can be taken again before the server binds it (by another test's client
    # socket): that start is tried again on fresh ports, the only failure retried
    for attempt in range(3):
        started = _serve(tmp_path / f"run{attempt}")
        if started is not None:
            break
    else:
        pytest.fail("the server found its ports taken three times")
    served, process = started
    try:
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _serve(workdir: Path) -> tuple[Served, subprocess.Popen[bytes]] | None:
    """`bridge serve` started and answering, or None when a port it was given was taken."""
    workdir.mkdir(parents=True)
    port, sip = free_port(), free_port(socket.SOCK_DGRAM)
    rtp = 30000 + (os.getpid() % 500) * 20
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "BRIDGE_DATABASE_URL": f"sqlite:///{workdir / 'bridge.db'}",
        "BRIDGE_SIP_PORT": str(sip),
        "BRIDGE_RTP_PORT_MIN": str(rtp),
        "BRIDGE_RTP_PORT_MAX": str(rtp + 19),
    }
    env.pop("BRIDGE_CONFIG", None)
    log = workdir / "server.log"
    data = workdir / "data"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--engine", "embedded", "--data-dir", str(data)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir,
        )  # fmt: skip

    def started_or_exited() -> bool:
        if process.poll() is not None:
            return True
        return (data / ADMIN_KEY_FILE).exists() and _listening(port)

    try:
        until_sync(started_or_exited, 60, "the server to start", every=0.05)
    except BaseException:
        process.kill()
        process.wait()
        raise
    if process.poll() is not None:
        text = log.read_text(errors="replace")
        assert "address already in use" in text, text
        return None
    key = (data / ADMIN_KEY_FILE).read_text().strip()
    return Served(f"http://127.0.0.1:{port}", port, key, log, process), process


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def assert_json_error(status: int, content_type: str, body: bytes, what: str) -> str:
    assert 400 <= status < 500, (what, status, body[:300])
    assert content_type.startswith("application/json"), (what, content_type, body[:300])
    parsed = json.loads(body)
    assert set(parsed) == {"error"} and set(parsed["error"]) == {"code", "message", "details"}
    code = parsed["error"]["code"]
    assert isinstance(code, str) and code, (what, parsed)
    return str(code)


async def raw_exchange(port: int, request: bytes) -> tuple[int, str, bytes]:
    """Send bytes as they are; read the answer until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return status, headers.get("content-type", ""), body


MALFORMED: dict[str, bytes] = {
    "header over 8190 bytes": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
    + b"a" * 9000
    + b"\r\n\r\n",
    "request line over 8190 bytes": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "many headers": b"GET /healthz HTTP/1.1\r\n"
    + b"".join(b"X-%d: y\r\n" % i for i in range(200))
    + b"Host: x\r\n\r\n",
    "bad method": b"G@T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "TLS to a plain port": bytes.fromhex("160301002f0100002b0303") + b"\x00" * 40,
    "header without a colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
    "bad Content-Length": b"POST /v1/conferences HTTP/1.1\r\nHost: x\r\nContent-Length: ab\r\n\r\n",
    "bad chunk size": b"POST /v1/conferences HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
    b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "unknown HTTP version": b"GET /healthz HTTP/7.3\r\nHost: x\r\n\r\n",
    "NUL in the path": b"GET /v1/\x00conferences HTTP/1.1\r\nHost: x\r\n\r\n",
}


def hostile_requests(key: str) -> list[tuple[str, str, dict[str, Any]]]:
    auth = {"Authorization": f"Bearer {key}"}
    j = {**auth, "Content-Type": "application/json"}
    return [
        ("POST", "/v1/conferences", {"headers": j, "data": b"{not json"}),
        ("POST", "/v1/conferences", {"headers": j, "data": b'{"data": {"x": NaN}}'}),
        ("POST", "/v1/conferences", {"headers": j, "data": b'{"name": "\\ud800"}'}),
        ("POST", "/v1/conferences", {"headers": j, "data": b"\xff\xfe{}"}),
        ("POST", "/v1/conferences", {"headers": j, "data": b"[" * 100_000 + b"]" * 100_000}),
        ("POST", "/v1/conferences", {"headers": j, "data": b'{"a":' * 3000 + b"1" + b"}" * 3000}),
        ("POST", "/v1/conferences", {"headers": j, "data": b"[]"}),
        ("POST", "/v1/conferences", {"headers": j, "data": b'{"name": 5}'}),
        ("POST", "/v1/conferences", {"headers": j, "data": b'{"nope": 1}'}),
        ("POST", "/v1/conferences", {"headers": j, "data": b'{"name": "a\\u0000b"}'}),
        ("POST", "/v1/conferences", {"headers": j, "data": b'{"name": "' + b"x" * 300_000 + b'"}'}),
        (
            "POST",
            "/v1/conferences",
            {"headers": {**auth, "Content-Type": "text/plain"}, "data": b"x"},
        ),
        ("GET", "/v1/conferences?limit=²", {"headers": auth}),
        ("GET", "/v1/conferences?limit=-1", {"headers": auth}),
        ("GET", "/v1/conferences?after=../../etc", {"headers": auth}),
        ("GET", "/v1/conferences?status=bogus", {"headers": auth}),
        ("GET", "/v1/reservations?limit=99999999999999999999", {"headers": auth}),
        ("GET", "/v1/deliveries?limit=\uff11", {"headers": auth}),
        ("GET", "/v1/accounts?limit=²", {"headers": auth}),
        ("GET", "/v1/conferences/cf_nope", {"headers": auth}),
        ("GET", "/v1/conferences/%00", {"headers": auth}),
        ("GET", "/v1/conferences/..%2F..%2Fetc%2Fpasswd", {"headers": auth}),
        ("GET", "/v1/conferences/cf_nope/events?after_sequence=²", {"headers": auth}),
        ("POST", "/v1/deliveries/dl_nope/retry", {"headers": auth}),
        ("GET", "/v1/nothing-here", {"headers": auth}),
        ("PUT", "/v1/conferences", {"headers": auth}),
        ("GET", "/v1/conferences", {}),
        ("GET", "/v1/conferences", {"headers": {"Authorization": "Bearer wrong"}}),
        ("GET", "/v1/conferences", {"headers": {"Authorization": "Basic ***notbase64***"}}),
        ("GET", "/v1/conferences", {"headers": {"Authorization": "Basic /w=="}}),
        ("GET", "/v1/conferences", {"headers": {"Authorization": "Digest x"}}),
    ]


async def test_client_mistakes_get_json_errors_and_log_no_traceback(served: Served) -> None:
    seen: dict[str, str] = {}
    for what, request in MALFORMED.items():
        status, content_type, body = await raw_exchange(served.port, request)
        seen[what] = assert_json_error(status, content_type, body, what)
    assert seen["header over 8190 bytes"] == "header_too_large"

    async with aiohttp.ClientSession(served.url) as http:
        for method, path, kw in hostile_requests(served.key):
            async with http.request(method, path, **kw) as resp:
                body = await resp.read()
                seen[f"{method} {path[:60]}"] = assert_json_error(
                    resp.status, resp.content_type, body, f"{method} {path[:80]}"
                )
        # and the server still answers
        async with http.get("/healthz") as resp:
            assert resp.status == 200, await resp.text()

    served.process.send_signal(signal.SIGTERM)
    served.process.wait(timeout=20)
    log = served.log_text()
    assert "refused a malformed request" in log, log[-2000:]  # this is the server's log
    assert "Traceback" not in log, log
    errors = [line for line in log.splitlines() if " ERROR " in line or " CRITICAL " in line]
    assert not errors, "\n".join(errors)
