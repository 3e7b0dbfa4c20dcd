"""Build docker/'s images with podman and run its compose stacks (imported as `podman_stack`).

Everything a test creates is named after one run token (`cbtest-<token>-...`): image tags,
compose projects (hence containers, volumes, networks and pods), and it is removed by those
names afterwards. The base images (debian:bookworm-slim, debian:sid-slim) are not ours:
.ci/podman-base-images.sh makes them once and they stay, as a cache.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bridge_testing.process import free_port as loopback_port
from bridge_testing.process import wait_started
from bridge_testing.wait import Not
from needs import need_command, unavailable

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
BASE_IMAGES = ("docker.io/library/debian:bookworm-slim", "docker.io/library/debian:sid-slim")
# what each of our images is built from (docker/<name>/Dockerfile, context: the repository)
IMAGES = ("bridge", "asterisk", "freeswitch", "postgres")
FREESWITCH_TARBALL = DOCKER / "freeswitch" / "freeswitch.tar.zst"
COMPOSE_MIN = (1, 1)
# ports that other PBXs on a shared machine hold; ephemeral ports never are, but say so
RESERVED_PORTS = frozenset({5038, 5060, 5080, 8021})

# runc, and ulimits under the hard limit: what podman needs on machines where crun cannot
# set up cgroups and root lacks CAP_SYS_RESOURCE (../shared/reference is not read: the
# settings are these few lines)
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]
[engine]
runtime = "runc"
"""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free for TCP (or UDP) on 127.0.0.1 now, never one of RESERVED_PORTS."""
    return loopback_port(kind, avoid=RESERVED_PORTS)


def free_both() -> int:
    """A port free for both TCP and UDP (SIP listens on both)."""
    return loopback_port(socket.SOCK_DGRAM, both=True, avoid=RESERVED_PORTS)


def rtp_range(size: int = 200) -> tuple[int, int]:
    low = random.randrange(30000, 58000, 2)
    return low, low + size - 1


@dataclass
class Podman:
    """podman and podman-compose with this machine's settings, and the run's names."""

    workdir: Path
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    built: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def check(cls, workdir: Path) -> Podman:
        need_command("podman", "podman")
        if shutil.which("podman-compose") is None:
            unavailable("`podman-compose` is not on PATH", "pip install -e '.[dev]'")
        need_command("runc", "runc")
        if os.geteuid() != 0:
            unavailable("the container tests run podman as root", "run them as root")
        podman = cls(workdir)
        import resource

        nofile = min(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        nproc = min(1000, resource.getrlimit(resource.RLIMIT_NPROC)[1])
        conf = workdir / "containers.conf"
        conf.write_text(CONTAINERS_CONF.format(nofile=nofile, nproc=nproc))
        # docker format: the OCI format drops HEALTHCHECK
        podman.env = {**os.environ, "CONTAINERS_CONF": str(conf), "BUILDAH_FORMAT": "docker"}
        version = podman.run(["--version"], tool="podman-compose").stdout
        found = re.search(r"podman-compose version (\d+)\.(\d+)", version)
        if found is None or (int(found[1]), int(found[2])) < COMPOSE_MIN:
            unavailable(
                f"podman-compose {version.strip()!r} is older than 1.1 (1.0 puts host-network"
                " services on a network too)",
                "pip install 'podman-compose>=1.1', in the dev extra",
            )
        for image in BASE_IMAGES:
            if podman.run(["image", "exists", image], check=False).returncode != 0:
                unavailable(f"base image {image} is missing", "bash .ci/podman-base-images.sh")
        return podman

    def run(
        self, args: list[str], *, check: bool = True, timeout: float = 120, tool: str = "podman"
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [tool, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=REPO,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{tool} {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def image(self, name: str) -> str:
        """Our image `name`, built from docker/<name>/Dockerfile once per run."""
        if name in self.built:
            return self.built[name]
        if name == "freeswitch" and not FREESWITCH_TARBALL.is_file():
            unavailable(
                f"no FreeSWITCH install tree at {FREESWITCH_TARBALL.relative_to(REPO)}",
                "a tarball of /opt/freeswitch there (README.md, Containers; .ci/run copies it)",
            )
        tag = f"localhost/cbtest-{self.token}/{name}:test"
        args = ["build", "-q", "-f", f"docker/{name}/Dockerfile", "-t", tag]
        ca = os.environ.get("PIP_CERT") or ssl.get_default_verify_paths().cafile
        if ca and Path(ca).is_file():  # a TLS-inspecting proxy's CA for pip (a build secret)
            args += ["--secret", f"id=ca,src={ca}"]
        started = time.monotonic()
        self.run([*args, "."], timeout=900)
        self.built[name] = tag
        print(f"\nbuilt {name} image in {time.monotonic() - started:.1f}s")
        return tag

    def remove_images(self) -> None:
        for tag in self.built.values():
            self.run(["rmi", "--force", tag], check=False)
        self.built.clear()


@dataclass
class Stack:
    """One compose stack of docker/, up under a project name of this run."""

    podman: Podman
    name: str  # docker/<name>/compose.yml
    env: dict[str, str]
    services: tuple[str, ...]

    @property
    def project(self) -> str:
        return f"cbtest-{self.podman.token}-{self.name}"

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"  # podman-compose's naming

    def compose(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        saved = self.podman.env
        self.podman.env = {**saved, **self.env}
        try:
            return self.podman.run(
                ["-p", self.project, "-f", f"docker/{self.name}/compose.yml", *args],
                tool="podman-compose",
                timeout=timeout,
            )
        finally:
            self.podman.env = saved

    def up(self) -> None:
        self.compose("up", "-d", "--no-build")

    def wait_healthy(self, service: str, within: float = 90.0) -> float:
        """Run the image's HEALTHCHECK until it passes (or the container stops); seconds."""
        started = time.monotonic()
        name = self.container(service)

        def healthy() -> bool | Not:
            state = self.podman.run(
                ["inspect", "--format", "{{.State.Status}}", name], check=False
            ).stdout.strip()
            if state in ("exited", "stopped"):
                raise AssertionError(f"{name} {state}:\n{self.logs(service)}")
            done = self.podman.run(["healthcheck", "run", name], check=False, timeout=30)
            return done.returncode == 0 or Not((done.stdout + done.stderr)[-300:])

        wait_started(
            healthy, within=within, what=f"{name} healthy", output=lambda: self.logs(service),
            every=0.5,  # between health probes
        )  # fmt: skip
        return time.monotonic() - started

    def exec(self, service: str, *command: str) -> str:
        return self.podman.run(["exec", self.container(service), *command]).stdout

    def logs(self, service: str) -> str:
        done = self.podman.run(["logs", "--tail", "60", self.container(service)], check=False)
        return (done.stdout + done.stderr)[-6000:]

    def down(self) -> None:
        """Compose down, then remove by name whatever is left of this project."""
        try:
            self.compose("down", "-v", "-t", "5")
        finally:
            names = [self.container(s) for s in self.services]
            self.podman.run(["rm", "--force", "--volumes", *names], check=False)
            volumes = self.podman.run(
                ["volume", "ls", "-q", "--filter", f"name=^{self.project}_"], check=False
            ).stdout.split()
            for volume in volumes:
                self.podman.run(["volume", "rm", "--force", volume], check=False)
            self.podman.run(["pod", "rm", "--force", f"pod_{self.project}"], check=False)
            self.podman.run(["network", "rm", "--force", f"{self.project}_default"], check=False)
