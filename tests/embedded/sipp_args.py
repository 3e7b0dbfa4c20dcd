"""SIPp callers with extra command-line options (transport, digest credentials).

Like `sipp.start_sipp`, with the scenario, the tone and the working directory prepared the
same way, plus options such as `-t t1` (TCP) or `-au user -ap password`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from sipp import SCENARIOS, Sipp, free_udp_port

from bridge.media import g711, tones


def start_sipp_with(
    workdir: Path,
    server: tuple[str, int],
    service: str,
    options: list[str],
    *,
    scenario: str = "uac_stream.xml",
    tone_hz: float = 1000.0,
    duration_ms: int = 3000,
) -> Sipp:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tone.ulaw").write_bytes(g711.ulaw_encode(tones.tone_pcm([tone_hz], 1000, 6000)))
    shutil.copyfile(SCENARIOS / scenario, workdir / scenario)
    command = [
        "sipp", "-sf", scenario, "-s", service,
        "-i", "127.0.0.1", "-p", str(free_udp_port()),
        "-mi", "127.0.0.1", "-mp", str(free_udp_port()),
        "-m", "1", "-l", "1", "-d", str(duration_ms),
        "-nostdin", "-trace_err", "-timeout", "60s", *options,
        f"{server[0]}:{server[1]}",
    ]  # fmt: skip
    with (workdir / "sipp.out").open("wb") as out:
        process = subprocess.Popen(
            command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    return Sipp(process, workdir)
