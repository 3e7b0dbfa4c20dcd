"""Run a real Asterisk from the root that .ci/asterisk-root.sh provisions.

The configuration it loads is OUR dialplan/ directory, copied into
ROOT/etc/asterisk, plus small generated *_bridge_local.conf files that the
shipped files #tryinclude (ports, the AMI secret, the FastAGI address). What we
ship is what we test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bridge.protocols import ami
from bridge_testing.process import free_port, wait_started

REPO = Path(__file__).resolve().parents[2]
DIALPLAN = REPO / "dialplan"
DEFAULT_ROOT = Path("/var/cache/conference-bridge/asterisk-root")
ROOT_MARKER = ".conference-bridge-root"
AMI_USER = "bridge"
# A test-only AMI user with every class (write=system included), for positive controls
# that must be able to make Asterisk run a shell: never shipped, never used by the bridge.
ADMIN_USER = "bridge-test-admin"
# Test-only dialplan (appended through extensions_bridge_local.conf, which the shipped
# extensions.conf #tryincludes): a context that really expands ${SHELL(...)}, so a test
# can prove its marker check sees an execution.
PROBE_CONTEXT = """
[bridge-test-probe]
exten => shell,1,Answer()
 same => n,Set(BRIDGE_TEST_OUT=${SHELL(touch /tmp/${BRIDGE_TEST_MARKER})})
 same => n,Hangup()
exten => wait,1,Answer()
 same => n,Wait(30)
 same => n,Hangup()
"""


# Test-only PJSIP objects, each an endpoint with a static contact: a "trunk" (the configured
# dial endpoint of the divert tests), a carrier trunk that answers (a SIPp phone on
# AsteriskPorts.carrier: dial-outs to numbers through ami_dial_endpoint), and a "victim"
# a tenant must never be able to select by name.
def _test_endpoint(name: str, contact: str) -> str:
    return (
        f"\n[{name}]\ntype = aor\ncontact = {contact}\n"
        f"\n[{name}]\ntype = endpoint\ntransport = transport-udp\ncontext = bridge-dialin\n"
        f"aors = {name}\ndisallow = all\nallow = ulaw\n"
    )


def pjsip_test_objects(carrier: int) -> str:
    return "".join(
        _test_endpoint(name, contact)
        for name, contact in (
            ("bridge-test-trunk", "sip:trunk@127.0.0.1:5999"),
            ("bridge-test-carrier", f"sip:carrier@127.0.0.1:{carrier}"),
            ("bridge-test-victim", "sip:victim-secret@127.0.0.1:5998"),
        )
    )


def asterisk_root() -> Path:
    return Path(os.environ.get("BRIDGE_ASTERISK_ROOT", str(DEFAULT_ROOT)))


def root_is_complete(root: Path) -> bool:
    return (root / ROOT_MARKER).is_file() and (root / "usr/sbin/asterisk").exists()


@dataclass(frozen=True)
class AsteriskPorts:
    ami: int
    sip: int
    agi: int
    carrier: int  # where the test trunk bridge-test-carrier sends its calls

    @classmethod
    def pick(cls) -> AsteriskPorts:
        udp = socket.SOCK_DGRAM
        return cls(ami=free_port(), sip=free_port(udp), agi=free_port(), carrier=free_port(udp))


@dataclass
class AsteriskProcess:
    root: Path
    ports: AsteriskPorts
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    admin_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    process: subprocess.Popen[bytes] | None = None
    boot_seconds: float | None = None
    _mounted: list[Path] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        return self.root / "var/log/asterisk/conference-bridge-test.out"

    # ------------------------------------------------------------------ config
    def install_config(self) -> None:
        etc = self.root / "etc/asterisk"
        for conf in sorted(DIALPLAN.glob("*.conf")):
            shutil.copyfile(conf, etc / conf.name)
        (etc / "manager_bridge_local.conf").write_text(
            f"[general](+)\nport = {self.ports.ami}\n\n[{AMI_USER}](+)\nsecret = {self.secret}\n"
            f"\n[{ADMIN_USER}]\nsecret = {self.admin_secret}\ndeny = 0.0.0.0/0.0.0.0\n"
            "permit = 127.0.0.1/255.255.255.255\nread = all\nwrite = all\n"
        )
        (etc / "pjsip_bridge_local.conf").write_text(
            f"[transport-udp](+)\nbind = 127.0.0.1:{self.ports.sip}\n"
            + pjsip_test_objects(self.ports.carrier)
        )
        (etc / "extensions_bridge_local.conf").write_text(
            f"[globals](+)\nBRIDGE_AGI_URL = agi://127.0.0.1:{self.ports.agi}\n{PROBE_CONTEXT}"
        )
        shutil.copyfile("/etc/hosts", self.root / "etc/hosts")
        (self.root / "run/asterisk").mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ process
    def _mount(self, args: list[str], target: Path) -> None:
        if os.path.ismount(target):
            return
        subprocess.run(["mount", *args, str(target)], check=True)
        self._mounted.append(target)

    def start(self) -> None:
        self.install_config()
        self._mount(["-t", "proc", "proc"], self.root / "proc")
        self._mount(["--bind", "/dev"], self.root / "dev")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(
                ["chroot", str(self.root), "asterisk", "-f", "-n", "-vvv"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_fully_booted(self, within: float = 60.0) -> float:
        """Until an AMI login sees FullyBooted (or Asterisk exits); seconds since start."""
        started = time.monotonic()
        wait_started(
            lambda: self._login_sees_fully_booted(started + within),
            within=within,
            what="Asterisk FullyBooted",
            process=self.process,
            output=self.tail,
        )
        self.boot_seconds = time.monotonic() - started
        return self.boot_seconds

    def _login_sees_fully_booted(self, deadline: float) -> bool:
        with socket.create_connection(("127.0.0.1", self.ports.ami), timeout=2) as sock:
            sock.settimeout(max(0.1, min(5.0, deadline - time.monotonic())))
            parser = ami.AmiParser()
            sock.sendall(ami.login(AMI_USER, self.secret, "boot-1", events="system").payload)
            while True:
                data = sock.recv(65536)
                if not data:
                    return False
                for message in parser.feed(data):
                    if isinstance(message, ami.AmiResponse) and not message.ok:
                        raise RuntimeError(f"AMI login refused: {message.message}")
                    if isinstance(message, ami.AmiEvent) and message.name == "FullyBooted":
                        return True

    def cli(self, command: str) -> str:
        done = subprocess.run(
            ["chroot", str(self.root), "asterisk", "-rx", command],
            capture_output=True,
            timeout=20,
            check=False,
        )
        return done.stdout.decode(errors="replace")

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no asterisk output)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop our Asterisk by PID and undo our mounts, whatever state we are in."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            for target in reversed(self._mounted):
                if subprocess.run(["umount", str(target)], check=False).returncode != 0:
                    subprocess.run(["umount", "-l", str(target)], check=False)
            self._mounted.clear()
