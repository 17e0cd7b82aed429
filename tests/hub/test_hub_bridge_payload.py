"""What a device may publish to the bridge, and the record the hub makes of it."""

from __future__ import annotations

import pytest

from edgewise.hub import RecordKey
from edgewise.hub._jetstream import msg_id
from edgewise.hub._protocol import RecordError
from edgewise.hub.scaleout import MAX_PAYLOAD_BYTES, parse_reading

TOPIC = "edgewise/devices/meter-12/readings/power"


def test_a_reading_with_its_own_seq_keeps_it_and_its_flags() -> None:
    payload = b'{"seq": 7, "timestamp": 1700000000.5, "values": {"kw": null}, "flags": {"kw": "x"}}'
    record = parse_reading(topic=TOPIC, payload=payload, received=1700000001.0)
    assert (record.device, record.stream, record.kind, record.seq, record.name) == (
        "meter-12",
        "power",
        "reading",
        7,
        "",
    )
    assert record.timestamp == 1700000000.5 and record.received == 1700000001.0
    assert record.body == {"values": {"kw": None}, "flags": {"kw": "x"}}


def test_a_copy_without_seq_has_the_same_key_and_message_id() -> None:
    payload = b'{"timestamp": 1700000000.123456, "values": {"kw": 1.0}}'
    first = parse_reading(topic=TOPIC, payload=payload, received=1.0)
    again = parse_reading(topic=TOPIC, payload=payload, received=2.0)  # sent again, later
    assert first.seq == again.seq == 1700000000123456

    def key(r: object) -> RecordKey:
        return RecordKey(*(getattr(r, f) for f in RecordKey._fields))

    assert msg_id(key(first)) == msg_id(key(again))


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("edgewise/devices/m/events/power", b'{"timestamp": 1, "values": {}}', "is not edgewise"),
        ("edgewise/devices/m/readings/p/x", b'{"timestamp": 1, "values": {}}', "is not edgewise"),
        ("edgewise/devices//readings/p", b'{"timestamp": 1, "values": {}}', "device"),
        (TOPIC, b"[1, 2]", "not a JSON object"),
        (TOPIC, b'{"timestamp": NaN, "values": {}}', "not JSON"),
        (TOPIC, b'{"timestamp": 1, "values": {"kw": Infinity}}', "not JSON"),
        (TOPIC, b'{"timestamp": 1, "values": {}, "unit": "kW"}', "unknown field(s) unit"),
        (TOPIC, b'{"values": {"kw": 1}}', "timestamp: Field required"),
        (TOPIC, b'{"timestamp": -1, "values": {}}', "a number >= 0"),
        (TOPIC, b'{"timestamp": true, "values": {}}', "a number >= 0"),
        (TOPIC, b'{"seq": -1, "timestamp": 1.0, "values": {}}', "seq"),
        (TOPIC, b'{"seq": "1", "timestamp": 1.0, "values": {}}', "seq"),
        (TOPIC, b'{"timestamp": 1.0}', "body.values: Field required"),
        (TOPIC, b'{"timestamp": 1.0, "values": {"kw": "high"}}', "body.values.kw"),
        (TOPIC, b'{"timestamp": 1.0, "values": {"k\\u0000w": 1}}', "U+0000"),
        (TOPIC, b" " * (MAX_PAYLOAD_BYTES + 1), f"more than {MAX_PAYLOAD_BYTES}"),
    ],
)
def test_what_the_hub_will_never_store_is_refused_with_its_reason(
    topic: str, payload: bytes, reason: str
) -> None:
    with pytest.raises(RecordError) as refused:
        parse_reading(topic=topic, payload=payload, received=0.0)
    assert reason in str(refused.value)
