"""Readings stored by column: one chunk per stream and batch, and their per-minute and per-hour
rollups (``docs/protocol.md``, "Storage").

A chunk holds a run of one stream's readings as packed arrays: sequence numbers (``int64``),
device and receive times, one ``float64`` column per input (``nan`` for ``null``), the highest
detection score and whether any raised an alarm; flags and detections, which most readings lack
or share, are kept whole beside the reading's index. It is stored as one MessagePack document.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

__all__ = ["ROLLUP_WIDTHS", "Readings", "Rollup", "pack", "rollups", "unpack"]

ROLLUP_WIDTHS = (60, 3600)
"""The rollups' bucket widths in seconds of device time: a minute and an hour."""

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class Readings:
    """The readings of one stream, column by column, in the order they came.

    ``values[input][i]`` is ``nan`` for a ``null``; ``absent[input]`` lists the readings that did
    not name that input at all. ``extras[i]`` holds reading ``i``'s flags and detections, when it
    has any, as they were sent.

    >>> r = Readings("press-7", "pump-1")
    >>> r.add(4, 10.0, None, {"temp": 21.5})
    >>> r.add(5, 11.0, 11.5, {"temp": None, "rpm": 900.0}, {"flags": {"temp": "imputed"}})
    >>> [record["body"] for record in r.records()]
    [{'values': {'temp': 21.5}}, {'values': {'temp': None, 'rpm': 900.0}, 'flags': {'temp': 'imputed'}}]
    """

    device: str
    stream: str
    seq: list[int] = field(default_factory=list)
    timestamp: list[float] = field(default_factory=list)
    received: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    absent: dict[str, list[int]] = field(default_factory=dict)
    score: list[float] = field(default_factory=list)
    alarm: list[bool] = field(default_factory=list)
    extras: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.seq)

    def add(
        self,
        seq: int,
        timestamp: float,
        received: float | None,
        values: Mapping[str, float | None],
        extra: dict[str, Any] | None = None,
        score: float | None = None,
        alarm: bool = False,
    ) -> None:
        """Append one reading; ``extra`` is its ``flags`` and ``detections``, when it has any,
        and ``score``/``alarm`` what its detections say."""
        index = len(self.seq)
        self.seq.append(seq)
        self.timestamp.append(timestamp)
        self.received.append(math.nan if received is None else received)
        columns = self.values
        for name, value in values.items():
            column = columns.get(name)
            if column is None:
                # An input first named now: absent from every reading before.
                column = columns[name] = [math.nan] * index
                if index:
                    self.absent[name] = list(range(index))
            column.append(math.nan if value is None else value)
        if len(values) != len(columns):
            for name, column in columns.items():
                if len(column) == index:
                    column.append(math.nan)
                    self.absent.setdefault(name, []).append(index)
        self.score.append(math.nan if score is None else score)
        self.alarm.append(alarm)
        if extra:
            self.extras[index] = extra

    def add_body(self, seq: int, timestamp: float, received: float | None, body: Any) -> None:
        """Append one reading from its body as sent (values, flags, detections) or as an older
        schema stored it (which may lack values)."""
        detections = body.get("detections") or []
        scores = [d["score"] for d in detections]
        extra = {k: v for k, v in body.items() if k != "values" and v}
        self.add(
            seq,
            timestamp,
            received,
            body.get("values", {}),
            extra,
            max(scores) if scores else None,
            any(d["alarm"] for d in detections),
        )

    def records(self) -> Iterator[dict[str, Any]]:
        """Each reading as the wire record it was (``received`` null where it was)."""
        absent = {name: set(at) for name, at in self.absent.items()}
        for i, seq in enumerate(self.seq):
            values = {
                name: (None if math.isnan(column[i]) else column[i])
                for name, column in self.values.items()
                if i not in absent.get(name, ())
            }
            received = self.received[i]
            yield {
                "device": self.device,
                "stream": self.stream,
                "kind": "reading",
                "seq": seq,
                "name": "",
                "timestamp": self.timestamp[i],
                "received": None if math.isnan(received) else received,
                "body": {"values": values, **self.extras.get(i, {})},
            }

    def keep(self, indices: Iterable[int]) -> Readings:
        """Only the readings at ``indices`` (ascending), renumbered from 0."""
        chosen = list(indices)
        where = {old: new for new, old in enumerate(chosen)}
        return Readings(
            self.device,
            self.stream,
            [self.seq[i] for i in chosen],
            [self.timestamp[i] for i in chosen],
            [self.received[i] for i in chosen],
            {name: [column[i] for i in chosen] for name, column in self.values.items()},
            {
                name: kept
                for name, at in self.absent.items()
                if (kept := [where[i] for i in at if i in where])
            },
            [self.score[i] for i in chosen],
            [self.alarm[i] for i in chosen],
            {where[i]: extra for i, extra in self.extras.items() if i in where},
        )


class _Packed(msgspec.Struct, array_like=True):
    seq: bytes
    timestamp: bytes
    received: bytes
    values: dict[str, bytes]
    absent: dict[str, list[int]]
    score: bytes
    alarm: bytes
    extras: dict[int, dict[str, Any]]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Packed)


def _f64(values: list[float]) -> bytes:
    return np.asarray(values, dtype=np.float64).tobytes()


def pack(readings: Readings) -> bytes:
    """``readings`` as the bytes of one chunk (:func:`unpack` reverses it)."""
    return _encoder.encode(
        _Packed(
            np.asarray(readings.seq, dtype=np.int64).tobytes(),
            _f64(readings.timestamp),
            _f64(readings.received),
            {name: _f64(column) for name, column in readings.values.items()},
            readings.absent,
            _f64(readings.score),
            np.asarray(readings.alarm, dtype=np.bool_).tobytes(),
            readings.extras,
        )
    )


@dataclass(frozen=True, slots=True)
class Columns:
    """A chunk's arrays, as :func:`unpack` reads them."""

    seq: I64
    timestamp: F64
    received: F64
    values: dict[str, F64]
    absent: dict[str, list[int]]
    score: F64
    alarm: npt.NDArray[np.bool_]
    extras: dict[int, dict[str, Any]]

    def readings(self, device: str, stream: str) -> Readings:
        """The chunk as :class:`Readings` again."""
        return Readings(
            device,
            stream,
            self.seq.tolist(),
            self.timestamp.tolist(),
            self.received.tolist(),
            {name: column.tolist() for name, column in self.values.items()},
            self.absent,
            self.score.tolist(),
            self.alarm.tolist(),
            self.extras,
        )


def unpack(data: bytes) -> Columns:
    """The arrays of a chunk made by :func:`pack`.

    >>> r = Readings("d", "s")
    >>> r.add(7, 1.0, None, {"x": 2.0})
    >>> c = unpack(pack(r))
    >>> c.seq.tolist(), c.values["x"].tolist(), list(c.readings("d", "s").records()) == list(r.records())
    ([7], [2.0], True)
    """
    p = _decoder.decode(data)
    return Columns(
        np.frombuffer(p.seq, dtype=np.int64),
        np.frombuffer(p.timestamp, dtype=np.float64),
        np.frombuffer(p.received, dtype=np.float64),
        {name: np.frombuffer(column, dtype=np.float64) for name, column in p.values.items()},
        p.absent,
        np.frombuffer(p.score, dtype=np.float64),
        np.frombuffer(p.alarm, dtype=np.bool_),
        p.extras,
    )


class Rollup(msgspec.Struct, frozen=True):
    """One input's readings in one bucket of one stream: count of values (nulls not counted),
    their sum, lowest and highest; the highest detection score (None if none) and the alarms."""

    width: int
    start: float
    input: str
    count: int
    total: float
    low: float
    high: float
    score: float | None
    alarms: int


def rollups(readings: Readings) -> list[Rollup]:
    """Per-minute and per-hour rollups of each input of ``readings``.

    >>> r = Readings("d", "s")
    >>> for i, x in enumerate([1.0, 3.0, None, 8.0]):
    ...     r.add(i, 30.0 * i, None, {"x": x}, score=0.1 * i)
    >>> [(u.width, u.start, u.count, u.total, u.low, u.high) for u in rollups(r)]
    [(60, 0.0, 2, 4.0, 1.0, 3.0), (60, 60.0, 1, 8.0, 8.0, 8.0), (3600, 0.0, 3, 12.0, 1.0, 8.0)]
    """
    t = np.asarray(readings.timestamp, dtype=np.float64)
    score = np.asarray(readings.score, dtype=np.float64)
    alarm = np.asarray(readings.alarm, dtype=np.int64)
    columns = {name: np.asarray(c, dtype=np.float64) for name, c in readings.values.items()}
    out: list[Rollup] = []
    for width in ROLLUP_WIDTHS:
        bucket = np.floor(t / width)
        order = np.argsort(bucket, kind="stable")
        starts, first = np.unique(bucket[order], return_index=True)
        top = np.fmax.reduceat(score[order], first)
        alarms = np.add.reduceat(alarm[order], first)
        for name, column in columns.items():
            x = column[order]
            present = ~np.isnan(x)
            counts = np.add.reduceat(present.astype(np.int64), first)
            totals = np.add.reduceat(np.where(present, x, 0.0), first)
            lows = np.fmin.reduceat(x, first)
            highs = np.fmax.reduceat(x, first)
            for j in np.flatnonzero(counts).tolist():
                out.append(
                    Rollup(
                        width,
                        float(starts[j]) * width,
                        name,
                        int(counts[j]),
                        float(totals[j]),
                        float(lows[j]),
                        float(highs[j]),
                        None if math.isnan(top[j]) else float(top[j]),
                        int(alarms[j]),
                    )
                )
    return out
