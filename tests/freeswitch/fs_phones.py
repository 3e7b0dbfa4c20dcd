"""SIPp phones that dial in through the real FreeSWITCH (loopback only).

A ``Phone`` dials an access code at the session's FreeSWITCH (our shipped SIP profile):
it streams a 660 Hz PCMU tone (clear of every placeholder prompt, see
/opt/freeswitch/README.md), presses RFC 4733 digits at given moments (pcaps shipped
with sip-tester), then waits for FreeSWITCH to hang up, or hangs up itself. The
scenario text is the Asterisk suite's (tests/asterisk/sipp_phones.py), kept here so
each suite owns its phones.

The digit pcaps carry fixed RTP sequence numbers and timestamps that rise from 1 to 9,
*, #: within one call, digits must be pressed in that rising order.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DTMF_DIR = Path("/usr/share/sip-tester")
_DIGIT_FILE = {"*": "star", "#": "pound"}
TONE_HZ = 660.0


def require_sipp() -> None:
    if shutil.which("sipp") is None or not DTMF_DIR.is_dir():
        reason = "sipp not installed (apt-get install sip-tester)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ulaw(sample: int) -> int:
    """G.711 µ-law of one 16-bit linear sample."""
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


def tone_ulaw(seconds: float = 1.0, hz: float = TONE_HZ, rate: int = 8000) -> bytes:
    count = int(seconds * rate)
    return bytes(_ulaw(int(8000 * math.sin(2 * math.pi * hz * n / rate))) for n in range(count))


_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="conference-bridge test phone">
"""

_INVITE = """  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "{name}" <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
"""

_ACK = """  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "{name}" <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

_BYE = """  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "{name}" <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""

_OK_TO_BYE = """  <send next="99">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
"""


def uac_scenario(
    *,
    expect: int = 200,
    steps: tuple[tuple[str, str | int], ...] = (),
    wait_for_bye_ms: int = 60_000,
    user: str = "sipp",
    name: str | None = None,
) -> str:
    """``steps``: ("pause", ms) or ("digit", "1"). After them the phone waits up to
    ``wait_for_bye_ms`` for the PBX's BYE, then hangs up itself. ``user`` is the From
    URI's user (percent-encode what a URI cannot hold, and ``[`` ``]``, which SIPp reads
    as keywords); ``name`` the display name (default: ``user``), no ``"`` or brackets."""
    names = {"name": user if name is None else name, "user": user}
    out = [_HEAD, _INVITE.format(**names)]
    if expect != 200:
        out.append(f'  <recv response="{expect}"/>\n')
        out.append(_ACK.format(**names))
        out.append("</scenario>\n")
        return "".join(out)
    out.append('  <recv response="200" rtd="true"/>\n')
    out.append(_ACK.format(**names))
    out.append('  <nop><action><exec rtp_stream="tone.ulaw,-1,0"/></action></nop>\n')
    for kind, value in steps:
        if kind == "pause":
            out.append(f'  <pause milliseconds="{int(value)}"/>\n')
        else:
            name = _DIGIT_FILE.get(str(value), str(value))
            # The tone pauses while the digit plays: two interleaved SSRCs make Asterisk
            # see every RFC 4733 packet as a new event.
            out.append(
                '  <nop><action><exec rtp_stream="pause"/>'
                f'<exec play_pcap_audio="dtmf_{name}.pcap"/></action></nop>\n'
                '  <pause milliseconds="400"/>\n'
                '  <nop><action><exec rtp_stream="resume"/></action></nop>\n'
            )
    out.append(f'  <recv request="BYE" timeout="{max(1, wait_for_bye_ms)}" ontimeout="50"/>\n')
    out.append(_OK_TO_BYE)
    out.append('  <label id="50"/>\n')
    out.append(_BYE.format(**names))
    out.append('  <label id="99"/>\n</scenario>\n')
    return "".join(out)


@dataclass
class Phone:
    """One SIPp process (one call)."""

    process: subprocess.Popen[bytes]
    workdir: Path
    port: int
    timeouts: list[float] = field(default_factory=list)

    async def finished(self, within: float = 30.0) -> int:
        return await asyncio.to_thread(self.process.wait, within)

    async def ended_by_pbx(self, within: float = 30.0) -> bool:
        """The PBX hung the call up. SIPp counts a BYE that arrives while the phone is still
        in a scripted pause (e.g. the tail of a PIN digit) as "unexpected" and exits 1; that
        still is the PBX ending the call, which is what such a test checks."""
        code = await self.finished(within)
        return code == 0 or "Aborting call on an unexpected BYE" in self.output()

    def messages(self) -> str:
        """Every SIP message SIPp sent and received (with ``trace=True``)."""
        return "".join(p.read_text(errors="replace") for p in self.workdir.glob("*_messages.log"))

    def output(self) -> str:
        errors = "".join(p.read_text(errors="replace") for p in self.workdir.glob("*_errors.log"))
        log = (self.workdir / "sipp.out").read_text(errors="replace")
        return log[-2000:] + errors[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _run(workdir: Path, scenario: str, args: list[str]) -> Phone:
    require_sipp()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tone.ulaw").write_bytes(tone_ulaw())
    for pcap in DTMF_DIR.glob("dtmf_2833_*.pcap"):
        shutil.copyfile(pcap, workdir / pcap.name.replace("dtmf_2833_", "dtmf_"))
    (workdir / "scenario.xml").write_text(scenario)
    port = free_port()
    command = [
        "sipp", "-sf", "scenario.xml", "-i", "127.0.0.1", "-p", str(port),
        "-mi", "127.0.0.1", "-mp", str(free_port()),
        "-m", "1", "-l", "1", "-nostdin", "-trace_err", "-timeout", "120s", *args,
    ]  # fmt: skip
    with (workdir / "sipp.out").open("wb") as out:
        process = subprocess.Popen(
            command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    return Phone(process, workdir, port)


def dial(
    workdir: Path, sip_port: int, service: str, scenario: str, *, trace: bool = False
) -> Phone:
    extra = ["-trace_msg"] if trace else []
    return _run(workdir, scenario, ["-s", service, *extra, f"127.0.0.1:{sip_port}"])
