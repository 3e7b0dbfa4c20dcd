"""SIPp phones, one call each, with scenarios generated per call, for the PBX suites
(Asterisk, FreeSWITCH) and the live-app tests.

A phone from `dial` calls ``service`` at the PBX: it streams a PCMU tone, presses RFC 4733
digits at given moments (pcaps shipped with sip-tester), then either waits for the PBX to
hang up (kick, terminate) or hangs up itself. `expect` other than 200 checks a refusal
(404, 403, 486, 503, 302). `answerer` runs a SIPp UAS for dial-outs.

The digit pcaps carry fixed RTP sequence numbers and timestamps that rise from 1 to 9,
*, #: within one call, digits must be pressed in that rising order (a repeated or lower
digit replays old packets, which the PBX rightly drops). PINs in the tests are therefore
rising sequences such as 123#.
"""

from __future__ import annotations

from pathlib import Path

from bridge_testing.sipp import Sipp, digit_pcap, launch

TONE_HZ = 440.0
TONE_AMPLITUDE = 8000
TIMEOUT = 120.0  # SIPp's own hard limit per phone

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
            # The tone pauses while the digit plays: two interleaved SSRCs make Asterisk
            # see every RFC 4733 packet as a new event.
            out.append(
                '  <nop><action><exec rtp_stream="pause"/>'
                f'<exec play_pcap_audio="{digit_pcap(str(value))}"/></action></nop>\n'
                '  <pause milliseconds="400"/>\n'
                '  <nop><action><exec rtp_stream="resume"/></action></nop>\n'
            )
    out.append(f'  <recv request="BYE" timeout="{max(1, wait_for_bye_ms)}" ontimeout="50"/>\n')
    out.append(_OK_TO_BYE)
    out.append('  <label id="50"/>\n')
    out.append(_BYE.format(**names))
    out.append('  <label id="99"/>\n</scenario>\n')
    return "".join(out)


UAS_ANSWER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="conference-bridge dial-out answerer">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="{ring_ms}"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 {final}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      {body}
  </send>
  <recv request="ACK" crlf="true"/>
{after}</scenario>
"""

_SDP_ANSWER = """Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=sendrecv

    ]]>"""

_NO_BODY = """Content-Length: 0

    ]]>"""

_UAS_STAY = """  <nop><action><exec rtp_stream="tone.ulaw,-1,0"/></action></nop>
  <recv request="BYE" timeout="120000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""


def uas_scenario(*, answer: bool = True, final: str = "486 Busy Here", ring_ms: int = 200) -> str:
    if answer:
        return UAS_ANSWER.format(ring_ms=ring_ms, final="200 OK", body=_SDP_ANSWER, after=_UAS_STAY)
    return UAS_ANSWER.format(ring_ms=ring_ms, final=final, body=_NO_BODY, after="")


class Phone(Sipp):
    """One SIPp process (one call)."""

    async def ended_by_pbx(self, within: float = 30.0) -> bool:
        """The PBX hung the call up. SIPp counts a BYE that arrives while the phone is still
        in a scripted pause (e.g. the tail of a PIN digit) as "unexpected" and exits 1; that
        still is the PBX ending the call, which is what such a test checks."""
        code = await self.finished(within)
        return code == 0 or "Aborting call on an unexpected BYE" in self.output()


def _run(
    workdir: Path,
    scenario: str,
    server: tuple[str, int] | None,
    *,
    service: str | None = None,
    trace: bool = False,
    port: int | None = None,
    tone_hz: float = TONE_HZ,
) -> Phone:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "scenario.xml").write_text(scenario)
    sipp = launch(
        workdir, "scenario.xml", server, service=service, timeout=TIMEOUT, port=port,
        tone_hz=tone_hz, tone_amplitude=TONE_AMPLITUDE, options=["-trace_msg"] if trace else [],
    )  # fmt: skip
    return Phone(sipp.process, sipp.workdir, sipp.port)


def dial(
    workdir: Path,
    sip_port: int,
    service: str,
    scenario: str,
    *,
    trace: bool = False,
    tone_hz: float = TONE_HZ,
) -> Phone:
    """One call to ``service`` at 127.0.0.1:``sip_port`` running ``scenario`` (its text)."""
    return _run(
        workdir, scenario, ("127.0.0.1", sip_port), service=service, trace=trace, tone_hz=tone_hz
    )


def answerer(
    workdir: Path, scenario: str, *, port: int | None = None, trace: bool = False
) -> Phone:
    """A SIPp UAS on ``port`` answering one call with ``scenario`` (`uas_scenario`)."""
    return _run(workdir, scenario, None, trace=trace, port=port)
