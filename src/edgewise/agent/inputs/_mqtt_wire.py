"""The MQTT 5 wire format, as far as a subscriber needs it: pure functions on bytes, no I/O.

Encoders for what the client sends (CONNECT, SUBSCRIBE, PUBACK, PINGREQ, DISCONNECT) and decoders
for what a broker sends (CONNACK, PUBLISH, SUBACK, PINGRESP, DISCONNECT). Anything a broker sends
that breaks the specification raises :class:`MalformedPacket`, whose message says what was wrong;
the client logs it and reconnects.

>>> packets, rest = split_packets(encode_puback(7) + bytes([0x30, 5, 0, 1]))
>>> packets, rest
([(64, b'\\x00\\x07')], b'0\\x05\\x00\\x01')
>>> decode_publish(0x32, b"\\x00\\x03a/b\\x00\\x07\\x00hi")
Publish(topic=b'a/b', qos=1, packet_id=7, payload=b'hi')
"""

from __future__ import annotations

import struct
from typing import NamedTuple

__all__ = [
    "CONNACK",
    "DISCONNECT",
    "PINGREQ",
    "PINGRESP",
    "PUBLISH",
    "REASONS",
    "SUBACK",
    "Connack",
    "MalformedPacket",
    "Properties",
    "Publish",
    "decode_connack",
    "decode_disconnect",
    "decode_properties",
    "decode_publish",
    "decode_suback",
    "decode_varint",
    "encode_connect",
    "encode_disconnect",
    "encode_properties",
    "encode_puback",
    "encode_subscribe",
    "encode_varint",
    "reason_name",
    "split_packets",
    "topic_name",
]

# Control packet types (the high nibble of the first byte).
CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
PINGRESP, DISCONNECT = 13, 14
PINGREQ = b"\xc0\x00"

MAX_VARINT = 268_435_455  # four bytes of seven bits: the largest remaining length

REASONS = {
    0x00: "Success",
    0x01: "Granted QoS 1",
    0x02: "Granted QoS 2",
    0x04: "Disconnect with Will Message",
    0x80: "Unspecified error",
    0x81: "Malformed Packet",
    0x82: "Protocol Error",
    0x83: "Implementation specific error",
    0x84: "Unsupported Protocol Version",
    0x85: "Client Identifier not valid",
    0x86: "Bad User Name or Password",
    0x87: "Not authorized",
    0x88: "Server unavailable",
    0x89: "Server busy",
    0x8A: "Banned",
    0x8B: "Server shutting down",
    0x8C: "Bad authentication method",
    0x8D: "Keep Alive timeout",
    0x8E: "Session taken over",
    0x8F: "Topic Filter invalid",
    0x90: "Topic Name invalid",
    0x91: "Packet Identifier in use",
    0x93: "Receive Maximum exceeded",
    0x94: "Topic Alias invalid",
    0x95: "Packet too large",
    0x96: "Message rate too high",
    0x97: "Quota exceeded",
    0x98: "Administrative action",
    0x99: "Payload format invalid",
    0x9A: "Retain not supported",
    0x9B: "QoS not supported",
    0x9C: "Use another server",
    0x9D: "Server moved",
    0x9E: "Shared Subscriptions not supported",
    0x9F: "Connection rate exceeded",
    0xA0: "Maximum connect time",
    0xA1: "Subscription Identifiers not supported",
    0xA2: "Wildcard Subscriptions not supported",
}


def reason_name(code: int) -> str:
    """``"Not authorized (0x87)"``: a reason code as the specification names it."""
    return f"{REASONS.get(code, 'unknown reason')} (0x{code:02X})"


class MalformedPacket(ValueError):
    """A packet from the broker that breaks MQTT 5; the message says how."""


# -- variable byte integers ----------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """A Variable Byte Integer: seven bits a byte, least significant first."""
    if not 0 <= value <= MAX_VARINT:
        raise ValueError(f"{value} does not fit a variable byte integer")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def decode_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """The integer at ``buf[pos:end]`` and the position after it."""
    value = shift = 0
    for i in range(pos, min(pos + 4, end)):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    if end - pos >= 4:
        raise MalformedPacket("a variable byte integer longer than four bytes")
    raise MalformedPacket("a variable byte integer cut short")


# -- framing -------------------------------------------------------------------------------------


def split_packets(buf: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete packets at the start of ``buf`` as (first byte, body), and the rest.

    The rest is the start of a packet still arriving; call again with more bytes after it.
    """
    packets: list[tuple[int, bytes]] = []
    pos, n = 0, len(buf)
    while n - pos >= 2:
        # The remaining length, inlined: this loop runs once per message.
        length = shift = 0
        i = pos + 1
        while True:
            if i == n:
                return packets, buf[pos:]
            byte = buf[i]
            length |= (byte & 0x7F) << shift
            i += 1
            if not byte & 0x80:
                break
            shift += 7
            if shift == 28:
                raise MalformedPacket("a remaining length longer than four bytes")
        if n - i < length:
            break
        packets.append((buf[pos], buf[i : i + length]))
        pos = i + length
    return packets, buf[pos:]


# -- properties ----------------------------------------------------------------------------------

_BYTE, _TWO, _FOUR, _VARINT, _STRING, _BINARY, _PAIR = range(7)
_PROPERTY_TYPES = {
    0x01: _BYTE,  # Payload Format Indicator
    0x02: _FOUR,  # Message Expiry Interval
    0x03: _STRING,  # Content Type
    0x08: _STRING,  # Response Topic
    0x09: _BINARY,  # Correlation Data
    0x0B: _VARINT,  # Subscription Identifier
    0x11: _FOUR,  # Session Expiry Interval
    0x12: _STRING,  # Assigned Client Identifier
    0x13: _TWO,  # Server Keep Alive
    0x15: _STRING,  # Authentication Method
    0x16: _BINARY,  # Authentication Data
    0x17: _BYTE,  # Request Problem Information
    0x18: _FOUR,  # Will Delay Interval
    0x19: _BYTE,  # Request Response Information
    0x1A: _STRING,  # Response Information
    0x1C: _STRING,  # Server Reference
    0x1F: _STRING,  # Reason String
    0x21: _TWO,  # Receive Maximum
    0x22: _TWO,  # Topic Alias Maximum
    0x23: _TWO,  # Topic Alias
    0x24: _BYTE,  # Maximum QoS
    0x25: _BYTE,  # Retain Available
    0x26: _PAIR,  # User Property
    0x27: _FOUR,  # Maximum Packet Size
    0x28: _BYTE,  # Wildcard Subscription Available
    0x29: _BYTE,  # Subscription Identifier Available
    0x2A: _BYTE,  # Shared Subscription Available
}
_REPEATABLE = {0x0B, 0x26}  # may appear more than once: kept as lists
SESSION_EXPIRY, SERVER_KEEP_ALIVE, REASON_STRING = 0x11, 0x13, 0x1F
RECEIVE_MAXIMUM, TOPIC_ALIAS = 0x21, 0x23

PropertyValue = int | str | bytes | tuple[str, str]
Properties = dict[int, PropertyValue | list[PropertyValue]]


def _string(buf: bytes, pos: int, end: int) -> tuple[str, int]:
    if end - pos < 2:
        raise MalformedPacket("a string length cut short")
    stop = pos + 2 + (buf[pos] << 8 | buf[pos + 1])
    if stop > end:
        raise MalformedPacket("a string longer than its packet")
    try:
        text = buf[pos + 2 : stop].decode()
    except UnicodeDecodeError as error:
        raise MalformedPacket(f"a string that is not UTF-8: {error}") from None
    if "\x00" in text:
        raise MalformedPacket("a string holding U+0000")
    return text, stop


def decode_properties(buf: bytes, pos: int) -> tuple[Properties, int]:
    """The properties (length first) at ``buf[pos:]`` and the position after them."""
    length, pos = decode_varint(buf, pos, len(buf))
    end = pos + length
    if end > len(buf):
        raise MalformedPacket(f"properties of {length} bytes in {len(buf) - pos} left")
    props: Properties = {}
    while pos < end:
        key, pos = decode_varint(buf, pos, end)
        kind = _PROPERTY_TYPES.get(key)
        value: PropertyValue
        if kind is None:
            raise MalformedPacket(f"unknown property 0x{key:02X}")
        if kind == _STRING:
            value, pos = _string(buf, pos, end)
        elif kind == _VARINT:
            value, pos = decode_varint(buf, pos, end)
        elif kind == _PAIR:
            name, pos = _string(buf, pos, end)
            text, pos = _string(buf, pos, end)
            value = (name, text)
        elif kind == _BINARY:
            if end - pos < 2:
                raise MalformedPacket("a binary length cut short")
            stop = pos + 2 + (buf[pos] << 8 | buf[pos + 1])
            if stop > end:
                raise MalformedPacket("binary data longer than its properties")
            value, pos = buf[pos + 2 : stop], stop
        else:
            size = (1, 2, 4)[kind]
            if end - pos < size:
                raise MalformedPacket(f"property 0x{key:02X} cut short")
            value, pos = int.from_bytes(buf[pos : pos + size], "big"), pos + size
        if key in _REPEATABLE:
            listed = props.setdefault(key, [])
            assert isinstance(listed, list)
            listed.append(value)
        elif key in props:
            raise MalformedPacket(f"property 0x{key:02X} given twice")
        else:
            props[key] = value
    return props, end


def encode_properties(props: Properties) -> bytes:
    """Properties with their length first; repeatable ones given as lists."""
    out = bytearray()
    for key, given in props.items():
        kind = _PROPERTY_TYPES[key]
        for value in given if isinstance(given, list) else [given]:
            out += encode_varint(key)
            if kind == _STRING:
                assert isinstance(value, str)
                out += _encode_string(value)
            elif kind == _VARINT:
                assert isinstance(value, int)
                out += encode_varint(value)
            elif kind == _PAIR:
                assert isinstance(value, tuple)
                out += _encode_string(value[0]) + _encode_string(value[1])
            elif kind == _BINARY:
                assert isinstance(value, bytes)
                out += len(value).to_bytes(2, "big") + value
            else:
                assert isinstance(value, int)
                out += value.to_bytes((1, 2, 4)[kind], "big")
    return encode_varint(len(out)) + out


def _encode_string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    if len(data) > 0xFFFF:
        raise ValueError(f"a string of {len(data)} bytes is longer than MQTT allows (65,535)")
    return len(data).to_bytes(2, "big") + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + encode_varint(len(body)) + body


# -- what the client sends -----------------------------------------------------------------------


def encode_connect(
    client_id: str,
    *,
    keepalive: int,
    clean_start: bool,
    session_expiry: int,
    receive_maximum: int,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """CONNECT, MQTT 5, without a will."""
    flags = (0x02 if clean_start else 0) | (0x80 if username is not None else 0)
    flags |= 0x40 if password is not None else 0
    props = encode_properties({SESSION_EXPIRY: session_expiry, RECEIVE_MAXIMUM: receive_maximum})
    body = _encode_string("MQTT") + bytes((5, flags)) + keepalive.to_bytes(2, "big") + props
    body += _encode_string(client_id)
    if username is not None:
        body += _encode_string(username)
    if password is not None:
        body += _encode_string(password)
    return _packet(CONNECT << 4, body)


def encode_subscribe(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    """SUBSCRIBE to each (topic filter, maximum QoS)."""
    body = packet_id.to_bytes(2, "big") + b"\x00"
    for topic, qos in filters:
        body += _encode_string(topic) + bytes((qos,))
    return _packet(SUBSCRIBE << 4 | 0x02, body)


def encode_puback(packet_id: int) -> bytes:
    """PUBACK, success: reason code and properties left out, as MQTT 5 allows."""
    return struct.pack(">BBH", PUBACK << 4, 2, packet_id)


def encode_disconnect(reason: int = 0) -> bytes:
    """DISCONNECT; a normal one keeps the session for its expiry interval."""
    return b"\xe0\x00" if reason == 0 else bytes((DISCONNECT << 4, 1, reason))


# -- what a broker sends -------------------------------------------------------------------------


class Connack(NamedTuple):
    session_present: bool
    reason: int
    properties: Properties


class Publish(NamedTuple):
    topic: bytes
    qos: int
    packet_id: int
    payload: bytes


def decode_connack(body: bytes) -> Connack:
    """CONNACK: session present, reason code, properties."""
    if len(body) < 2:
        raise MalformedPacket(f"a CONNACK of {len(body)} bytes")
    if body[0] & 0xFE:
        raise MalformedPacket(f"CONNACK flags 0x{body[0]:02X}")
    props, end = decode_properties(body, 2) if len(body) > 2 else ({}, 2)
    if end != len(body):
        raise MalformedPacket("bytes after the CONNACK's properties")
    return Connack(bool(body[0] & 1), body[1], props)


def decode_publish(first: int, body: bytes) -> Publish:
    """PUBLISH; its properties are checked and skipped (no topic alias: we allow none)."""
    qos = first >> 1 & 3
    n = len(body)
    if n < 2:
        raise MalformedPacket(f"a PUBLISH of {n} bytes")
    pos = 2 + (body[0] << 8 | body[1])
    if qos:
        if qos == 3:
            raise MalformedPacket("a PUBLISH with QoS 3")
        if n < pos + 2:
            raise MalformedPacket("a PUBLISH cut short before its packet identifier")
        packet_id = body[pos] << 8 | body[pos + 1]
        if not packet_id:
            raise MalformedPacket("a PUBLISH with packet identifier 0")
        pos += 2
    else:
        packet_id = 0
    if n <= pos:
        raise MalformedPacket("a PUBLISH cut short before its properties")
    if body[pos]:
        props, pos = decode_properties(body, pos)
        if TOPIC_ALIAS in props:
            raise MalformedPacket("a topic alias, though we allow none")
    else:
        pos += 1
    topic = body[2 : 2 + (body[0] << 8 | body[1])]
    if not topic:
        raise MalformedPacket("a PUBLISH without a topic")
    return Publish(topic, qos, packet_id, body[pos:])


def topic_name(raw: bytes) -> str:
    """A PUBLISH's topic as text; MQTT requires UTF-8 without U+0000 or wildcards."""
    try:
        topic = raw.decode()
    except UnicodeDecodeError as error:
        raise MalformedPacket(f"a topic that is not UTF-8: {error}") from None
    if "\x00" in topic or "+" in topic or "#" in topic:
        raise MalformedPacket(f"a topic name with U+0000 or a wildcard: {topic!r}")
    return topic


def decode_suback(body: bytes) -> tuple[int, list[int], Properties]:
    """SUBACK: packet identifier, one reason code per filter, properties."""
    if len(body) < 3:
        raise MalformedPacket(f"a SUBACK of {len(body)} bytes")
    props, pos = decode_properties(body, 2)
    return body[0] << 8 | body[1], list(body[pos:]), props


def decode_disconnect(body: bytes) -> tuple[int, Properties]:
    """DISCONNECT from the broker: reason code (0 when left out) and properties."""
    if not body:
        return 0, {}
    props, end = decode_properties(body, 1) if len(body) > 1 else ({}, 1)
    if end != len(body):
        raise MalformedPacket("bytes after the DISCONNECT's properties")
    return body[0], props
