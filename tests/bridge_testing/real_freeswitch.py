"""A real FreeSWITCH per test session, with our shipped freeswitch-conf/ installed.

.ci/freeswitch.sh installs the build to /opt/freeswitch (env BRIDGE_FREESWITCH_HOME
overrides). Each session gets its own tree in a temp directory: bin/ and lib/ link to
the installation, share/ is a tree of links (so a test can add sounds), etc/ is a copy of
its config, and fsctl.sh is copied so that it runs *this* tree (fsctl.sh passes every
directory on the command line). Into that config freeswitch-conf/ goes by the steps of
freeswitch-conf/README.md ("Installing, step by step"): event_socket.conf.xml's
listen-ip, listen-port and password set; our group and profile merged into the tree's
conference.conf.xml (its `default` profile stays); our dialplan context and SIP profile
added beside the tree's own; then a (re)start.

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

from bridge_testing.process import free_port, wait_started
from bridge_testing.wait import Not

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


@dataclass(frozen=True)
class FreeSwitchPorts:
    esl: int
    sip: int
    outbound: int  # the bridge's outbound-socket server (the dialplan's socket action)

    @classmethod
    def pick(cls) -> FreeSwitchPorts:
        # sofia binds its SIP port for both TCP and UDP
        return cls(esl=free_port(), sip=free_port(both=True), outbound=free_port())


def _element(xml: str, tag: str, name: str) -> str:
    xml = re.sub(r"<!--.*?-->", "", xml, flags=re.S)  # comments name the elements too
    match = re.search(rf'<{tag} name="{re.escape(name)}">.*?</{tag}>', xml, re.S)
    if match is None:
        raise AssertionError(f"no <{tag} name={name!r}> in the shipped conference.conf.xml")
    return match.group(0)


def merge_conference_conf(existing: str, shipped: str) -> str:
    """Step 2: the shipped group into <caller-controls>, the shipped profile into <profiles>."""
    group, profile = _element(shipped, "group", "cb-digits"), _element(shipped, "profile", "cb")
    if "</caller-controls>" not in existing:
        existing = existing.replace(
            "<profiles>", "<caller-controls>\n  </caller-controls>\n  <profiles>", 1
        )
    for close, element in (("</caller-controls>", group), ("</profiles>", profile)):
        if existing.count(close) != 1:
            raise AssertionError(f"expected one {close} in conference.conf.xml")
        existing = existing.replace(close, f"  {element}\n  {close}")
    return existing


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
        for part in ("bin", "lib"):
            (self.tree / part).symlink_to(self.home / part)
        # share/ as a tree of links, so a test can add sounds without touching the install
        shutil.copytree(self.home / "share", self.tree / "share", copy_function=os.symlink)
        shutil.copy2(self.home / "fsctl.sh", self.tree / "fsctl.sh")
        shutil.copytree(self.home / "etc", self.tree / "etc", symlinks=True)
        # not an install step: this tree's own `loopback` profile wants 5080, which another
        # FreeSWITCH on this host may hold; it moves to a free port
        loopback = self.conf / "sip_profiles/loopback.xml"
        if loopback.exists():
            loopback.write_text(
                _set_param(loopback.read_text(), "sip-port", str(free_port(both=True)))
            )
        self.install_shipped_config()

    def install_shipped_config(self) -> None:
        """freeswitch-conf/README.md "Installing, step by step", steps 1-4 (5: ``start``)."""
        conf = self.conf
        # 1. event socket: listen-ip, listen-port and password in the existing file
        esl_path = conf / "autoload_configs/event_socket.conf.xml"
        esl_xml = esl_path.read_text()
        esl_xml = _set_param(esl_xml, "listen-ip", "127.0.0.1")
        esl_xml = _set_param(esl_xml, "listen-port", str(self.ports.esl))
        esl_xml = _set_param(esl_xml, "password", self.password)
        esl_path.write_text(esl_xml)
        # 2. conference profile: merge group cb-digits and profile cb into the existing file
        shipped = (SHIPPED / "autoload_configs/conference.conf.xml").read_text()
        ours = conf / "autoload_configs/conference.conf.xml"
        ours.write_text(merge_conference_conf(ours.read_text(), shipped))
        # 3. dialplan: its own context file beside default.xml and public.xml
        dialplan = (SHIPPED / "dialplan/conference-bridge.xml").read_text()
        if "127.0.0.1:8084 async full" not in dialplan:
            raise AssertionError("the shipped dialplan no longer names 127.0.0.1:8084")
        dialplan = dialplan.replace(
            "127.0.0.1:8084 async full", f"127.0.0.1:{self.ports.outbound} async full"
        )
        (conf / "dialplan/conference-bridge.xml").write_text(dialplan)
        # 4. SIP profile, on this session's port instead of 5070
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
        """Until ESL says "is ready" and our sofia profile is RUNNING (by `deadline`)."""

        def ready() -> bool | Not:
            body = self.api("status", timeout=2.0)
            if "is ready" not in body:
                return Not(body[-300:])
            sofia = self.api("sofia status", timeout=2.0)
            running = re.search(r"conference-bridge\s+profile\s+\S+\s+RUNNING", sofia)
            return bool(running) or Not(sofia[-300:])

        wait_started(ready, within=max(0.0, deadline - time.monotonic()), what="FreeSWITCH ready")

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
