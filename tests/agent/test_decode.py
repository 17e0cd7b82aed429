"""Decoding payloads: round trips of every format, hostile bytes, truncations, SenML rules."""

from __future__ import annotations

import json
import math
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgewise.agent import DEFAULT_MAX_BYTES, Inbound, PayloadError, decode
from edgewise.agent._decode import KINDS
from edgewise.stream import Reading

FORMATS = ["json", "cbor", "senml+json", "senml+cbor"]
# Fixed seeds: the same examples on every run.
SETTINGS = settings(
    derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
NOW = 1_700_000_100.0

names = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
values = st.floats(allow_infinity=False, width=64) | st.integers(-(2**53), 2**53).map(float)
timestamps = st.floats(2.0**28, 32_503_680_000.0)


@st.composite
def messages(draw: st.DrawFn) -> tuple[list[Reading], list[dict[str, str]]]:
    """Readings with distinct (stream, time), and the units stated for some of their values."""
    count = draw(st.integers(1, 5))
    keys = draw(st.lists(st.tuples(names, timestamps), min_size=count, max_size=count, unique=True))
    readings, units = [], []
    for stream, timestamp in keys:
        vals = draw(st.dictionaries(names, values, min_size=1, max_size=4))
        readings.append(Reading(stream, timestamp, vals, received=NOW))
        units.append({n: draw(names) for n in vals if draw(st.booleans())})
    return readings, units


def plain(readings: list[Reading], units: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [
        {"stream": r.stream, "timestamp": r.timestamp, "values": r.values, "units": u}
        for r, u in zip(readings, units, strict=True)
    ]


def senml(readings: list[Reading], units: list[dict[str, str]], *, labels: bool) -> list[Any]:
    records: list[dict[Any, Any]] = []
    for r, u in zip(readings, units, strict=True):
        for i, (name, value) in enumerate(r.values.items()):
            record: dict[str, Any] = {"n": name, "t": r.timestamp, "v": value}
            if i == 0:
                record["bn"] = r.stream + "/"
            if name in u:
                record["u"] = u[name]
            records.append(record)
    if labels:  # RFC 8428 table 4
        codes = {"bn": -2, "n": 0, "u": 1, "v": 2, "t": 6}
        return [{codes[k]: v for k, v in rec.items()} for rec in records]
    return records


def encode(fmt: str, readings: list[Reading], units: list[dict[str, str]]) -> bytes:
    if fmt == "json":
        return json.dumps(plain(readings, units)).encode()
    if fmt == "cbor":
        return cbor2.dumps(plain(readings, units))
    if fmt == "senml+json":
        return json.dumps(senml(readings, units, labels=False)).encode()
    return cbor2.dumps(senml(readings, units, labels=True))


def same(a: Reading, b: Reading) -> bool:
    def key(r: Reading) -> tuple[Any, ...]:
        return (
            r.stream,
            r.timestamp,
            r.seq,
            r.received,
            [(k, repr(v)) for k, v in r.values.items()],
        )

    return key(a) == key(b)


def message(payload: bytes, fmt: str, received: float = NOW) -> Inbound:
    return Inbound("test", "t", payload, fmt, received)


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(msg=messages())
def test_round_trip(fmt: str, msg: tuple[list[Reading], list[dict[str, str]]]) -> None:
    readings, units = msg
    decoded = decode(message(encode(fmt, readings, units), fmt))
    assert decoded.errors == []
    assert len(decoded.readings) == len(readings)
    assert all(same(a, b) for a, b in zip(decoded.readings, readings, strict=True))
    assert decoded.units == units


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(payload=st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_payload_errors(fmt: str, payload: bytes) -> None:
    try:
        decoded = decode(message(payload, fmt))
    except PayloadError as e:
        assert e.kind in KINDS
    else:
        assert all(isinstance(r, Reading) for r in decoded.readings)


json_items = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["stream", "timestamp", "values", "units", "seq", "bn", "n", "v", "t"])
            | st.text(max_size=3),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(item=json_items)
def test_arbitrary_documents_raise_only_payload_errors(fmt: str, item: Any) -> None:
    payload = json.dumps(item).encode() if fmt.endswith("json") else cbor2.dumps(item)
    try:
        decoded = decode(message(payload, fmt), stream="fallback")
    except PayloadError as e:
        assert e.kind in KINDS
    else:
        for reading in decoded.readings:
            assert reading.values and all(not math.isinf(v) for v in reading.values.values())
        assert all(e.kind in KINDS for e in decoded.errors)


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(msg=messages(), data=st.data())
def test_truncations_raise_or_decode_a_prefix(
    fmt: str, msg: tuple[list[Reading], list[dict[str, str]]], data: st.DataObject
) -> None:
    payload = encode(fmt, *msg)
    cut = data.draw(st.integers(0, len(payload) - 1))
    try:
        decoded = decode(message(payload[:cut], fmt))
    except PayloadError as e:
        assert e.kind in ("truncated", "malformed")
    else:  # pragma: no cover - JSON and CBOR prefixes of one document never parse
        assert all(any(same(r, o) for o in msg[0]) for r in decoded.readings)


def test_truncated_is_told_from_malformed() -> None:
    with pytest.raises(PayloadError) as cut:
        decode(message(b'[{"stream": "a", "values": {"x": 1', "json"))
    assert cut.value.kind == "truncated"
    with pytest.raises(PayloadError) as cut:
        decode(message(cbor2.dumps({"stream": "a", "values": {"x": 1.5}})[:-3], "cbor"))
    assert cut.value.kind == "truncated"
    with pytest.raises(PayloadError) as bad:
        decode(message(b'{"stream": "a", "values": {"x": 1}}}', "json"))
    assert bad.value.kind == "malformed"
    with pytest.raises(PayloadError) as trailing:
        decode(message(cbor2.dumps({"stream": "a", "values": {"x": 1.5}}) + b"\x01", "cbor"))
    assert trailing.value.kind == "malformed"
    assert "after the CBOR item" in trailing.value.reason


def test_oversize_is_refused_before_parsing() -> None:
    payload = b"not even json " * 100
    with pytest.raises(PayloadError) as e:
        decode(message(payload, "json"), max_bytes=len(payload) - 1)
    assert e.value.kind == "oversize"
    assert len(payload) <= DEFAULT_MAX_BYTES  # the same bytes under the limit are parsed
    with pytest.raises(PayloadError) as parsed:
        decode(message(payload, "json"))
    assert parsed.value.kind == "malformed"


def test_plain_stream_from_the_input_seq_and_defaults() -> None:
    payload = json.dumps([{"values": {"temp": 1}, "seq": 7}, {"stream": "own", "values": {"x": 2}}])
    decoded = decode(message(payload.encode(), "json", received=123.0), stream="from-topic")
    first, second = decoded.readings
    assert (first.stream, first.seq, first.timestamp, first.received) == (
        "from-topic",
        7,
        123.0,
        123.0,
    )
    assert second.stream == "own"
    with pytest.raises(PayloadError, match="unknown format"):
        decode(message(b"{}", "xml"))


def test_readings_pass_through() -> None:
    readings = [Reading("a", 1.0, {"x": 1.0})]
    decoded = decode(Inbound("sim", "a", readings, "readings", 2.0))
    assert decoded.readings == readings
    assert decoded.units == [{}]


def test_one_bad_reading_leaves_the_good_ones() -> None:
    payload = json.dumps(
        [
            {"stream": "a", "timestamp": 1.7e9, "values": {"x": 1}},
            {"stream": "a", "timestamp": 1.7e9 + 1, "values": {"x": "high"}},
            {"stream": "a", "timestamp": 1.7e9 + 2, "values": {"x": 3}},
        ]
    )
    decoded = decode(message(payload.encode(), "json"))
    assert [r.values["x"] for r in decoded.readings] == [1.0, 3.0]
    assert [(e.kind, e.reason) for e in decoded.errors] == [
        ("wrong_type", "record 1: value 'x' is a string, not a number")
    ]


def test_nan_and_null_are_missing_infinity_is_refused() -> None:
    payload = b'{"stream": "a", "values": {"x": NaN, "y": null, "z": 1}}'
    (reading,) = decode(message(payload, "json")).readings
    assert math.isnan(reading.values["x"]) and math.isnan(reading.values["y"])
    decoded = decode(message(b'{"stream": "a", "values": {"x": Infinity}}', "json"))
    assert decoded.readings == []
    assert [e.kind for e in decoded.errors] == ["nan"]


def test_booleans_are_one_and_zero() -> None:
    (reading,) = decode(message(b'{"stream": "a", "values": {"open": true}}', "json")).readings
    assert reading.values == {"open": 1.0}
    senml_pack = b'[{"bn": "door-1:", "n": "open", "vb": false}]'
    (reading,) = decode(message(senml_pack, "senml+json")).readings
    assert reading.values == {"open": 0.0}


def test_milliseconds_are_a_bad_timestamp_with_a_hint() -> None:
    decoded = decode(message(b'{"stream": "a", "timestamp": 1.7e12, "values": {"x": 1}}', "json"))
    (error,) = decoded.errors
    assert error.kind == "bad_timestamp"
    assert "milliseconds?" in error.reason


# RFC 8428, section 5.1.2: multiple data points, one record set in CBOR too.
RFC_PACK = [
    {"bn": "urn:dev:ow:10e2073a01080063:", "n": "voltage", "u": "V", "v": 120.1},
    {"n": "current", "u": "A", "v": 1.2},
]


def test_senml_rfc_example_and_integer_labels() -> None:
    expected = Reading("urn:dev:ow:10e2073a01080063", NOW, {"voltage": 120.1, "current": 1.2})
    for fmt, payload in [
        ("senml+json", json.dumps(RFC_PACK).encode()),
        ("senml+cbor", cbor2.dumps([{-2: RFC_PACK[0]["bn"], 0: "voltage", 1: "V", 2: 120.1},
                                    {0: "current", 1: "A", 2: 1.2}])),
    ]:  # fmt: skip
        decoded = decode(message(payload, fmt))
        assert [r.values for r in decoded.readings] == [expected.values]
        assert decoded.readings[0].stream == expected.stream
        assert decoded.readings[0].timestamp == NOW  # no time: "roughly now"
        assert decoded.units == [{"voltage": "V", "current": "A"}]


def test_senml_base_fields_and_relative_times() -> None:
    pack = [
        {"bn": "pump-1/", "bt": -10, "bu": "Cel", "bv": 20, "n": "temp", "v": 1.5},
        {"n": "temp", "t": 5, "v": 2},
        {"bn": "pump-2", "bt": 1.7e9, "n": "temp", "u": "K", "v": 0},
    ]
    decoded = decode(message(json.dumps(pack).encode(), "senml+json"))
    assert [(r.stream, r.timestamp, r.values) for r in decoded.readings] == [
        ("pump-1", NOW - 10, {"temp": 21.5}),
        ("pump-1", NOW - 5, {"temp": 22.0}),
        ("pump-2", 1.7e9, {"temp": 20.0}),
    ]
    assert decoded.units == [{"temp": "Cel"}, {"temp": "Cel"}, {"temp": "K"}]


def test_senml_without_base_name_takes_the_input_stream() -> None:
    pack = b'[{"n": "temp", "v": 1}]'
    (reading,) = decode(message(pack, "senml+json"), stream="topic-stream").readings
    assert reading.stream == "topic-stream"
    decoded = decode(message(pack, "senml+json"))
    assert [e.kind for e in decoded.errors] == ["unknown_stream"]


@pytest.mark.parametrize(
    ("record", "kind", "words"),
    [
        ({"n": "label", "vs": "on"}, "wrong_type", "string value"),
        ({"n": "blob", "vd": "AAE"}, "wrong_type", "data value"),
        ({"n": "x", "v": 1, "vb": True}, "malformed", "several values"),
        ({"n": "x", "s": 4}, "malformed", "no value"),
        ({"n": "x", "v": 1, "ext_": 1}, "malformed", "must-understand"),
        ({"n": "x", "v": "1"}, "wrong_type", "not a number"),
        ({"n": "x", "vb": 1}, "wrong_type", "not a boolean"),
        ({"n": "x", "v": 1, "t": "now"}, "wrong_type", "time is a string"),
        ({"n": "x", "v": 1, "u": 3}, "wrong_type", "unit of 'x'"),
    ],
)
def test_senml_bad_records_are_left_out(record: dict[str, Any], kind: str, words: str) -> None:
    pack = [{"bn": "dev:", "n": "good", "v": 1}, record]
    decoded = decode(message(json.dumps(pack).encode(), "senml+json"))
    assert [r.values for r in decoded.readings] == [{"good": 1.0}]
    (error,) = decoded.errors
    assert error.kind == kind
    assert words in error.reason


def test_senml_bad_base_field_leaves_out_the_rest_of_the_pack() -> None:
    pack = [{"bn": "a:", "n": "x", "v": 1}, {"bn": 5, "n": "y", "v": 2}, {"n": "z", "v": 3}]
    decoded = decode(message(json.dumps(pack).encode(), "senml+json"))
    assert [r.values for r in decoded.readings] == [{"x": 1.0}]
    assert [e.kind for e in decoded.errors] == ["wrong_type", "malformed"]
    assert "follows a bad base field" in decoded.errors[1].reason


def test_senml_repeated_value_and_newer_version() -> None:
    pack = [{"bn": "a:", "n": "x", "v": 1}, {"n": "x", "v": 2}]
    decoded = decode(message(json.dumps(pack).encode(), "senml+json"))
    assert [r.values for r in decoded.readings] == [{"x": 1.0}]
    assert "repeated" in decoded.errors[0].reason
    decoded = decode(message(b'[{"bver": 11, "bn": "a:", "n": "x", "v": 1}]', "senml+json"))
    assert decoded.readings == [] and decoded.errors[0].kind == "malformed"


def test_payload_error_kinds_are_closed() -> None:
    with pytest.raises(ValueError, match="unknown payload error kind"):
        PayloadError("bogus", "x")  # type: ignore[arg-type]
