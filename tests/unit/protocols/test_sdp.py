"""SDP parsing and offer/answer (RFC 4566, RFC 3264) for G.711 plus telephone-event."""

from __future__ import annotations

import contextlib
from typing import TypedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.protocols.safe import UnsafeValueError
from bridge.protocols.sdp import (
    MAX_SDP_SIZE,
    PCMA,
    PCMU,
    SdpError,
    SdpNotAcceptable,
    accept_answer,
    answer_offer,
    build_offer,
    parse_sdp,
)

SIPP_OFFER = (
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)
PHONE_OFFER = (
    b"v=0\r\n"
    b"o=- 1 2 IN IP4 192.0.2.10\r\n"
    b"s=phone\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 9 8 0 101\r\n"
    b"a=rtpmap:9 G722/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=ptime:30\r\n"
    b"a=sendrecv\r\n"
)


class AnswerArgs(TypedDict):
    local_address: str
    local_port: int
    session_id: int


ANSWER_ARGS: AnswerArgs = {"local_address": "127.0.0.1", "local_port": 20000, "session_id": 7}


def test_parse_sipp_offer() -> None:
    offer = parse_sdp(SIPP_OFFER)
    assert (offer.origin_user, offer.session_id, offer.connection) == (
        "user1",
        53655765,
        "127.0.0.1",
    )
    (media,) = offer.media
    assert (media.media, media.port, media.proto, media.formats) == (
        "audio",
        6000,
        "RTP/AVP",
        ["0"],
    )
    assert media.rtpmap[0].encoding == "PCMU" and media.direction is None


def test_answer_to_sipp_offer_is_pcmu_sendrecv() -> None:
    sdp, negotiated = answer_offer(parse_sdp(SIPP_OFFER), session_version=1, **ANSWER_ARGS)
    assert (negotiated.payload_type, negotiated.codec) == (PCMU, "PCMU")
    assert (negotiated.remote_address, negotiated.remote_port) == ("127.0.0.1", 6000)
    assert negotiated.event_payload_type is None and negotiated.direction == "sendrecv"
    assert not negotiated.on_hold
    text = sdp.to_bytes().decode()
    assert "m=audio 20000 RTP/AVP 0\r\n" in text and "a=sendrecv\r\n" in text
    assert "telephone-event" not in text
    assert parse_sdp(sdp.to_bytes()).media[0].port == 20000


def test_answer_follows_offer_order_and_keeps_telephone_event() -> None:
    sdp, negotiated = answer_offer(parse_sdp(PHONE_OFFER), session_version=1, **ANSWER_ARGS)
    assert (negotiated.payload_type, negotiated.codec) == (PCMA, "PCMA")
    assert negotiated.event_payload_type == 101 and negotiated.ptime == 30
    media = parse_sdp(sdp.to_bytes()).media[0]
    assert media.formats == ["8", "101"]
    assert media.rtpmap[101].encoding == "telephone-event" and media.fmtp[101] == "0-16"
    pcmu_first = answer_offer(
        parse_sdp(PHONE_OFFER), session_version=1, codecs=(PCMU,), **ANSWER_ARGS
    )[1]
    assert pcmu_first.codec == "PCMU"


def test_dynamic_payload_type_for_pcmu() -> None:
    offer = SIPP_OFFER.replace(b"RTP/AVP 0", b"RTP/AVP 96").replace(b"rtpmap:0", b"rtpmap:96")
    negotiated = answer_offer(parse_sdp(offer), session_version=1, **ANSWER_ARGS)[1]
    assert (negotiated.payload_type, negotiated.codec) == (96, "PCMU")


@pytest.mark.parametrize(
    ("offered", "answered", "on_hold"),
    [
        (b"a=sendonly", "recvonly", True),
        (b"a=inactive", "inactive", True),
        (b"a=recvonly", "sendonly", False),
        (b"a=sendrecv", "sendrecv", False),
    ],
)
def test_hold_directions(offered: bytes, answered: str, on_hold: bool) -> None:
    offer = PHONE_OFFER.replace(b"a=sendrecv", offered)
    sdp, negotiated = answer_offer(parse_sdp(offer), session_version=2, **ANSWER_ARGS)
    assert negotiated.direction == answered and negotiated.on_hold is on_hold
    assert parse_sdp(sdp.to_bytes()).media[0].direction == answered


def test_old_style_hold_with_zero_address() -> None:
    offer = PHONE_OFFER.replace(b"c=IN IP4 192.0.2.10", b"c=IN IP4 0.0.0.0")
    negotiated = answer_offer(parse_sdp(offer), session_version=2, **ANSWER_ARGS)[1]
    assert negotiated.direction == "recvonly" and negotiated.on_hold


def test_session_level_direction_and_media_level_connection() -> None:
    offer = (
        PHONE_OFFER.replace(b"a=sendrecv\r\n", b"")
        .replace(b"t=0 0\r\n", b"t=0 0\r\na=inactive\r\n")
        .replace(
            b"m=audio 40000 RTP/AVP 9 8 0 101\r\n",
            b"m=audio 40000 RTP/AVP 9 8 0 101\r\nc=IN IP4 192.0.2.99\r\n",
        )
    )
    negotiated = answer_offer(parse_sdp(offer), session_version=2, **ANSWER_ARGS)[1]
    assert negotiated.direction == "inactive" and negotiated.remote_address == "192.0.2.99"


def test_our_local_hold_is_intersected() -> None:
    negotiated = answer_offer(
        parse_sdp(PHONE_OFFER), session_version=2, local_direction="sendonly", **ANSWER_ARGS
    )[1]
    assert negotiated.direction == "sendonly"


def test_video_and_extra_streams_are_refused_with_port_zero() -> None:
    offer = PHONE_OFFER + b"m=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    sdp, _ = answer_offer(parse_sdp(offer), session_version=1, **ANSWER_ARGS)
    video = parse_sdp(sdp.to_bytes()).media[1]
    assert (video.media, video.port, video.formats) == ("video", 0, ["96"])


def test_no_g711_is_not_acceptable() -> None:
    offer = SIPP_OFFER.replace(b"RTP/AVP 0", b"RTP/AVP 9").replace(b"0 PCMU", b"9 G722")
    with pytest.raises(SdpNotAcceptable):
        answer_offer(parse_sdp(offer), session_version=1, **ANSWER_ARGS)
    with pytest.raises(SdpNotAcceptable):
        answer_offer(
            parse_sdp(SIPP_OFFER.replace(b"audio 6000", b"audio 0")),
            session_version=1,
            **ANSWER_ARGS,
        )


def test_offer_and_answer_for_an_outbound_call() -> None:
    offer = build_offer(local_address="10.0.0.1", local_port=30000, session_id=5, session_version=1)
    text = offer.to_bytes().decode()
    assert "m=audio 30000 RTP/AVP 0 8 101\r\n" in text
    assert "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n" in text
    assert "a=ptime:20\r\n" in text and text.startswith("v=0\r\no=bridge 5 1 IN IP4 10.0.0.1\r\n")
    remote = parse_sdp(
        b"v=0\r\no=- 9 9 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"
        b"m=audio 5004 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n"
    )
    negotiated = accept_answer(parse_sdp(offer.to_bytes()), remote)
    assert (negotiated.codec, negotiated.event_payload_type, negotiated.remote_port) == (
        "PCMA",
        101,
        5004,
    )
    assert negotiated.direction == "sendonly"
    with pytest.raises(SdpNotAcceptable):
        accept_answer(offer, parse_sdp(SIPP_OFFER.replace(b"RTP/AVP 0", b"RTP/AVP 9")))


def test_unsafe_local_address_is_refused() -> None:
    with pytest.raises((UnsafeValueError, SdpError)):
        build_offer(local_address="10.0.0.1\r\nm=x", local_port=1, session_id=1, session_version=1)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"v=1\r\n",
        b"v=0\r\ns=-\r\n",  # no origin
        SIPP_OFFER.replace(b"o=user1 53655765", b"o=user1 x"),
        SIPP_OFFER.replace(b"m=audio 6000", b"m=audio 70000"),
        SIPP_OFFER.replace(b"m=audio 6000 RTP/AVP 0", b"m=audio"),
        SIPP_OFFER.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP9 127.0.0.1"),
        SIPP_OFFER.replace(b"a=rtpmap:0 PCMU/8000", b"a=rtpmap:0 PCMU"),
        SIPP_OFFER.replace(b"a=rtpmap:0", b"a=rtpmap:999"),
        SIPP_OFFER + b"a=ptime:abc\r\n",
        SIPP_OFFER + b"junk\r\n",
        SIPP_OFFER + b"A=x\r\n",
        SIPP_OFFER.replace(b"s=-", b"s=\x00"),
        b"\xff\xfe",
        b"v=0\r\n" + b"a=x\r\n" * MAX_SDP_SIZE,
    ],
)
def test_malformed_sdp_raises(data: bytes) -> None:
    with pytest.raises(SdpError):
        parse_sdp(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_only_raise_sdp_error(data: bytes) -> None:
    with contextlib.suppress(SdpError):
        parse_sdp(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_offers_parse_or_raise_sdp_error_and_answers_stay_clean(
    data: st.DataObject,
) -> None:
    raw = bytearray(PHONE_OFFER)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.sampled_from(list(b"0189 :/=\r\n-a\x00\xff")))
    try:
        offer = parse_sdp(bytes(raw))
        sdp, _ = answer_offer(offer, session_version=1, **ANSWER_ARGS)
        parse_sdp(sdp.to_bytes())  # whatever we answer is itself valid SDP
    except SdpError:
        pass
