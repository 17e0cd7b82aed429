"""Payloads to readings: plain JSON and CBOR, and SenML (RFC 8428) in JSON and CBOR.

``decode`` raises :class:`PayloadError` only when a message cannot be read at all (too big,
not JSON/CBOR, cut short, the wrong shape). A message that reads but holds bad records keeps
its good readings; each bad record becomes an error in :attr:`Decoded.errors`, for the agent
to count. ``docs/agent-input.md`` publishes the table of bad input.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

import cbor2
import orjson

from edgewise.stream import Reading

from ._inbound import Inbound

__all__ = ["DEFAULT_MAX_BYTES", "Decoded", "PayloadError", "PayloadKind", "decode"]

PayloadKind = Literal[
    "malformed",
    "truncated",
    "oversize",
    "nan",
    "wrong_type",
    "wrong_unit",
    "unknown_stream",
    "out_of_order",
    "bad_timestamp",
]
"""What is wrong with a payload: the closed set of kinds the agent counts bad input by."""

KINDS: tuple[PayloadKind, ...] = get_args(PayloadKind)

DEFAULT_MAX_BYTES = 1 << 20
"""The largest payload read (1 MiB); larger ones are refused before parsing."""

# RFC 8428: values below 2**28 are relative to now. Above year 3000 is a unit mistake
# (milliseconds since the epoch are ~1.7e12), not a time.
_RELATIVE_BELOW = 2.0**28
_LATEST = 32_503_680_000.0
_MAX_DEPTH = 64
_SENML_VERSION = 10
# RFC 8428 table 4: the integer labels of SenML fields in CBOR.
_LABELS = {
    -1: "bver",
    -2: "bn",
    -3: "bt",
    -4: "bu",
    -5: "bv",
    -6: "bs",
    0: "n",
    1: "u",
    2: "v",
    3: "vs",
    4: "vb",
    5: "s",
    6: "t",
    7: "ut",
    8: "vd",
}
_LABEL_NAMES = frozenset(_LABELS.values())
_VALUE_FIELDS = ("v", "vs", "vb", "vd")
_SEPARATORS = ":/.-_"


class PayloadError(ValueError):
    """A payload, or one record of it, that the agent cannot take.

    ``kind`` is one of :data:`PayloadKind`; ``reason`` says what is wrong in an operator's words;
    ``stream`` names the stream when it is known.

    >>> e = PayloadError("wrong_type", "value 'temp' is a string, not a number", stream="pump-1")
    >>> print(e)
    wrong_type: value 'temp' is a string, not a number (stream 'pump-1')
    >>> e.kind
    'wrong_type'
    """

    def __init__(self, kind: PayloadKind, reason: str, *, stream: str | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown payload error kind {kind!r}; one of {', '.join(KINDS)}")
        where = "" if stream is None else f" (stream {stream!r})"
        super().__init__(f"{kind}: {reason}{where}")
        self.kind: PayloadKind = kind
        self.reason = reason
        self.stream = stream


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one message held: its readings, their units, and the records that were bad.

    ``units[i]`` holds the units the message stated for the values of ``readings[i]`` (value
    name to unit; values stated without a unit are absent), so the gate can check them against
    the configured ones. ``errors`` holds one :class:`PayloadError` per record left out.
    """

    readings: list[Reading] = field(default_factory=list)
    units: list[dict[str, str]] = field(default_factory=list)
    errors: list[PayloadError] = field(default_factory=list)


def decode(
    inbound: Inbound, *, stream: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Decoded:
    """Decode the payload of ``inbound`` by its format into readings received at its time.

    ``stream`` names the stream of readings whose payload names none (the input derives it,
    from an MQTT topic or an HTTP path); a stream the payload names wins. Payloads over
    ``max_bytes`` are refused unread.

    >>> msg = Inbound("http", "/ingest", b'{"stream": "pump-1", "timestamp": 1.7e9, '
    ...               b'"values": {"temp": 21.5, "rpm": null}, "units": {"temp": "Cel"}}',
    ...               "json", received=1.7e9 + 0.2)
    >>> d = decode(msg)
    >>> d.readings
    [Reading(stream='pump-1', timestamp=1700000000.0, values={'temp': 21.5, 'rpm': nan}, ...)]
    >>> d.units, d.errors
    ([{'temp': 'Cel'}], [])
    >>> senml = b'[{"bn": "pump-1/", "bt": 1.7e9, "n": "temp", "u": "Cel", "v": 21.5}, '
    >>> senml += b'{"n": "rpm", "v": 1450}, {"n": "temp", "t": 10, "v": 21.7}]'
    >>> [(r.stream, r.timestamp, r.values) for r in decode(
    ...     Inbound("mqtt", "plant/pump-1", senml, "senml+json", received=1.7e9)).readings]
    [('pump-1', 1700000000.0, {'temp': 21.5, 'rpm': 1450.0}),
     ('pump-1', 1700000010.0, {'temp': 21.7})]
    >>> decode(Inbound("http", "/ingest", b'{"values": {"temp": 21', "json", 0.0))
    Traceback (most recent call last):
    ...
    edgewise.agent._decode.PayloadError: truncated: the JSON ends before it is complete
    """
    payload, received = inbound.payload, inbound.received
    if isinstance(payload, list):
        return Decoded(list(payload), [{} for _ in payload])
    if inbound.format not in ("json", "cbor", "senml+json", "senml+cbor"):
        raise PayloadError("malformed", f"unknown format {inbound.format!r}")
    if len(payload) > max_bytes:
        raise PayloadError("oversize", f"{len(payload)} bytes, over the limit of {max_bytes}")
    item = _parse_json(payload) if inbound.format.endswith("json") else _parse_cbor(payload)
    if inbound.format.startswith("senml"):
        return _senml(item, stream, received)
    return _plain(item, stream, received)


def _parse_json(payload: bytes) -> object:
    try:
        return orjson.loads(payload)  # 5-10x faster; refuses only what the slow path explains
    except orjson.JSONDecodeError:
        pass
    if not payload.strip():
        raise PayloadError("malformed", "the payload is empty")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data":
            raise PayloadError("truncated", "the payload ends inside a character") from None
        raise PayloadError("malformed", f"not UTF-8 text: {e.reason} at byte {e.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        # An error at the very end means the document was cut short, not mistyped.
        if e.pos >= len(text.rstrip()):
            raise PayloadError("truncated", "the JSON ends before it is complete") from None
        raise PayloadError(
            "malformed", f"not JSON: {e.msg} at line {e.lineno}, column {e.colno}"
        ) from None
    except RecursionError:
        raise PayloadError("malformed", "JSON nested too deeply") from None
    except ValueError as e:  # integers longer than Python converts
        raise PayloadError("malformed", f"not JSON: {e}") from None


def _parse_cbor(payload: bytes) -> object:
    fp = io.BytesIO(payload)
    try:
        item = cbor2.CBORDecoder(fp, max_depth=_MAX_DEPTH).decode()
    except cbor2.CBORDecodeEOF:
        raise PayloadError("truncated", "the CBOR ends before it is complete") from None
    except Exception as e:  # the decoder's tag handlers raise various types on hostile bytes
        raise PayloadError("malformed", f"not CBOR: {e}") from None
    if fp.tell() != len(payload):
        raise PayloadError("malformed", f"{len(payload) - fp.tell()} bytes after the CBOR item")
    return item


def _plain(item: object, stream: str | None, received: float) -> Decoded:
    if not isinstance(item, list | dict):
        raise PayloadError("wrong_type", f"expected a reading or a list of them, got {_type(item)}")
    items = item if isinstance(item, list) else [item]
    out = Decoded()
    for i, one in enumerate(items):
        try:
            reading, units = _plain_reading(one, stream, received)
        except PayloadError as e:
            out.errors.append(_at(e, i, len(items)))
        else:
            out.readings.append(reading)
            out.units.append(units)
    return out


def _plain_reading(
    item: object, default_stream: str | None, received: float
) -> tuple[Reading, dict[str, str]]:
    if not isinstance(item, dict):
        raise PayloadError("wrong_type", f"a reading is an object, got {_type(item)}")
    stream = _stream(item.get("stream", default_stream))
    raw_values = item.get("values")
    if not isinstance(raw_values, dict) or not raw_values:
        raise PayloadError(
            "wrong_type", f"'values' must be an object of named numbers, got {_type(raw_values)}",
            stream=stream,
        )  # fmt: skip
    values = {_name(k, stream): _number(v, k, stream) for k, v in raw_values.items()}
    raw_units = item.get("units", {})
    if not isinstance(raw_units, dict):
        raise PayloadError("wrong_type", f"'units' must be an object, got {_type(raw_units)}")
    units = {}
    for name, unit in raw_units.items():
        if not isinstance(unit, str):
            raise PayloadError("wrong_type", f"unit of {name!r} is {_type(unit)}", stream=stream)
        if name in values:
            units[name] = unit
    timestamp = _time(item["timestamp"], stream) if "timestamp" in item else received
    seq = item.get("seq")
    if seq is not None and (type(seq) is not int or seq < 0):
        raise PayloadError("wrong_type", f"'seq' must be a whole number >= 0, got {seq!r}")
    return Reading(stream, timestamp, values, seq=seq, received=received), units


def _senml(pack: object, default_stream: str | None, received: float) -> Decoded:
    if not isinstance(pack, list):
        raise PayloadError("wrong_type", f"a SenML pack is an array of records, not {_type(pack)}")
    base = _Base()
    groups: dict[tuple[str, float], tuple[dict[str, float], dict[str, str]]] = {}
    out = Decoded()
    broken: PayloadError | None = None
    for i, raw in enumerate(pack):
        try:
            if broken is not None:
                # Base fields carry over, so records after a bad one cannot be placed.
                raise PayloadError("malformed", f"follows a bad base field ({broken.reason})")
            record = _fields(raw)
            try:
                _update_base(base, record)
            except PayloadError as e:
                broken = e
                raise
            stream, time, name, value, unit = _resolve(record, base, default_stream, received)
            values, units = groups.setdefault((stream, time), ({}, {}))
            if name in values:
                raise PayloadError(
                    "malformed", f"value {name!r} repeated at time {time}", stream=stream
                )
            values[name] = value
            if unit is not None:
                units[name] = unit
        except PayloadError as e:
            out.errors.append(_at(e, i, len(pack)))
    for (stream, time), (values, units) in groups.items():
        out.readings.append(Reading(stream, time, values, received=received))
        out.units.append(units)
    return out


def _fields(raw: object) -> Mapping[str, object]:
    if type(raw) is dict and _LABEL_NAMES.issuperset(raw):
        return raw  # the common case: a JSON record of known fields, nothing to translate
    if not isinstance(raw, dict):
        raise PayloadError("wrong_type", f"a SenML record is an object, got {_type(raw)}")
    record = {}
    for key, value in raw.items():
        label = _LABELS.get(key, key) if type(key) is int else key
        if not isinstance(label, str):
            raise PayloadError("malformed", f"field label {key!r} is neither a name nor a number")
        if label.endswith("_"):  # RFC 8428: a must-understand extension edgewise lacks
            raise PayloadError("malformed", f"must-understand field {label!r} is not supported")
        record[label] = value
    return record


@dataclass(slots=True)
class _Base:
    """The base fields in force: each applies to its record and those after, until replaced."""

    bn: str = ""
    bt: float = 0.0
    bu: str | None = None
    bv: float = 0.0


def _update_base(base: _Base, record: Mapping[str, object]) -> None:
    if "bver" in record:
        version = record["bver"]
        if type(version) is not int or version > _SENML_VERSION:
            raise PayloadError("malformed", f"SenML version {version!r} is not {_SENML_VERSION}")
    if "bn" in record:
        base.bn = _text(record["bn"], "base name")
    if "bt" in record:
        base.bt = _finite(record["bt"], "base time", "bad_timestamp")
    if "bu" in record:
        base.bu = _text(record["bu"], "base unit")
    if "bv" in record:
        base.bv = _finite(record["bv"], "base value", "nan")


def _text(raw: object, what: str) -> str:
    if not isinstance(raw, str):
        raise PayloadError("wrong_type", f"{what} is {_type(raw)}, not a string")
    return raw


def _resolve(
    record: Mapping[str, object],
    base: _Base,
    default_stream: str | None,
    received: float,
) -> tuple[str, float, str, float, str | None]:
    bn = base.bn
    stream = _stream(bn[:-1] if bn[-1:] in _SEPARATORS else bn) if bn else _stream(default_stream)
    name = record.get("n", "")
    if not isinstance(name, str):
        raise PayloadError("wrong_type", f"name is {_type(name)}, not a string", stream=stream)
    name = _name(name or "value", stream)
    present = [f for f in _VALUE_FIELDS if f in record]
    if len(present) != 1:
        what = "several values (" + ", ".join(present) + ")" if present else "no value (v or vb)"
        raise PayloadError("malformed", f"record of {name!r} has {what}", stream=stream)
    if present[0] == "v":
        value = _number(record["v"], name, stream) + base.bv
    elif "vb" in record:
        if not isinstance(record["vb"], bool):
            raise PayloadError("wrong_type", f"vb of {name!r} is not a boolean", stream=stream)
        value = float(record["vb"])
    else:
        what = "string" if "vs" in record else "data"
        raise PayloadError(
            "wrong_type", f"{name!r} has a {what} value; edgewise reads numbers", stream=stream
        )
    time = base.bt + (_finite(record["t"], "time", "bad_timestamp") if "t" in record else 0.0)
    if time < _RELATIVE_BELOW:
        time += received
    unit = record.get("u", base.bu)
    if unit is not None and not isinstance(unit, str):
        raise PayloadError("wrong_type", f"unit of {name!r} is {_type(unit)}", stream=stream)
    return stream, _time(time, stream), name, value, unit


def _stream(raw: object) -> str:
    if raw is None:
        raise PayloadError("unknown_stream", "the payload names no stream and the input gives none")
    if not isinstance(raw, str) or not raw:
        raise PayloadError("wrong_type", f"the stream name must be a non-empty string, got {raw!r}")
    return raw


def _name(raw: object, stream: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise PayloadError("wrong_type", f"value name {raw!r} is not a name", stream=stream)
    return raw


def _number(raw: object, name: object, stream: str) -> float:
    """The value ``name`` as a float: null and nan are missing (nan), infinity is refused."""
    # nan (or null) is a missing value, which every step takes; infinity is no measurement.
    if type(raw) is float and raw - raw == 0.0:  # finite: the common case, checked first
        return raw
    if raw is None:
        return math.nan
    if not isinstance(raw, int | float):
        raise PayloadError(
            "wrong_type", f"value {name!r} is {_type(raw)}, not a number", stream=stream
        )
    try:
        value = float(raw)
    except OverflowError:
        value = math.inf
    if math.isinf(value):
        raise PayloadError("nan", f"value {name!r} is infinite", stream=stream)
    return value


def _finite(raw: object, what: str, kind: PayloadKind) -> float:
    if type(raw) is float and raw - raw == 0.0:  # the common case, checked first
        return raw
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        raise PayloadError("wrong_type", f"{what} is {_type(raw)}, not a number")
    try:
        value = float(raw)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise PayloadError(kind, f"{what} is {value}")
    return value


def _time(raw: object, stream: str) -> float:
    if type(raw) is float and 0.0 <= raw <= _LATEST:  # the common case, checked first
        return raw
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        raise PayloadError(
            "bad_timestamp", f"timestamp is {_type(raw)}, not epoch seconds", stream=stream
        )
    try:
        time = float(raw)
    except OverflowError:
        time = math.inf
    if not 0.0 <= time <= _LATEST:
        hint = " (milliseconds? edgewise takes seconds)" if _LATEST < time < _LATEST * 1e3 else ""
        raise PayloadError(
            "bad_timestamp", f"timestamp {raw!r} is not between 1970 and 3000{hint}", stream=stream
        )
    return time


def _type(raw: object) -> str:
    names = {str: "a string", bool: "a boolean", dict: "an object", list: "an array"}
    if raw is None:
        return "null"
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return "a number"
    return names.get(type(raw), type(raw).__name__)


def _at(error: PayloadError, index: int, count: int) -> PayloadError:
    """``error`` with the record's place in its message, when the message had several."""
    if count == 1:
        return error
    return PayloadError(error.kind, f"record {index}: {error.reason}", stream=error.stream)
