"""One SIPp caller for the real-FreeSWITCH tests (loopback only).

The scenario (data/sipp_hostile_caller.xml) calls ``service`` with the From display name
and user taken from an injection file, answers, waits 3 s and hangs up.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bridge_testing.sipp import launch, sipp_available

SCENARIO = Path(__file__).parent / "data" / "sipp_hostile_caller.xml"


@dataclass
class CallResult:
    returncode: int
    output: str


def call(
    workdir: Path, sip_port: int, service: str, display: str, user: str, timeout: float = 30.0
) -> CallResult:
    """Place one call and wait for SIPp to finish (exit 0: answered and hung up)."""
    workdir.mkdir(parents=True, exist_ok=True)
    # SIPp's injection file: ';' separates fields, so neither value may hold one
    if ";" in display or ";" in user or "\n" in display + user:
        raise ValueError("display and user must not contain ';' or newlines")
    (workdir / "caller.csv").write_text(f"SEQUENTIAL\n{display};{user}\n")
    shutil.copyfile(SCENARIO, workdir / SCENARIO.name)
    sipp = launch(
        workdir, SCENARIO.name, ("127.0.0.1", sip_port), service=service, timeout=timeout,
        options=["-inf", "caller.csv", "-timeout_error"],
    )  # fmt: skip
    try:
        code = sipp.wait(timeout + 10)
    except subprocess.TimeoutExpired:
        code = -1
    finally:
        sipp.stop()
    return CallResult(code, sipp.output(2000))


__all__ = ["CallResult", "call", "sipp_available"]
