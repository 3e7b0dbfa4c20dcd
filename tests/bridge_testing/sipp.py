"""Run SIPp (Debian package sip-tester) callers against the embedded engine.

The working directory gets the scenario, a raw µ-law tone made with bridge.media (what
`rtp_stream` sends) and the RFC 4733 capture of one digit shipped with sip-tester; extra
command-line options (`-t t1` for TCP, `-au user -ap password`) go in `options`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from needs import unavailable

from bridge.media import g711, tones

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP_DTMF_DIR = Path("/usr/share/sip-tester")


def sipp_available() -> bool:
    return shutil.which("sipp") is not None and SIPP_DTMF_DIR.is_dir()


def need_sipp() -> None:
    """Skip without SIPp, naming its package; with CI=true a failure."""
    if not sipp_available():
        unavailable("sipp is not installed", "apt-get install sip-tester")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sipp:
    process: subprocess.Popen[bytes]
    workdir: Path

    def output(self) -> str:
        errors = "".join(p.read_text(errors="replace") for p in self.workdir.glob("*_errors.log"))
        return (self.workdir / "sipp.out").read_text(errors="replace")[-3000:] + errors[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def start_sipp(
    workdir: Path,
    server: tuple[str, int],
    service: str,
    *,
    scenario: str = "uac_stream_dtmf.xml",
    digit: str = "1",
    tone_hz: float = 1000.0,
    calls: int = 1,
    rate: int = 10,
    duration_ms: int = 0,
    options: Sequence[str] = (),
) -> Sipp:
    """Start `calls` SIPp callers dialling `service` (the access code) at `server`."""
    workdir.mkdir(parents=True, exist_ok=True)
    pcm = tones.tone_pcm([tone_hz], 1000, 6000)
    (workdir / "tone.ulaw").write_bytes(g711.ulaw_encode(pcm))
    name = {"*": "star", "#": "pound"}.get(digit, digit)
    shutil.copyfile(SIPP_DTMF_DIR / f"dtmf_2833_{name}.pcap", workdir / "dtmf.pcap")
    shutil.copyfile(SCENARIOS / scenario, workdir / scenario)
    command = [
        "sipp", "-sf", scenario, "-s", service,
        "-i", "127.0.0.1", "-p", str(free_udp_port()),
        "-mi", "127.0.0.1", "-mp", str(free_udp_port()),
        "-m", str(calls), "-l", str(calls), "-r", str(rate),
        "-nostdin", "-trace_err", "-timeout", "60s",
    ]  # fmt: skip
    if duration_ms:
        command += ["-d", str(duration_ms)]
    command += [*options, f"{server[0]}:{server[1]}"]
    with (workdir / "sipp.out").open("wb") as out:
        process = subprocess.Popen(
            command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    return Sipp(process, workdir)
