"""Offline tests of the AGI codec (environment, commands, responses)."""

from __future__ import annotations

import pytest

from bridge.protocols import agi
from bridge.protocols.agi import AgiHangup, AgiProtocolError, AgiResponseParser
from bridge.protocols.safe import UnsafeValueError

ENV = [
    "agi_network: yes\n",
    "agi_network_script: dialin\n",
    "agi_request: agi://127.0.0.1:4573/dialin\n",
    "agi_channel: PJSIP/bridge-loopback-00000000\n",
    "agi_uniqueid: 1795293074.4\n",
    "agi_callerid: sipp\n",
    "agi_context: bridge-dialin\n",
    "agi_extension: s\n",
    "agi_arg_1: 4242\n",
    "agi_arg_2: \n",
    "\n",
    "agi_ignored_after_blank: x\n",
]


def test_environment() -> None:
    env = agi.parse_environment(ENV)
    assert env.script == "dialin"
    assert env.channel == "PJSIP/bridge-loopback-00000000"
    assert env.uniqueid == "1795293074.4"
    assert env.args == ("4242", "")
    assert env.get("ignored_after_blank") == ""


def test_environment_refuses_other_lines() -> None:
    with pytest.raises(AgiProtocolError):
        agi.parse_environment(["GET / HTTP/1.1\r\n"])


def test_commands() -> None:
    assert agi.answer() == b"ANSWER\n"
    assert agi.set_variable("BRIDGE_CONF", "cb-1", "name") == b"SET VARIABLE BRIDGE_CONF cb-1\n"
    assert agi.get_variable("CONFBRIDGE_RESULT") == b"GET VARIABLE CONFBRIDGE_RESULT\n"
    assert agi.get_data("conf-getpin", timeout_ms=4000, max_digits=6) == (
        b"GET DATA conf-getpin 4000 6\n"
    )
    assert agi.stream_file("conf-getpin", escape_digits="#") == b"STREAM FILE conf-getpin #\n"
    assert agi.stream_file("beep") == b'STREAM FILE beep ""\n'
    assert agi.exec_app("ConfBridge", ("cb-1", "name"), ("cb_bridge", "name")) == (
        b"EXEC ConfBridge cb-1,cb_bridge\n"
    )
    assert agi.hangup() == b"HANGUP\n"
    assert agi.verbose('say "hi" \\ there', 3) == b'VERBOSE "say \\"hi\\" \\\\ there" 3\n'


@pytest.mark.parametrize("bad", ["cb-1\nHANGUP", "cb-1\r", "cb 1", "a\x00"])
def test_commands_refuse_unsafe_values(bad: str) -> None:
    with pytest.raises(UnsafeValueError):
        agi.set_variable("BRIDGE_CONF", bad, "name")
    with pytest.raises(UnsafeValueError):
        agi.exec_app("ConfBridge", (bad, "name"))
    with pytest.raises(UnsafeValueError):
        agi.set_variable(bad, "x", "name")


def test_verbose_refuses_newlines() -> None:
    with pytest.raises(UnsafeValueError):
        agi.verbose("line\nANSWER")


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "endpos"),
    [
        ("200 result=0\n", 200, 0, None, None),
        ("200 result=1 (cb-1)\n", 200, 1, "cb-1", None),
        ("200 result=1 (a (nested) value)\n", 200, 1, "a (nested) value", None),
        ("200 result=1234 (timeout)\n", 200, 1234, "timeout", None),
        ("200 result=35 endpos=12345\n", 200, 35, None, 12345),
        ("200 result=-1\n", 200, -1, None, None),
        ("510 Invalid or unknown command\n", 510, None, None, None),
        (
            "511 Command Not Permitted on a dead channel or intercept routine\n",
            511,
            None,
            None,
            None,
        ),
    ],
)
def test_responses(
    line: str, code: int, result: int | None, data: str | None, endpos: int | None
) -> None:
    response = agi.parse_response(line)
    assert (response.code, response.result, response.data, response.endpos) == (
        code,
        result,
        data,
        endpos,
    )


def test_stream_file_digit() -> None:
    assert agi.parse_response("200 result=35 endpos=800").digit == "#"
    assert agi.parse_response("200 result=0 endpos=800").digit is None
    assert not agi.parse_response("200 result=-1").ok


def test_response_parser_handles_hangup_and_usage_blocks() -> None:
    parser = AgiResponseParser()
    assert isinstance(parser.feed_line("HANGUP\n"), AgiHangup)
    assert parser.feed_line("520-Invalid command syntax.  Proper usage follows:\n") is None
    assert (
        parser.feed_line(" Usage: GET DATA <file to be streamed> [timeout] [maxdigits]\n") is None
    )
    usage = parser.feed_line("520 End of proper usage.\n")
    assert usage is not None and not isinstance(usage, AgiHangup)
    assert usage.code == 520 and "Usage: GET DATA" in usage.text
    reply = parser.feed_line("200 result=1\n")
    assert reply is not None and not isinstance(reply, AgiHangup) and reply.ok


def test_garbage_response_is_a_protocol_error() -> None:
    with pytest.raises(AgiProtocolError):
        agi.parse_response("hello")
