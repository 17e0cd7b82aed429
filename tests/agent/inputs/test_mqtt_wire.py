"""The MQTT 5 wire codec: round trips, any split of the byte stream, and garbage refused cleanly."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgewise.agent.inputs._mqtt_wire import (
    MAX_VARINT,
    MalformedPacket,
    Properties,
    Publish,
    decode_connack,
    decode_disconnect,
    decode_properties,
    decode_publish,
    decode_suback,
    decode_varint,
    encode_connect,
    encode_properties,
    encode_puback,
    encode_subscribe,
    encode_varint,
    split_packets,
    topic_name,
)
from peers.mqtt_scripted import connack, packet, publish

# Text MQTT allows in strings: UTF-8 without U+0000 (surrogates cannot be encoded).
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
topics = text.filter(lambda t: t and "+" not in t and "#" not in t and len(t.encode()) < 200)


@given(st.integers(0, MAX_VARINT))
def test_varints_round_trip_in_one_to_four_bytes(value: int) -> None:
    data = encode_varint(value)
    assert 1 <= len(data) <= 4
    assert decode_varint(data + b"junk", 0, len(data) + 4) == (value, len(data))


def test_varints_refuse_a_fifth_byte_and_a_cut() -> None:
    with pytest.raises(MalformedPacket, match="longer than four bytes"):
        decode_varint(b"\xff\xff\xff\xff\x01", 0, 5)
    with pytest.raises(MalformedPacket, match="cut short"):
        decode_varint(b"\xff\xff", 0, 2)
    with pytest.raises(ValueError, match="does not fit"):
        encode_varint(MAX_VARINT + 1)


properties = st.fixed_dictionaries(
    {},
    optional={
        0x01: st.integers(0, 1),
        0x02: st.integers(0, 2**32 - 1),
        0x03: text,
        0x09: st.binary(max_size=40),
        0x0B: st.lists(st.integers(1, MAX_VARINT), min_size=1, max_size=3),
        0x13: st.integers(0, 65535),
        0x1F: text,
        0x26: st.lists(st.tuples(text, text), min_size=1, max_size=3),
    },
)


@given(properties)
def test_properties_round_trip(props: Properties) -> None:
    data = encode_properties(props)
    assert decode_properties(data, 0) == (props, len(data))


@given(
    st.lists(
        st.tuples(topics, st.sampled_from([0, 1]), st.integers(1, 65535), st.binary(), properties),
        max_size=8,
    ),
    st.lists(st.integers(0, 10_000), max_size=10),
)
def test_publishes_survive_any_split_of_the_stream(
    messages: list[tuple[str, int, int, bytes, Properties]], cuts: list[int]
) -> None:
    stream = b"".join(
        publish(t.encode(), payload, qos=qos, packet_id=pid, props=props)
        for t, qos, pid, payload, props in messages
    )
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    got, rest = [], b""
    for start, end in itertools.pairwise(bounds):
        packets, rest = split_packets(rest + stream[start:end])
        got += [decode_publish(first, body) for first, body in packets]
    assert rest == b""
    assert got == [
        Publish(t.encode(), qos, pid if qos else 0, payload) for t, qos, pid, payload, _ in messages
    ]


@given(st.binary(max_size=300))
def test_garbage_is_refused_as_malformed_and_nothing_else(data: bytes) -> None:
    try:
        packets, _ = split_packets(data)
        for first, body in packets:
            decode_publish(first, body)
            topic_name(body[2:])
            decode_connack(body)
            decode_suback(body)
            decode_disconnect(body)
    except MalformedPacket:
        pass


@pytest.mark.parametrize(
    ("body", "first", "error"),
    [
        (b"\x00\x09a/b\x00", 0x30, "before its properties"),
        (b"\x00\x03a/b\x00\x00\x00", 0x32, "packet identifier 0"),
        (b"\x00\x03a/b\x00\x01\x00", 0x36, "QoS 3"),
        (b"\x00\x03a/b\x03\x23\x00\x01", 0x30, "topic alias"),
        (b"\x00\x03a/b\x02\x7f\x00", 0x30, "unknown property 0x7F"),
        (b"\x00\x03a/b\x04\x13\x00\x01\x13", 0x30, "cut short"),
        (b"\x00\x03a/b\x06\x13\x00\x01\x13\x00\x02", 0x30, "given twice"),
        (b"\x00\x03a/b\x06\x1f\x00\x09abc", 0x30, "string longer than"),
        (b"\x00\x03a/b\x06\x1f\x00\x03a\x00b", 0x30, "U\\+0000"),
        (b"\x00\x03a/b\x09\x1f\x00\x03abc", 0x30, "properties of 9 bytes in 6 left"),
        (b"\x00\x03a/b\x05\x1f\x00\x02\xff\xfe", 0x30, "not UTF-8"),
        (b"\x00\x00\x00", 0x30, "without a topic"),
    ],
)
def test_malformed_publishes_say_what_is_wrong(body: bytes, first: int, error: str) -> None:
    with pytest.raises(MalformedPacket, match=error):
        decode_publish(first, body)


def test_topic_names_must_be_utf8_without_wildcards() -> None:
    assert topic_name("plant/pump-1/é".encode()) == "plant/pump-1/é"
    for bad in (b"\xff", b"a/+", b"a/#", b"a\x00"):
        with pytest.raises(MalformedPacket):
            topic_name(bad)


def test_split_packets_keeps_a_partial_remaining_length() -> None:
    data = packet(0x30, b"\x00\x01a\x00" + bytes(200))
    assert split_packets(data[:2]) == ([], data[:2])  # the length's first byte says more follows
    assert split_packets(data) == ([(0x30, data[3:])], b"")
    with pytest.raises(MalformedPacket, match="longer than four bytes"):
        split_packets(b"\x30\xff\xff\xff\xff\x01")


def test_what_the_client_sends() -> None:
    connect = encode_connect(
        "agent-1",
        keepalive=30,
        clean_start=False,
        session_expiry=86_400,
        receive_maximum=1000,
        username="edge",
        password="s3cret",
    )
    ((first, body),) = split_packets(connect)[0]
    assert first == 0x10
    assert body[:8] == b"\x00\x04MQTT\x05\xc0"  # MQTT 5; username and password, no clean start
    assert body[8:10] == (30).to_bytes(2, "big")
    props, end = decode_properties(body, 10)
    assert props == {0x11: 86_400, 0x21: 1000}
    assert body[end:] == b"\x00\x07agent-1\x00\x04edge\x00\x06s3cret"
    assert (
        encode_subscribe(1, [("a/#", 1), ("b", 0)])
        == b"\x82\x0d\x00\x01\x00\x00\x03a/#\x01\x00\x01b\x00"
    )
    assert encode_puback(0x1234) == b"\x40\x02\x12\x34"
    assert decode_connack(connack(0x87, {0x1F: "no"})[2:]) == (False, 0x87, {0x1F: "no"})
