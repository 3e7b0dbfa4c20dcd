"""The one SIPp driver (Debian package sip-tester): every SIPp process a test or benchmark
runs, on the loopback, against any engine (embedded, Asterisk, FreeSWITCH).

`launch` writes what a scenario plays into its working directory (a raw µ-law tone made
with bridge.media, which `rtp_stream` sends, and the RFC 4733 digit captures shipped with
sip-tester, as `dtmf_<digit>.pcap`), builds the command line (our address and ports, call
count and rate, a hard timeout, extra `options` such as `-t t1` for TCP or `-au user -ap
password`) and starts SIPp with its output in `sipp.out`. `start_sipp` is `launch` for a
scenario file of tests/bridge_testing/scenarios (or another directory).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from needs import unavailable

from bridge.media import g711, tones
from bridge_testing.process import HOST, free_port

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP_DTMF_DIR = Path("/usr/share/sip-tester")
TONE = "tone.ulaw"  # what scenarios stream: rtp_stream="tone.ulaw,-1,0"
_DIGIT_NAME = {"*": "star", "#": "pound"}


def sipp_available() -> bool:
    return shutil.which("sipp") is not None and SIPP_DTMF_DIR.is_dir()


def need_sipp() -> None:
    """Skip without SIPp, naming its package; with CI=true a failure."""
    if not sipp_available():
        unavailable("sipp is not installed", "apt-get install sip-tester")


def free_udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)


def _name(digit: str) -> str:
    return _DIGIT_NAME.get(digit, digit)


def digit_pcap(digit: str) -> str:
    """The name `launch` gives the capture of `digit` in the working directory."""
    return f"dtmf_{_name(digit)}.pcap"


@dataclass
class Sipp:
    """One SIPp process; `port` is its own SIP port (where a test can reach its calls)."""

    process: subprocess.Popen[bytes]
    workdir: Path
    port: int

    def wait(self, within: float = 30.0) -> int:
        """Its exit status (0: every call went as scripted); TimeoutExpired if still running."""
        return self.process.wait(timeout=within)

    async def finished(self, within: float = 30.0) -> int:
        return await asyncio.to_thread(self.process.wait, within)

    def output(self, chars: int = 3000) -> str:
        """The tail of SIPp's screen and of its error log (with -trace_err)."""
        errors = "".join(p.read_text(errors="replace") for p in self.workdir.glob("*_errors.log"))
        try:
            screen = (self.workdir / "sipp.out").read_text(errors="replace")
        except OSError:
            screen = "(no sipp output)"
        return screen[-chars:] + errors[-chars:]

    def messages(self) -> str:
        """Every SIP message SIPp sent and received (with -trace_msg)."""
        return "".join(p.read_text(errors="replace") for p in self.workdir.glob("*_messages.log"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def launch(
    workdir: Path,
    scenario: str,
    server: tuple[str, int] | None,
    *,
    service: str | None = None,
    calls: int = 1,
    rate: float | None = None,
    timeout: float = 60.0,
    tone_hz: float = 1000.0,
    tone_amplitude: int = 6000,
    port: int | None = None,
    options: Sequence[str] = (),
) -> Sipp:
    """Start SIPp running `scenario` (a file name in `workdir`) `calls` times at `rate` per
    second to `server` (None: a UAS that waits for calls on `port`), dialling `service`."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / TONE).write_bytes(g711.ulaw_encode(tones.tone_pcm([tone_hz], 1000, tone_amplitude)))
    for pcap in SIPP_DTMF_DIR.glob("dtmf_2833_*.pcap"):
        shutil.copyfile(pcap, workdir / pcap.name.replace("dtmf_2833_", "dtmf_"))
    port = port or free_udp_port()
    command = [
        "sipp", "-sf", scenario, *(["-s", service] if service else []),
        "-i", HOST, "-p", str(port), "-mi", HOST, "-mp", str(free_udp_port()),
        "-m", str(calls), "-l", str(calls), *(["-r", f"{rate:g}"] if rate else []),
        "-nostdin", "-trace_err", "-timeout", f"{int(timeout)}s",
        *options, *([f"{server[0]}:{server[1]}"] if server else []),
    ]  # fmt: skip
    with (workdir / "sipp.out").open("wb") as out:
        process = subprocess.Popen(
            command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    return Sipp(process, workdir, port)


def start_sipp(
    workdir: Path,
    server: tuple[str, int],
    service: str,
    *,
    scenario: str = "uac_stream_dtmf.xml",
    scenarios: Path = SCENARIOS,
    digit: str = "1",
    tone_hz: float = 1000.0,
    calls: int = 1,
    rate: int = 10,
    duration_ms: int = 0,
    timeout: float = 60.0,
    options: Sequence[str] = (),
) -> Sipp:
    """Start `calls` SIPp callers dialling `service` (the access code) at `server`, with
    the scenario file `scenarios/scenario`; it plays `digit` from `dtmf.pcap`."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SIPP_DTMF_DIR / f"dtmf_2833_{_name(digit)}.pcap", workdir / "dtmf.pcap")
    shutil.copyfile(scenarios / scenario, workdir / scenario)
    extra = ["-d", str(duration_ms)] if duration_ms else []
    return launch(
        workdir, scenario, server, service=service, calls=calls, rate=rate, timeout=timeout,
        tone_hz=tone_hz, options=[*extra, *options],
    )  # fmt: skip


# --------------------------------------------------------------------------- scenario text
# SIPp fills the [keywords]; these build the <send> elements the generated scenarios share.

SDP = """      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=sendrecv
"""  # PCMU and RFC 4733 digits, the only codecs our engines and test phones offer


def _body(sdp: bool) -> str:
    if sdp:
        return "      Content-Type: application/sdp\n      Content-Length: [len]\n\n" + SDP
    return "      Content-Length: 0\n"


def _send(lines: str, retrans: bool, extra: str = "") -> str:
    start = f'  <send retrans="500"{extra}>' if retrans else f"  <send{extra}>"
    return f"{start}\n    <![CDATA[\n{lines}\n    ]]>\n  </send>\n"


def request(
    method: str,
    cseq: int,
    *,
    user: str,
    display: str | None = None,
    in_dialog: bool = False,
    sdp: bool = False,
) -> str:
    """A <send> of a UAC request to [service] at the remote end; `in_dialog` adds the
    peer's To tag (ACK, BYE). Every request but an ACK is retransmitted over UDP."""
    name = f'"{display}" ' if display is not None else ""
    lines = (
        f"      {method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n"
        "      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
        f"      From: {name}<sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n"
        "      To: <sip:[service]@[remote_ip]:[remote_port]>"
        + ("[peer_tag_param]" if in_dialog else "")
        + "\n      Call-ID: [call_id]\n"
        f"      CSeq: {cseq} {method}\n"
        f"      Contact: <sip:{user}@[local_ip]:[local_port]>\n"
        "      Max-Forwards: 70\n" + _body(sdp)
    )
    return _send(lines, retrans=method != "ACK")


_CONTACT = "      Contact: <sip:[local_ip]:[local_port];transport=[transport]>\n"


def response(
    status: str,
    *,
    to_tag: bool = False,
    contact: bool = True,
    sdp: bool = False,
    retrans: bool = False,
    extra: str = "",
) -> str:
    """A <send> of a response to the last request; `to_tag` adds our tag (a UAS's answers
    to an INVITE), `retrans` resends it until the next message (a final answer to an
    INVITE, until its ACK), `extra` more attributes of <send> (` next="99"`)."""
    lines = (
        f"      SIP/2.0 {status}\n      [last_Via:]\n      [last_From:]\n      [last_To:]"
        + (";tag=[pid]SIPpTag01[call_number]" if to_tag else "")
        + "\n      [last_Call-ID:]\n      [last_CSeq:]\n"
        + (
            "      Contact: <sip:[local_ip]:[local_port];transport=[transport]>\n"
            if contact
            else ""
        )
        + _body(sdp)
    )
    return _send(lines, retrans, extra)
