"""The wire protocol, version 1 (``docs/protocol.md``): decoding and checking an ingest batch."""

from __future__ import annotations

import json
import sys
import zlib
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._chunks import Readings

__all__ = [
    "PROTOCOL_VERSION",
    "Batch",
    "BatchError",
    "BatchTooLarge",
    "RecordError",
    "WireRecord",
    "check_record",
    "decode",
    "split_readings",
]

PROTOCOL_VERSION = 1
_INT64 = 2**63 - 1

Name = Annotated[str, Field(min_length=1, max_length=200)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Strict(BaseModel):
    # Strict: a seq of "41" or 41.0 is a bug in the sender, not something to coerce.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Detection(_Strict):
    stream: str
    seq: int | None
    timestamp: Finite
    score: Finite
    is_anomaly: bool
    alarm: bool
    explanation: str | None
    detector: str
    model_version: str
    events: list[str]


class _ReadingBody(_Strict):
    values: dict[str, Finite | None]
    flags: dict[str, str] = Field(default_factory=dict)
    detections: list[_Detection] = Field(default_factory=list)


class _InputSummary(_Strict):
    min: Finite
    mean: Finite
    max: Finite
    count: int = Field(ge=0)


class _SummaryBody(_Strict):
    window_s: Finite = Field(gt=0)
    inputs: dict[str, _InputSummary]
    max_score: Finite
    abnormal: int = Field(ge=0)


class _EventBody(_Strict):
    score: Finite
    explanation: str | None
    detector: str
    model_version: str


class _HeartbeatBody(_Strict):
    pass


_BODIES: dict[str, type[_Strict]] = {
    "reading": _ReadingBody,
    "summary": _SummaryBody,
    "event": _EventBody,
    "heartbeat": _HeartbeatBody,
}


class WireRecord(_Strict):
    """One record of a batch; ``body`` is checked against the schema of its ``kind``."""

    device: Name
    stream: Name
    kind: Literal["reading", "summary", "event", "heartbeat"]
    seq: int = Field(ge=0, le=_INT64)
    name: str = Field(max_length=200)
    timestamp: Finite
    received: Finite | None
    body: dict[str, Any]

    @model_validator(mode="after")
    def _consistent(self) -> WireRecord:
        if (self.kind == "event") != (self.name != ""):
            raise ValueError("an event has a name (such as 'alarm'); other kinds have name ''")
        return self


class _Envelope(_Strict):
    version: Literal[1]
    agent: Name
    records: list[Any]
    acked_commands: list[Any] = Field(default_factory=list)  # checked by _acknowledged


@dataclass(frozen=True, slots=True)
class Batch:
    """A checked batch: who sent it, its readings (one run per stream, by column), its other
    records, the commands it acknowledges (applied or refused), and why it refused those it
    refused."""

    agent: str
    records: list[WireRecord]
    acked_commands: list[int]
    refused_commands: dict[int, str]
    readings: list[Readings] = field(default_factory=list)

    @property
    def size(self) -> int:
        """How many records the batch holds, readings included."""
        return len(self.records) + sum(len(run) for run in self.readings)

    @property
    def devices(self) -> set[str]:
        """The devices the batch has records of."""
        return {r.device for r in self.records} | {run.device for run in self.readings}


def split_readings(records: list[WireRecord]) -> tuple[list[WireRecord], list[Readings]]:
    """``records`` but the readings, and the readings as one run per stream, in order."""
    others: list[WireRecord] = []
    streams: dict[tuple[str, str], list[WireRecord]] = {}
    for r in records:
        if r.kind == "reading":
            streams.setdefault((r.device, r.stream), []).append(r)
        else:
            others.append(r)
    runs = [
        Readings.of_bodies(
            device,
            stream,
            seq=[r.seq for r in rs],
            timestamp=[r.timestamp for r in rs],
            received=[r.received for r in rs],
            bodies=[r.body for r in rs],
        )
        for (device, stream), rs in streams.items()
    ]
    return others, runs


# The fast decoder: the same checks as the pydantic models above, by msgspec, in C, straight
# into typed objects; readings go to columns without a dict per record. Any batch it refuses
# is decoded again by the models, whose messages name each bad record (``decode``).
_FLOAT_MAX = sys.float_info.max
_FFinite = Annotated[float, msgspec.Meta(ge=-_FLOAT_MAX, le=_FLOAT_MAX)]
_FName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class _FStrict(msgspec.Struct, forbid_unknown_fields=True):
    pass


class _FDetection(_FStrict):
    stream: str
    seq: int | None
    timestamp: _FFinite
    score: _FFinite
    is_anomaly: bool
    alarm: bool
    explanation: str | None
    detector: str
    model_version: str
    events: list[str]


class _FReadingBody(_FStrict):
    values: dict[str, _FFinite | None]
    flags: dict[str, str] = {}
    detections: list[_FDetection] = []


class _FInputSummary(_FStrict):
    min: _FFinite
    mean: _FFinite
    max: _FFinite
    count: Annotated[int, msgspec.Meta(ge=0)]


class _FSummaryBody(_FStrict):
    window_s: Annotated[float, msgspec.Meta(gt=0, le=_FLOAT_MAX)]
    inputs: dict[str, _FInputSummary]
    max_score: _FFinite
    abnormal: Annotated[int, msgspec.Meta(ge=0)]


class _FEventBody(_FStrict):
    score: _FFinite
    explanation: str | None
    detector: str
    model_version: str


class _FHeartbeatBody(_FStrict):
    pass


class _FRecord(_FStrict, tag_field="kind"):
    device: _FName
    stream: _FName
    seq: Annotated[int, msgspec.Meta(ge=0, le=_INT64)]
    name: Annotated[str, msgspec.Meta(max_length=200)]
    timestamp: _FFinite
    received: _FFinite | None


class _FReading(_FRecord, tag="reading"):
    body: _FReadingBody


class _FSummary(_FRecord, tag="summary"):
    body: _FSummaryBody


class _FEvent(_FRecord, tag="event"):
    body: _FEventBody


class _FHeartbeat(_FRecord, tag="heartbeat"):
    body: _FHeartbeatBody


class _FEnvelope(_FStrict):
    version: Literal[1]
    agent: _FName
    records: list[_FReading | _FSummary | _FEvent | _FHeartbeat]
    acked_commands: list[Any] = []


_fast = msgspec.json.Decoder(_FEnvelope)


def _decode_fast(text: bytes) -> Batch | None:
    """The batch in ``text`` if every part of it is valid, else None."""
    try:
        envelope = _fast.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    others: list[WireRecord] = []
    streams: dict[tuple[str, str], list[_FReading]] = {}
    for r in envelope.records:
        if (type(r) is _FEvent) != (r.name != ""):
            return None
        if type(r) is _FReading:
            streams.setdefault((r.device, r.stream), []).append(r)
            continue
        others.append(
            WireRecord.model_construct(
                device=r.device, stream=r.stream, kind=r.__struct_config__.tag, seq=r.seq,
                name=r.name, timestamp=r.timestamp, received=r.received,
                body=msgspec.to_builtins(r.body),
            )
        )  # fmt: skip
    return Batch(
        envelope.agent,
        others,
        *_acknowledged(envelope.acked_commands),  # as the models would: the records are valid
        [_columns(device, stream, rs) for (device, stream), rs in streams.items()],
    )


def _columns(device: str, stream: str, rs: list[_FReading]) -> Readings:
    """One stream's readings by column: a list comprehension per field, no object per reading."""
    bodies = [r.body for r in rs]
    marked = [i for i, b in enumerate(bodies) if b.detections or b.flags]
    extras = {
        i: {k: v for k, v in (("flags", b.flags), ("detections", b.detections)) if v}
        for i, b in ((i, bodies[i]) for i in marked)
    }
    scored = any(bodies[i].detections for i in marked)
    return Readings.of(
        device,
        stream,
        seq=[r.seq for r in rs],
        timestamp=[r.timestamp for r in rs],
        received=[r.received for r in rs],
        values=[b.values for b in bodies],
        extras=extras,
        score=[max((d.score for d in b.detections), default=None) for b in bodies]
        if scored
        else None,
        alarm=[any(d.alarm for d in b.detections) for b in bodies] if scored else None,
    )


class BatchError(ValueError):
    """A malformed batch: ``rejected`` names each bad record by index with the reason."""

    def __init__(self, message: str, rejected: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.rejected = rejected or []


class BatchTooLarge(ValueError):
    """The batch is larger than the hub accepts once decompressed."""


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not JSON; send null for a missing value")


def _reason(error: ValidationError, prefix: str = "") -> str:
    first = error.errors()[0]
    where = ".".join(
        [prefix, *(str(p) for p in first["loc"])] if prefix else map(str, first["loc"])
    )
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


class RecordError(ValueError):
    """One record the hub will never store; the message says why."""


def check_record(record: Any, *, may_hold_nul: bool = True) -> WireRecord:
    """``record`` (parsed JSON) checked: its fields, its body against its kind, no U+0000.

    ``may_hold_nul=False`` skips the look for U+0000 when the caller knows there is none.

    >>> check_record({"device": "d", "stream": "s", "kind": "heartbeat", "seq": 1, "name": "",
    ...               "timestamp": 0.0, "received": None, "body": {}}).seq
    1
    >>> check_record({"device": "d", "stream": "s", "kind": "reading", "seq": 1, "name": "",
    ...               "timestamp": 0.0, "received": None, "body": {}})
    Traceback (most recent call last):
    ...
    edgewise.hub._protocol.RecordError: body.values: Field required
    """
    try:
        checked = WireRecord.model_validate(record)
    except ValidationError as error:
        raise RecordError(_reason(error)) from None
    try:
        _BODIES[checked.kind].model_validate(checked.body)
    except ValidationError as error:
        raise RecordError(_reason(error, "body")) from None
    # PostgreSQL stores no U+0000 in text or JSONB: such a record would fail the transaction
    # on every retry.
    if may_hold_nul and _holds_nul(record):
        raise RecordError("a string holds U+0000, never stored")
    return checked


def decode(raw: bytes, *, encoding: str, max_bytes: int) -> Batch:
    """Decompress (gzip or identity), parse and check a batch of at most ``max_bytes``.

    >>> b = decode(b'{"version": 1, "agent": "press-7", "records": []}', encoding="",
    ...            max_bytes=1024)
    >>> b.agent, b.records, b.acked_commands
    ('press-7', [], [])
    >>> decode(b'{"version": 2}', encoding="", max_bytes=1024)
    Traceback (most recent call last):
    ...
    edgewise.hub._protocol.BatchError: version: Input should be 1
    """
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            # Bounded, so a small bomb cannot expand into gigabytes before it is refused.
            text = inflate.decompress(raw, max_bytes + 1)
        except zlib.error as error:
            raise BatchError(f"the body is not valid gzip: {error}") from None
        if len(text) > max_bytes or inflate.unconsumed_tail:
            raise BatchTooLarge(f"the batch is larger than {max_bytes} bytes decompressed")
        if not inflate.eof:
            raise BatchError("the body is truncated gzip")
        if inflate.unused_data:
            raise BatchError("the body has data after its gzip stream")
    elif encoding in ("", "identity"):
        if len(raw) > max_bytes:
            raise BatchTooLarge(f"the batch is larger than {max_bytes} bytes")
        text = raw
    else:
        raise BatchError(f"unsupported Content-Encoding {encoding!r}: use gzip or identity")
    # PostgreSQL stores no U+0000: a batch that may hold one takes the checks that find it.
    nul = b"\\u0000" in text
    fast = None if nul else _decode_fast(text)
    if fast is not None:
        return fast
    try:
        document = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as error:
        raise BatchError(f"the body is not JSON: {error}") from None
    try:
        envelope = _Envelope.model_validate(document)
    except ValidationError as error:
        raise BatchError(_reason(error)) from None
    records: list[WireRecord] = []
    rejected: list[dict[str, Any]] = []
    for index, record in enumerate(envelope.records):
        try:
            records.append(check_record(record, may_hold_nul=nul))
        except RecordError as error:
            rejected.append({"index": index, "reason": str(error)})
    if rejected:
        raise BatchError(f"{len(rejected)} malformed record(s); nothing was stored", rejected)
    acked, refused = _acknowledged(envelope.acked_commands)
    others, readings = split_readings(records)
    return Batch(envelope.agent, others, acked, refused, readings)


def _acknowledged(items: list[Any]) -> tuple[list[int], dict[int, str]]:
    """The ids of ``acked_commands`` and the reasons of those refused."""
    acked: list[int] = []
    refused: dict[int, str] = {}
    for index, item in enumerate(items):
        ident, error = (
            (item.get("id"), item.get("error")) if isinstance(item, dict) else (item, None)
        )
        if not (
            type(ident) is int
            and 0 <= ident <= _INT64
            and (not isinstance(item, dict) or set(item) == {"id", "error"})
            and (error is None or (isinstance(error, str) and 0 < len(error) <= 2000))
        ):
            raise BatchError(
                f"acked_commands[{index}]: a command id, or "
                '{"id": <id>, "error": "<why the agent refused it, 1 to 2000 characters>"}'
            )
        acked.append(ident)
        if error is not None:
            refused[ident] = error
    return acked, refused
