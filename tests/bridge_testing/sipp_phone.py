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
from typing import Any

from bridge_testing.sipp import Sipp, digit_pcap, launch, request, response

TONE_HZ = 440.0
TONE_AMPLITUDE = 8000
TIMEOUT = 120.0  # SIPp's own hard limit per phone

_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="conference-bridge test phone">
"""

_PROVISIONAL = "".join(f'  <recv response="{n}" optional="true"/>\n' for n in (100, 180, 183))


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
    who: dict[str, Any] = {"user": user, "display": user if name is None else name}
    ack = request("ACK", 1, in_dialog=True, **who)
    out = [_HEAD, request("INVITE", 1, sdp=True, **who), _PROVISIONAL]
    if expect != 200:
        out.append(f'  <recv response="{expect}"/>\n')
        out.append(ack)
        out.append("</scenario>\n")
        return "".join(out)
    out.append('  <recv response="200" rtd="true"/>\n')
    out.append(ack)
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
    out.append(response("200 OK", extra=' next="99"'))
    out.append('  <label id="50"/>\n')
    out.append(request("BYE", 2, in_dialog=True, **who))
    out.append('  <recv response="200" crlf="true"/>\n')
    out.append('  <label id="99"/>\n</scenario>\n')
    return "".join(out)


_UAS_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="conference-bridge dial-out answerer">
  <recv request="INVITE" crlf="true"/>
"""


def uas_scenario(*, answer: bool = True, final: str = "486 Busy Here", ring_ms: int = 200) -> str:
    """Ring for `ring_ms`, then answer (and stream the tone until the BYE) or refuse with
    `final`."""
    out = [
        _UAS_HEAD,
        response("180 Ringing", to_tag=True),
        f'  <pause milliseconds="{ring_ms}"/>\n',
        response("200 OK" if answer else final, to_tag=True, sdp=answer, retrans=True),
        '  <recv request="ACK" crlf="true"/>\n',
    ]
    if answer:
        out.append('  <nop><action><exec rtp_stream="tone.ulaw,-1,0"/></action></nop>\n')
        out.append('  <recv request="BYE" timeout="120000"/>\n')
        out.append(response("200 OK", contact=False))
    out.append("</scenario>\n")
    return "".join(out)


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
