"""Readings stored by column: one chunk per stream and batch, and their per-minute and per-hour
rollups (``docs/protocol.md``, "Storage").

A chunk holds a run of one stream's readings as packed arrays: sequence numbers (``int64``),
device and receive times, one ``float64`` column per input (``nan`` for ``null``), the highest
detection score and whether any raised an alarm; flags and detections, which most readings lack
or share, are kept whole beside the reading's index. It is stored as one MessagePack document.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

__all__ = ["ROLLUP_WIDTHS", "Readings", "Rollup", "pack", "rollups", "unpack"]

ROLLUP_WIDTHS = (60, 3600)
"""The rollups' bucket widths in seconds of device time: a minute and an hour."""

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


_MISSING = object()


@dataclass(slots=True)
class Readings:
    """The readings of one stream, column by column, in the order they came.

    ``values[input][i]`` is ``nan`` for a ``null``; ``absent[input]`` lists the readings that did
    not name that input at all. ``extras[i]`` holds reading ``i``'s flags and detections, when it
    has any, as they were sent; ``score`` and ``alarm`` what its detections say.

    >>> r = Readings.of("press-7", "pump-1", seq=[4, 5], timestamp=[10.0, 11.0],
    ...                 received=[None, 11.5], values=[{"temp": 21.5}, {"temp": None, "rpm": 9.0}],
    ...                 extras={1: {"flags": {"temp": "imputed"}}})
    >>> [record["body"] for record in r.records()][1]
    {'values': {'temp': None, 'rpm': 9.0}, 'flags': {'temp': 'imputed'}}
    """

    device: str
    stream: str
    seq: I64
    timestamp: F64
    received: F64
    values: dict[str, F64]
    absent: dict[str, list[int]]
    score: F64
    alarm: Bools
    extras: dict[int, dict[str, Any]]

    @classmethod
    def of(
        cls,
        device: str,
        stream: str,
        *,
        seq: Sequence[int],
        timestamp: Sequence[float],
        received: Sequence[float | None],
        values: Sequence[Mapping[str, float | None]],
        extras: dict[int, dict[str, Any]] | None = None,
        score: Sequence[float | None] | None = None,
        alarm: Sequence[bool] | None = None,
    ) -> Readings:
        """Readings from their fields, one item per reading (``None``: no value, no score)."""
        n = len(seq)
        columns: dict[str, F64] = {}
        absent: dict[str, list[int]] = {}
        keys = values[0].keys() if n else {}.keys()
        if all(v.keys() == keys for v in values):  # as good as always: one pass per input
            for name in keys:
                columns[name] = np.array([v[name] for v in values], dtype=np.float64)
        else:
            for name in dict.fromkeys(k for v in values for k in v):
                column = [v.get(name, _MISSING) for v in values]
                absent[name] = [i for i, x in enumerate(column) if x is _MISSING]
                columns[name] = np.array(
                    [None if x is _MISSING else x for x in column], dtype=np.float64
                )
        return cls(
            device,
            stream,
            np.array(seq, dtype=np.int64),
            np.array(timestamp, dtype=np.float64),
            np.array(received, dtype=np.float64),
            columns,
            {name: at for name, at in absent.items() if at},
            np.full(n, np.nan) if score is None else np.array(score, dtype=np.float64),
            np.zeros(n, dtype=np.bool_) if alarm is None else np.array(alarm, dtype=np.bool_),
            extras or {},
        )

    @classmethod
    def of_bodies(
        cls,
        device: str,
        stream: str,
        *,
        seq: Sequence[int],
        timestamp: Sequence[float],
        received: Sequence[float | None],
        bodies: Sequence[Mapping[str, Any]],
    ) -> Readings:
        """Readings from their bodies as sent (values, flags, detections) or as an older schema
        stored them (which may lack values)."""
        detections = [b.get("detections") or () for b in bodies]
        return cls.of(
            device,
            stream,
            seq=seq,
            timestamp=timestamp,
            received=received,
            values=[b.get("values", {}) for b in bodies],
            extras={
                i: extra
                for i, b in enumerate(bodies)
                if (extra := {k: v for k, v in b.items() if k != "values" and v})
            },
            score=[max((d["score"] for d in found), default=None) for found in detections],
            alarm=[any(d["alarm"] for d in found) for found in detections],
        )

    def __len__(self) -> int:
        return len(self.seq)

    def records(self) -> Iterator[dict[str, Any]]:
        """Each reading as the wire record it was (``received`` null where it was)."""
        absent = {name: set(at) for name, at in self.absent.items()}
        columns = {name: column.tolist() for name, column in self.values.items()}
        received = self.received.tolist()
        for i, (seq, t) in enumerate(zip(self.seq.tolist(), self.timestamp.tolist(), strict=True)):
            values = {
                name: (None if math.isnan(column[i]) else column[i])
                for name, column in columns.items()
                if i not in absent.get(name, ())
            }
            yield {
                "device": self.device,
                "stream": self.stream,
                "kind": "reading",
                "seq": seq,
                "name": "",
                "timestamp": t,
                "received": None if math.isnan(received[i]) else received[i],
                "body": {"values": values, **self.extras.get(i, {})},
            }

    def take(self, indices: npt.NDArray[np.intp]) -> Readings:
        """Only the readings at ``indices`` (ascending), renumbered from 0."""
        where = {old: new for new, old in enumerate(indices.tolist())}
        return Readings(
            self.device,
            self.stream,
            self.seq[indices],
            self.timestamp[indices],
            self.received[indices],
            {name: column[indices] for name, column in self.values.items()},
            {
                name: kept
                for name, at in self.absent.items()
                if (kept := [where[i] for i in at if i in where])
            },
            self.score[indices],
            self.alarm[indices],
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


def pack(readings: Readings) -> bytes:
    """``readings`` as the bytes of one chunk (:func:`unpack` reverses it)."""
    return _encoder.encode(
        _Packed(
            readings.seq.tobytes(),
            readings.timestamp.tobytes(),
            readings.received.tobytes(),
            {name: column.tobytes() for name, column in readings.values.items()},
            readings.absent,
            readings.score.tobytes(),
            readings.alarm.tobytes(),
            readings.extras,
        )
    )


def unpack(data: bytes, device: str = "", stream: str = "") -> Readings:
    """The readings of a chunk made by :func:`pack` (their arrays read-only).

    >>> r = Readings.of("d", "s", seq=[7], timestamp=[1.0], received=[None], values=[{"x": 2.0}])
    >>> c = unpack(pack(r), "d", "s")
    >>> c.seq.tolist(), c.values["x"].tolist(), list(c.records()) == list(r.records())
    ([7], [2.0], True)
    """
    p = _decoder.decode(data)
    return Readings(
        device,
        stream,
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

    >>> r = Readings.of("d", "s", seq=range(4), timestamp=[0.0, 30.0, 60.0, 90.0],
    ...                 received=[None] * 4, values=[{"x": x} for x in [1.0, 3.0, None, 8.0]])
    >>> [(u.width, u.start, u.count, u.total, u.low, u.high) for u in rollups(r)]
    [(60, 0.0, 2, 4.0, 1.0, 3.0), (60, 60.0, 1, 8.0, 8.0, 8.0), (3600, 0.0, 3, 12.0, 1.0, 8.0)]
    """
    t, score = readings.timestamp, readings.score
    alarm = readings.alarm.astype(np.int64)
    columns = readings.values
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
