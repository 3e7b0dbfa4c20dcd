"""A real FreeSWITCH per test session, with our shipped freeswitch-conf/ installed.

.ci/freeswitch.sh installs the build to /opt/freeswitch (env BRIDGE_FREESWITCH_HOME
overrides). Each session gets its own tree in a temp directory: bin/, lib/ and share/
link to the installation, etc/ is a copy of its config, and fsctl.sh is copied so that
it runs *this* tree (fsctl.sh passes every directory on the command line). Into that
config we install freeswitch-conf/ the way freeswitch-conf/README.md tells an admin:

- autoload_configs/event_socket.conf.xml and conference.conf.xml replace the tree's own,
  with our password and port (the settings the README says must match the bridge's);
- dialplan/conference-bridge.xml goes to dialplan/public/, and public.xml includes
  public/*.xml first in its context (as the vanilla public.xml does);
- sip_profiles/conference-bridge.xml goes to sip_profiles/ and replaces the tree's
  `loopback` profile, which wants the same port.

Ports are picked free per session (ESL, SIP, outbound socket), so a FreeSWITCH in
/opt/freeswitch or another session never collides. Readiness is polled over ESL with a
deadline; nothing sleeps for a fixed time. Only loopback addresses are used.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "freeswitch-conf"
INSTALL_HINT = "bash .ci/freeswitch.sh (as root; installs /opt/freeswitch)"


def freeswitch_home() -> Path:
    return Path(os.environ.get("BRIDGE_FREESWITCH_HOME", "/opt/freeswitch"))


def installed(home: Path) -> bool:
    return all(
        p.exists()
        for p in (home / "bin/freeswitch", home / "fsctl.sh", home / "etc/freeswitch/vars.xml")
    )


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_tcp_udp_port() -> int:
    """A port free for both TCP and UDP (sofia binds both)."""
    for _ in range(50):
        port = _free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free for both TCP and UDP")


@dataclass(frozen=True)
class FreeSwitchPorts:
    esl: int
    sip: int
    outbound: int  # the bridge's outbound-socket server (the dialplan's socket action)

    @classmethod
    def pick(cls) -> FreeSwitchPorts:
        return cls(esl=_free_port(), sip=_free_tcp_udp_port(), outbound=_free_port())


def _set_param(xml: str, name: str, value: str) -> str:
    pattern = rf'(<param name="{re.escape(name)}" value=")[^"]*(")'
    out, n = re.subn(pattern, lambda m: m.group(1) + value + m.group(2), xml)
    if n != 1:
        raise AssertionError(f"expected one <param name={name!r}> in the shipped config")
    return out


class FreeSwitchProcess:
    """One FreeSWITCH in its own tree (``prepare``, ``start``, ``stop``)."""

    def __init__(self, home: Path, tree: Path, ports: FreeSwitchPorts) -> None:
        self.home = home
        self.tree = tree
        self.ports = ports
        # letters, digits, - and _ as the shipped event_socket.conf.xml asks for
        self.password = "cb-" + secrets.token_hex(16)

    @property
    def conf(self) -> Path:
        return self.tree / "etc/freeswitch"

    @property
    def log_path(self) -> Path:
        return self.tree / "var/log/freeswitch/freeswitch.log"

    @property
    def sounds(self) -> Path:
        return self.tree / "share/freeswitch/sounds"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "ESL_HOST": "127.0.0.1",
            "ESL_PORT": str(self.ports.esl),
            "ESL_PASSWORD": self.password,
            "FS_START_TIMEOUT": "60",
            "FS_STOP_TIMEOUT": "15",
        }

    # ------------------------------------------------------------------ set-up

    def prepare(self) -> None:
        self.tree.mkdir(parents=True, exist_ok=True)
        for part in ("bin", "lib", "share"):
            (self.tree / part).symlink_to(self.home / part)
        shutil.copy2(self.home / "fsctl.sh", self.tree / "fsctl.sh")
        shutil.copytree(self.home / "etc", self.tree / "etc", symlinks=True)
        self.install_shipped_config()

    def install_shipped_config(self) -> None:
        conf = self.conf
        # 1. autoload_configs/: event_socket (our password and port) and conference
        esl_xml = (SHIPPED / "autoload_configs/event_socket.conf.xml").read_text()
        esl_xml = _set_param(esl_xml, "password", self.password)
        esl_xml = _set_param(esl_xml, "listen-port", str(self.ports.esl))
        (conf / "autoload_configs/event_socket.conf.xml").write_text(esl_xml)
        shutil.copy2(
            SHIPPED / "autoload_configs/conference.conf.xml",
            conf / "autoload_configs/conference.conf.xml",
        )
        # 2. dialplan/conference-bridge.xml into dialplan/public/, included by public.xml
        public_dir = conf / "dialplan/public"
        public_dir.mkdir(exist_ok=True)
        dialplan = (SHIPPED / "dialplan/conference-bridge.xml").read_text()
        if "127.0.0.1:8084 async full" not in dialplan:
            raise AssertionError("the shipped dialplan no longer names 127.0.0.1:8084")
        dialplan = dialplan.replace(
            "127.0.0.1:8084 async full", f"127.0.0.1:{self.ports.outbound} async full"
        )
        (public_dir / "conference-bridge.xml").write_text(dialplan)
        public = conf / "dialplan/public.xml"
        text = public.read_text()
        include = '<X-PRE-PROCESS cmd="include" data="public/*.xml"/>'
        if include not in text:
            text = text.replace(
                '<context name="public">', f'<context name="public">\n    {include}', 1
            )
            public.write_text(text)
        # 3. sip_profiles/conference-bridge.xml replaces the tree's loopback profile
        (conf / "sip_profiles/loopback.xml").unlink()
        profile = (SHIPPED / "sip_profiles/conference-bridge.xml").read_text()
        profile = _set_param(profile, "sip-port", str(self.ports.sip))
        (conf / "sip_profiles/conference-bridge.xml").write_text(profile)

    # ------------------------------------------------------------------ run

    def start(self, within: float = 60.0) -> float:
        """Start it and wait until ESL answers ``status`` with "is ready"; seconds taken."""
        began = time.monotonic()
        subprocess.run(
            [str(self.tree / "fsctl.sh"), "start"],
            env=self._env(),
            check=True,
            timeout=within + 10,
            capture_output=True,
        )
        self.wait_ready(began + within)
        return time.monotonic() - began

    def wait_ready(self, deadline: float) -> None:
        last = ""
        while time.monotonic() < deadline:
            try:
                body = self.api("status", timeout=2.0)
                if "is ready" in body:
                    sofia = self.api("sofia status", timeout=2.0)
                    if re.search(r"conference-bridge\s+profile\s+\S+\s+RUNNING", sofia):
                        return
                    last = sofia
                else:
                    last = body
            except OSError as exc:
                last = str(exc)
            time.sleep(0.1)  # poll interval, bounded by the deadline
        raise AssertionError(f"FreeSWITCH not ready by the deadline: {last[-300:]}")

    def stop(self) -> None:
        subprocess.run(
            [str(self.tree / "fsctl.sh"), "stop"],
            env=self._env(),
            check=False,
            timeout=30,
            capture_output=True,
        )

    # ------------------------------------------------------------------ raw ESL

    def api(self, command: str, timeout: float = 5.0) -> str:
        """One raw ``api`` command on a fresh ESL connection (test side, not the bridge's
        codec: the positive controls send what our builders would refuse)."""
        return raw_esl(self.ports.esl, self.password, f"api {command}", timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _read_frame(sock: socket.socket, buf: bytearray, deadline: float) -> tuple[str, bytes]:
    while b"\n\n" not in buf:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("ESL closed")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\n\n")
    headers = head.decode(errors="replace")
    length = 0
    for line in headers.split("\n"):
        if line.startswith("Content-Length:"):
            length = int(line.split(":", 1)[1])
    while len(rest) < length:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("ESL closed")
        rest += chunk
    buf[:] = rest[length:]
    return headers, rest[:length]


def raw_esl(port: int, password: str, line: str, timeout: float = 5.0) -> str:
    """Send one raw command line after auth; the reply's body (api) or Reply-Text."""
    if any(c in line for c in "\r\n\x00"):
        raise ValueError("one line only")
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        buf = bytearray()
        head, _ = _read_frame(sock, buf, deadline)
        if "auth/request" not in head:
            raise ConnectionError(f"no auth/request: {head!r}")
        sock.sendall(f"auth {password}\n\n".encode())
        head, _ = _read_frame(sock, buf, deadline)
        if "+OK" not in head:
            raise ConnectionError(f"auth refused: {head!r}")
        sock.sendall(line.encode() + b"\n\n")
        head, body = _read_frame(sock, buf, deadline)
        sock.sendall(b"exit\n\n")
        if "api/response" in head:
            return body.decode(errors="replace")
        return head
