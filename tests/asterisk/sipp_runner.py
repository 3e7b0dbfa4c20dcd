"""Run SIPp (Debian package sip-tester) as a PCMU caller against our Asterisk.

Scenarios live in tests/asterisk/scenarios/. The runner prepares a working
directory with the audio the scenario streams (a raw µ-law tone) and the RFC
4733 DTMF capture it plays (shipped with sip-tester), then runs one call.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bridge_testing.asterisk_pbx import free_port

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP_DTMF_DIR = Path("/usr/share/sip-tester")


def ulaw_encode(sample: int) -> int:
    """G.711 µ-law of one 16-bit linear sample (the classic table-free encoder)."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = 7
    for exp in range(7, -1, -1):
        if magnitude & (0x4000 >> (7 - exp)):
            exponent = exp
            break
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone_ulaw(seconds: float = 1.0, hz: float = 440.0, rate: int = 8000) -> bytes:
    count = int(seconds * rate)
    return bytes(
        ulaw_encode(int(8000 * math.sin(2 * math.pi * hz * n / rate))) for n in range(count)
    )


@dataclass
class SippCall:
    process: subprocess.Popen[bytes]
    workdir: Path

    def wait(self, within: float = 30.0) -> int:
        return self.process.wait(timeout=within)

    def output(self) -> str:
        errors = "".join(p.read_text(errors="replace") for p in self.workdir.glob("*_errors.log"))
        log = (self.workdir / "sipp.out").read_text(errors="replace")
        return log[-3000:] + errors[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def sipp_available() -> bool:
    return shutil.which("sipp") is not None


def start_call(
    workdir: Path, sip_port: int, service: str, *, scenario: str = "uac_pcmu.xml", digit: str = "1"
) -> SippCall:
    """Place one call to ``service`` (the dialed extension) at 127.0.0.1:``sip_port``."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tone.ulaw").write_bytes(tone_ulaw())
    name = {"*": "star", "#": "pound"}.get(digit, digit)
    shutil.copyfile(SIPP_DTMF_DIR / f"dtmf_2833_{name}.pcap", workdir / "dtmf.pcap")
    shutil.copyfile(SCENARIOS / scenario, workdir / scenario)
    command = [
        "sipp",
        "-sf", scenario,
        "-s", service,
        "-i", "127.0.0.1",
        "-p", str(free_port(socket.SOCK_DGRAM)),
        "-mi", "127.0.0.1",
        "-mp", str(free_port(socket.SOCK_DGRAM)),
        "-m", "1",
        "-l", "1",
        "-nostdin",
        "-trace_err",
        "-timeout", "30s",
        f"127.0.0.1:{sip_port}",
    ]  # fmt: skip
    with (workdir / "sipp.out").open("wb") as out:
        process = subprocess.Popen(
            command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    return SippCall(process, workdir)
