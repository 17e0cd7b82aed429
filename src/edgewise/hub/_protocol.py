"""The wire protocol, version 1 (``docs/protocol.md``): decoding and checking an ingest batch."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["PROTOCOL_VERSION", "Batch", "BatchError", "BatchTooLarge", "WireRecord", "decode"]

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
    """A checked batch: who sent it, its records, the commands it acknowledges (applied or
    refused), and why it refused those it refused."""

    agent: str
    records: list[WireRecord]
    acked_commands: list[int]
    refused_commands: dict[int, str]


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
    # PostgreSQL stores no U+0000 in text or JSONB: such a record would fail the transaction
    # on every retry. The byte search keeps the per-record look for the batches that need it.
    nul = b"\\u0000" in text
    for index, record in enumerate(envelope.records):
        try:
            checked = WireRecord.model_validate(record)
        except ValidationError as error:
            rejected.append({"index": index, "reason": _reason(error)})
            continue
        try:
            _BODIES[checked.kind].model_validate(checked.body)
        except ValidationError as error:
            rejected.append({"index": index, "reason": _reason(error, "body")})
            continue
        if nul and _holds_nul(record):
            rejected.append({"index": index, "reason": "a string holds U+0000, never stored"})
            continue
        records.append(checked)
    if rejected:
        raise BatchError(f"{len(rejected)} malformed record(s); nothing was stored", rejected)
    acked, refused = _acknowledged(envelope.acked_commands)
    return Batch(envelope.agent, records, acked, refused)


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
