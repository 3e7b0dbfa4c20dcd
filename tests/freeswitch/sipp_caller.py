"""One SIPp caller for the real-FreeSWITCH tests (loopback only).

The scenario (data/sipp_hostile_caller.xml) calls ``service`` with the From display name
and user taken from an injection file, answers, waits 3 s and hangs up.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCENARIO = Path(__file__).parent / "data" / "sipp_hostile_caller.xml"


def sipp_available() -> bool:
    return shutil.which("sipp") is not None


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CallResult:
    returncode: int
    output: str


def call(
    workdir: Path, sip_port: int, service: str, display: str, user: str, timeout: float = 30.0
) -> CallResult:
    """Place one call and wait for SIPp to finish (exit 0: answered and hung up)."""
    workdir.mkdir(parents=True, exist_ok=True)
    inj = workdir / "caller.csv"
    # SIPp's injection file: ';' separates fields, so neither value may hold one
    if ";" in display or ";" in user or "\n" in display + user:
        raise ValueError("display and user must not contain ';' or newlines")
    inj.write_text(f"SEQUENTIAL\n{display};{user}\n")
    args = [
        "sipp", f"127.0.0.1:{sip_port}", "-sf", str(SCENARIO), "-inf", str(inj),
        "-s", service, "-m", "1", "-i", "127.0.0.1", "-p", str(_free_udp_port()),
        "-mp", str(_free_udp_port()), "-nostdin", "-timeout", f"{int(timeout)}s",
        "-timeout_error", "-trace_err", "-error_file", str(workdir / "errors.log"),
    ]  # fmt: skip
    proc = subprocess.run(
        args, cwd=workdir, capture_output=True, text=True, timeout=timeout + 10, check=False
    )
    errors = workdir / "errors.log"
    text = proc.stdout[-2000:] + proc.stderr[-2000:]
    if errors.exists():
        text += errors.read_text(errors="replace")[-2000:]
    return CallResult(proc.returncode, text)
