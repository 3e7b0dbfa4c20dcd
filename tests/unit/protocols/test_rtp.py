"""RTP header codec, RFC 4733 telephone-events, DTMF receiving and sending."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.protocols.rtp import (
    DtmfReceiver,
    RtpError,
    RtpPacket,
    RtpSender,
    TelephoneEvent,
    is_rtcp,
    parse_rtp,
    parse_telephone_event,
)
from bridge.protocols.safe import UnsafeValueError


def test_minimal_pcmu_packet() -> None:
    data = struct.pack("!BBHII", 0x80, 0x00, 4660, 160, 0xDEADBEEF) + b"\xff" * 160
    packet = parse_rtp(data)
    assert (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc) == (
        0,
        4660,
        160,
        0xDEADBEEF,
    )
    assert not packet.marker and packet.payload == b"\xff" * 160 and packet.csrcs == ()
    assert packet.to_bytes() == data


def test_marker_csrc_extension_and_padding_round_trip() -> None:
    packet = RtpPacket(
        101,
        65535,
        2**32 - 1,
        7,
        b"\x01\x8a\x03\x20",
        marker=True,
        csrcs=(1, 2, 3),
        extension=(0xBEDE, b"\x10\xff\x00\x00"),
        padding=4,
    )
    data = packet.to_bytes()
    assert data[0] == 0x80 | 0x20 | 0x10 | 3 and data[1] == 0x80 | 101
    assert data[-1] == 4 and len(data) == 12 + 12 + 8 + 4 + 4
    assert parse_rtp(data) == packet


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\x00" + b"\x00" * 9,  # 11 bytes
        b"\x40" + b"\x00" * 11,  # version 1
        b"\x8f" + b"\x00" * 11,  # 15 CSRCs announced, none present
        b"\x90" + b"\x00" * 11,  # extension announced, missing
        b"\x90" + b"\x00" * 11 + b"\xbe\xde\x00\x05",  # extension longer than the packet
        b"\xa0" + b"\x00" * 11,  # padding with a zero count
        b"\xa0" + b"\x00" * 10 + b"\x30",  # padding longer than the packet
        b"\x80" + b"\x00" * 1500,  # longer than any datagram we accept
    ],
)
def test_malformed_packets_raise_rtp_error(data: bytes) -> None:
    with pytest.raises(RtpError):
        parse_rtp(data)


def test_rtcp_is_told_apart() -> None:
    assert is_rtcp(b"\x81\xc8\x00\x06") and is_rtcp(b"\x80\xc9")
    assert not is_rtcp(b"\x80\x00\x00\x01") and not is_rtcp(b"\x80\xe5") and not is_rtcp(b"\x80")


def test_telephone_event_payload() -> None:
    event = TelephoneEvent(11, True, 10, 800)
    assert event.to_bytes() == b"\x0b\x8a\x03\x20"
    assert parse_telephone_event(b"\x0b\x8a\x03\x20\x00\x00\x00\x00") == event
    assert event.digit == "#" and TelephoneEvent(16, False, 0, 0).digit is None
    assert [TelephoneEvent(n, False, 0, 0).digit for n in (0, 9, 10, 12, 15)] == list("09*AD")
    with pytest.raises(RtpError):
        parse_telephone_event(b"\x01\x02\x03")
    with pytest.raises(RtpError):
        TelephoneEvent(1, False, 64, 0).to_bytes()


def test_sender_dtmf_sequence_shape() -> None:
    sender = RtpSender(0, ssrc=42, sequence=65534, timestamp=1000)
    sender.audio(b"\xff" * 160)
    packets = sender.dtmf("5", 101, duration_ms=100)
    assert len(packets) == 4 + 3  # 20, 40, 60, 80 ms updates, then three end packets
    assert [p.sequence for p in packets] == [65535, 0, 1, 2, 3, 4, 5]
    assert {p.timestamp for p in packets} == {1160} and {p.ssrc for p in packets} == {42}
    assert [p.marker for p in packets] == [True] + [False] * 6
    events = [parse_telephone_event(p.payload) for p in packets]
    assert {e.event for e in events} == {5}
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    after = sender.audio(b"\xff" * 160)
    assert after.timestamp == 1160 + 800 and after.sequence == 6 and after.marker
    with pytest.raises(UnsafeValueError):
        sender.dtmf("55", 101)


def test_audio_bookkeeping_wraps() -> None:
    sender = RtpSender(8, ssrc=1, sequence=65535, timestamp=2**32 - 80)
    first, second = sender.audio(b"\x00" * 160), sender.audio(b"\x00" * 160)
    assert (first.sequence, second.sequence) == (65535, 0)
    assert (first.timestamp, second.timestamp) == (2**32 - 80, 80)
    assert first.marker and not second.marker
    sender.skip(160)
    assert sender.audio(b"\x00" * 160).marker
    assert 0 <= RtpSender(0).ssrc < 2**32


def test_receiver_reports_each_digit_once() -> None:
    sender = RtpSender(0, ssrc=9, sequence=0, timestamp=0)
    stream = []
    for digit in "1#1":
        stream += sender.dtmf(digit, 101)
        stream.append(sender.audio(b"\xff" * 160))
    receiver = DtmfReceiver(101)
    wire = [parse_rtp(p.to_bytes()) for p in stream]
    digits = [d.digit for p in wire if (d := receiver.feed(p)) is not None]
    assert digits == ["1", "#", "1"]  # the same digit twice is two presses
    assert [receiver.feed(p) for p in wire] == [None] * len(wire)  # duplicates of all of it


def test_receiver_survives_lost_start_and_lost_end_packets() -> None:
    sender = RtpSender(0, ssrc=9, sequence=0, timestamp=0)
    first = sender.dtmf("7", 101)
    second = sender.dtmf("8", 101)
    receiver = DtmfReceiver(101)
    got = [receiver.feed(p) for p in first[-3:] + second[:1]]  # 7: ends only; 8: start only
    assert [d.digit for d in got if d] == ["7", "8"]


def test_receiver_ignores_other_payload_types_and_flash() -> None:
    receiver = DtmfReceiver(101)
    assert receiver.feed(RtpPacket(0, 1, 0, 1, b"\xff" * 160)) is None
    flash = RtpPacket(101, 2, 160, 1, TelephoneEvent(16, True, 0, 800).to_bytes())
    assert receiver.feed(flash) is None
    with pytest.raises(RtpError):
        receiver.feed(RtpPacket(101, 3, 320, 1, b"\x01"))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=1600))
def test_random_bytes_only_raise_rtp_error(data: bytes) -> None:
    receiver = DtmfReceiver(101)
    with contextlib.suppress(RtpError):
        packet = parse_rtp(data)
        assert parse_rtp(packet.to_bytes()) == packet
        receiver.feed(RtpPacket(101, 0, 0, 0, packet.payload))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 127),
    st.integers(0, 2**16 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=200),
    st.booleans(),
    st.lists(st.integers(0, 2**32 - 1), max_size=15),
    st.integers(0, 255),
)
def test_build_parse_round_trip(
    pt: int,
    seq: int,
    ts: int,
    ssrc: int,
    payload: bytes,
    marker: bool,
    csrcs: list[int],
    padding: int,
) -> None:
    packet = RtpPacket(pt, seq, ts, ssrc, payload, marker, tuple(csrcs), None, padding)
    assert parse_rtp(packet.to_bytes()) == packet
