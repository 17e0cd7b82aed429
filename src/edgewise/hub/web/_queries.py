"""What the dashboard reads from the hub's database: the fleet, and chart points of one device."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.orm import Session

from .._chunks import ROLLUP_WIDTHS, unpack
from .._models import Command, Device, ReadingChunk, ReadingRollup, ReadingStream, StoredRecord

__all__ = [
    "STALE_AFTER_S",
    "Cursor",
    "DeviceRow",
    "Points",
    "device_exists",
    "fleet",
    "history",
    "parse_cursor",
    "stored",
]

STALE_AFTER_S = 300.0
"""A device whose last record arrived longer ago than this is shown stale."""

_HISTORY_READINGS = 3000
_HISTORY_EVENTS = 200
_LIVE_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """One device of the fleet overview; times in epoch seconds (hub time)."""

    name: str
    created: float
    revoked: bool
    last_seen: float | None
    streams: int

    def health(self, now: float) -> str:
        """``revoked``, ``silent`` (nothing stored yet), ``stale`` or ``live``.

        >>> row = DeviceRow("press-7", 0.0, False, 1000.0, 1)
        >>> row.health(1100.0), row.health(2000.0)
        ('live', 'stale')
        """
        if self.revoked:
            return "revoked"
        if self.last_seen is None:
            return "silent"
        return "stale" if now - self.last_seen > STALE_AFTER_S else "live"


# (device, stream) pairs by a loose index scan of the records' key: one index seek per pair,
# where a GROUP BY or DISTINCT reads every record (7 s for 1,000,000 on SQLite).
_PAIRS = """
WITH RECURSIVE pairs(device, stream) AS (
    SELECT d.name, (SELECT min(r.stream) FROM records r WHERE r.device = d.name)
    FROM devices d {where}
    UNION ALL
    SELECT p.device,
           (SELECT min(r.stream) FROM records r WHERE r.device = p.device AND r.stream > p.stream)
    FROM pairs p WHERE p.stream IS NOT NULL
)
"""
_STREAMS = sa.text(
    _PAIRS.format(where="WHERE d.name = :device")
    + "SELECT stream FROM pairs WHERE stream IS NOT NULL ORDER BY stream"
)
# Then, per pair and kind, the newest record by seq, one more seek each: summaries and
# heartbeats show a device alive, as readings do (those are counted in ``reading_streams``).
_LAST_SEEN = sa.text(
    _PAIRS.format(where="")
    + """
SELECT p.device, k.kind,
       (SELECT r.stored_at FROM records r
        WHERE r.device = p.device AND r.stream = p.stream AND r.kind = k.kind
        ORDER BY r.seq DESC LIMIT 1)
FROM pairs p, (SELECT 'summary' AS kind UNION ALL SELECT 'heartbeat') k
WHERE p.stream IS NOT NULL
"""
)


def fleet(s: Session) -> list[DeviceRow]:
    """Every device with when it was last heard from and how many streams it sends."""
    if s.get_bind().dialect.name == "postgresql":
        # The planner prices the recursive scan far above its cost and JIT-compiles it:
        # 50 ms of compiling for a 3 ms query.
        s.execute(sa.text("SET LOCAL jit = off"))
    seen: dict[str, list[float]] = {}
    for device, _kind, stored_at in s.execute(_LAST_SEEN):
        if stored_at is not None:
            seen.setdefault(device, []).append(stored_at)
    rs = ReadingStream
    streams: dict[str, int] = {}
    for device, count, stored_at in s.execute(
        sa.select(rs.device, sa.func.count(), sa.func.max(rs.stored_at)).group_by(rs.device)
    ):
        streams[device] = count
        seen.setdefault(device, []).append(stored_at)
    rows = s.execute(
        sa.select(Device.name, Device.created, Device.revoked).order_by(Device.name)
    ).all()
    return [
        DeviceRow(
            name,
            created,
            revoked is not None,
            max(seen[name]) if name in seen else None,
            streams.get(name, 0),
        )
        for name, created, revoked in rows
    ]


def device_exists(s: Session, name: str) -> bool:
    """Whether the hub knows a device called ``name``."""
    return s.scalar(sa.select(Device.id).where(Device.name == name)) is not None


Cursor = tuple[int, int]
"""Where a page's live feed is: the last record id (events) and the last chunk id (readings)."""


def parse_cursor(text: str) -> Cursor:
    """A cursor from its text, ``"<record id>.<chunk id>"`` (:meth:`Points.to_json`).

    >>> parse_cursor("12.3")
    (12, 3)
    >>> parse_cursor("12")
    Traceback (most recent call last):
    ...
    ValueError: a cursor is '<record id>.<chunk id>', such as '12.3'
    """
    record, dot, chunk = text.partition(".")
    if not (dot and record.isdigit() and chunk.isdigit() and len(text) < 40):
        raise ValueError("a cursor is '<record id>.<chunk id>', such as '12.3'")
    return int(record), int(chunk)


F64 = npt.NDArray[np.float64]


def _listed(x: F64) -> list[float | None]:
    """``x`` as a JSON-ready list, ``nan`` as None."""
    out: list[float | None] = x.tolist()
    for i in np.flatnonzero(np.isnan(x)).tolist():
        out[i] = None
    return out


def _column(values: list[Any]) -> F64:
    return np.array(values, dtype=np.float64)  # None becomes nan


class Points:
    """Chart points of one device, as the page's script takes them (``to_json``).

    Per stream: a point id for each (a reading's seq; negative for a rollup's bucket), device
    times ``t``, each input's values, the highest detection score and whether any detection
    raised an alarm; and the events. The cursor lets a live page ask for what is newer.
    """

    def __init__(self) -> None:
        self._streams: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.cursor: Cursor = (0, 0)

    def add_columns(
        self,
        stream: str,
        ids: list[int],
        t: F64,
        values: dict[str, F64],
        score: F64,
        alarm: npt.NDArray[np.bool_],
    ) -> None:
        """Add points of ``stream`` given by column (``nan`` for no value or no score)."""
        into = self._streams.setdefault(
            stream, {"id": [], "t": [], "values": {}, "score": [], "alarm": []}
        )
        n = len(into["t"])
        into["id"].extend(ids)
        into["t"].extend(t.tolist())
        for name, column in values.items():
            # An input first seen now has no values for the points before.
            into["values"].setdefault(name, [None] * n).extend(_listed(column))
        for column in into["values"].values():
            column.extend([None] * (n + len(ids) - len(column)))
        into["score"].extend(_listed(score))
        into["alarm"].extend(alarm.tolist())

    def add_events(self, rows: Iterable[sa.Row[int, str, str, float, Any]]) -> Points:
        """Add events (an alarm, its end, an accepted change, a relearn) from rows of
        (id, stream, name, timestamp, body)."""
        for record_id, stream, name, t, body in rows:
            self._events.append(
                {
                    "id": record_id,
                    "stream": stream,
                    "name": name,
                    "t": t,
                    "score": body.get("score"),
                    "explanation": body.get("explanation"),
                }
            )
            self.cursor = (max(self.cursor[0], record_id), self.cursor[1])
        return self

    def downsampled(self, points: int) -> Points:
        """At most about ``points`` per stream: the mean of each bucket's values and its highest
        score, so an anomaly never disappears from a long history.

        >>> p = Points()
        >>> x = np.arange(10.0)
        >>> p.add_columns("s", list(range(10)), x, {"x": x}, x * np.nan, x > 8)
        >>> p.downsampled(5).to_json()["streams"]["s"]["values"]["x"]
        [0.5, 2.5, 4.5, 6.5, 8.5]
        """
        out = Points()
        out._events, out.pipelines, out.cursor = self._events, self.pipelines, self.cursor
        for name, series in self._streams.items():
            n = len(series["t"])
            if n <= points:
                out._streams[name] = series
                continue
            first = np.arange(0, n, math.ceil(n / points))
            last = np.append(first[1:], n) - 1

            def mean(values: list[Any], first: npt.NDArray[np.intp] = first) -> F64:
                x = _column(values)
                present = ~np.isnan(x)
                counts = np.add.reduceat(present.astype(np.int64), first)
                sums = np.add.reduceat(np.where(present, x, 0.0), first)
                return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

            out.add_columns(
                name,
                np.array(series["id"])[last].tolist(),
                mean(series["t"]),
                {key: mean(values) for key, values in series["values"].items()},
                np.fmax.reduceat(_column(series["score"]), first),
                np.logical_or.reduceat(np.array(series["alarm"], dtype=np.bool_), first),
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """``{"streams": {stream: {"id", "t", "values": {input: [...]}, "score", "alarm"}},
        "events": [...], "pipelines": {stream: {"steps", "applied"}}, "cursor": "r.c"}``."""
        return {
            "streams": self._streams,
            "events": self._events,
            "pipelines": self.pipelines,
            "cursor": f"{self.cursor[0]}.{self.cursor[1]}",
        }


_COLUMNS = (
    StoredRecord.id,
    StoredRecord.stream,
    StoredRecord.name,
    StoredRecord.timestamp,
    StoredRecord.body,
)


def pipelines(s: Session, device: str, streams: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The pipeline an operator last assigned to each of ``streams`` of ``device``: its steps,
    and when its agent applied it (None while pending)."""
    assigned = s.execute(
        sa.select(Command.body, Command.delivered)
        .join(Device, Device.id == Command.device_id)
        .where(Device.name == device, Command.kind == "pipeline")
        .order_by(Command.id.desc())
    ).all()
    found: dict[str, dict[str, Any]] = {}
    for stream in streams:
        for body, delivered in assigned:
            if fnmatch.fnmatchcase(stream, body["streams"]):
                steps = [step.get("step", "?") for step in body["spec"].get("steps", ())]
                found[stream] = {"steps": steps, "applied": delivered}
                break
    return found


_RAW_MOST = 20_000
"""The most readings a ranged chart reads raw; a longer range reads rollups."""
_BUCKETS_MOST = 3000
"""The most minute buckets a ranged chart reads; a longer range reads hours."""


def _chunk_points(
    found: Points, stream: str, chunks: Iterable[bytes], *, since: float = -math.inf, most: int = 0
) -> None:
    """Add the readings of ``chunks`` at or after device time ``since`` in seq order (only the
    ``most`` highest seqs, if given)."""
    columns = [unpack(data) for data in chunks]
    if not columns:
        return
    seq = np.concatenate([c.seq for c in columns])
    t = np.concatenate([c.timestamp for c in columns])
    names = sorted({name for c in columns for name in c.values})
    values = {
        name: np.concatenate([c.values.get(name, np.full(len(c.seq), np.nan)) for c in columns])
        for name in names
    }
    order = np.argsort(seq, kind="stable")
    order = order[t[order] >= since][-most:]
    found.add_columns(
        stream,
        seq[order].tolist(),
        t[order],
        {name: column[order] for name, column in values.items()},
        np.concatenate([c.score for c in columns])[order],
        np.concatenate([c.alarm for c in columns])[order],
    )


def _newest_chunks(s: Session, where: Iterable[Any], order: Any, most: int) -> list[bytes]:
    """The data of the chunks ``where`` in ``order`` until they hold ``most`` readings."""
    c = ReadingChunk
    rows = s.execute(
        sa.select(c.count, c.data).where(*where).order_by(order).execution_options(yield_per=16)
    )
    chunks, count = [], 0
    for n, data in rows:
        chunks.append(data)
        count += n
        if count >= most:
            break
    rows.close()
    return chunks


def _rollup_points(
    s: Session, found: Points, device: str, stream: str, width: int, since: float
) -> None:
    r = ReadingRollup
    rows = s.execute(
        sa.select(r.start, r.input, r.count, r.total, r.score, r.alarms)
        .where(
            r.device == device,
            r.stream == stream,
            r.width == width,
            r.start >= math.floor(since / width) * width,
        )
        .order_by(r.start)
    ).all()
    if not rows:
        return
    starts = np.unique(np.array([row.start for row in rows]))
    at = {start: j for j, start in enumerate(starts.tolist())}
    values: dict[str, F64] = {}
    score = np.full(len(starts), np.nan)
    alarm = np.zeros(len(starts), dtype=np.bool_)
    for start, name, count, total, top, alarms in rows:
        j = at[start]
        values.setdefault(name, np.full(len(starts), np.nan))[j] = total / count
        score[j] = np.fmax(score[j], np.nan if top is None else top)
        alarm[j] |= alarms > 0
    ids = (-np.arange(1, len(starts) + 1)).tolist()
    found.add_columns(stream, ids, starts + width / 2, values, score, alarm)


def _readings(
    s: Session, found: Points, device: str, stream: str, span_s: float | None, last_t: float
) -> None:
    """The newest readings of a stream, or those of the last ``span_s`` seconds of device time:
    raw when few enough, else per-minute or per-hour rollups."""
    c = ReadingChunk
    if span_s is None:
        newest = _newest_chunks(
            s, (c.device == device, c.stream == stream), c.seq_hi.desc(), _HISTORY_READINGS
        )
        _chunk_points(found, stream, newest, most=_HISTORY_READINGS)
        return
    since = last_t - span_s
    inside = (c.device == device, c.stream == stream, c.t_hi >= since)
    if (s.scalar(sa.select(sa.func.sum(c.count)).where(*inside)) or 0) <= _RAW_MOST:
        _chunk_points(found, stream, s.scalars(sa.select(c.data).where(*inside)), since=since)
    else:
        minute, hour = ROLLUP_WIDTHS
        _rollup_points(
            s, found, device, stream, minute if span_s / minute <= _BUCKETS_MOST else hour, since
        )


def history(s: Session, device: str, *, points: int, span_s: float | None = None) -> Points:
    """The readings and events of each stream of ``device``, downsampled to ``points``, and the
    pipeline each stream was assigned: the newest readings, or those of the last ``span_s``
    seconds of device time (read from rollups when there are many)."""
    r, c, rs = StoredRecord, ReadingChunk, ReadingStream
    found = Points()
    last_t: dict[str, float] = dict(
        s.execute(sa.select(rs.stream, rs.last_t).where(rs.device == device)).all()
    )
    streams = sorted(set(s.scalars(_STREAMS, {"device": device}).all()) | set(last_t))
    found.pipelines = pipelines(s, device, streams)
    found.cursor = (0, s.scalar(sa.select(sa.func.max(c.id)).where(c.device == device)) or 0)
    for stream in streams:
        if stream in last_t:
            _readings(s, found, device, stream, span_s, last_t[stream])
        # The key index (device, stream, kind, seq, name) serves this from its end.
        newest = (
            sa.select(*_COLUMNS, r.seq)
            .where(r.device == device, r.stream == stream, r.kind == "event")
            .order_by(r.seq.desc())
            .limit(_HISTORY_EVENTS)
            .subquery()
        )
        e = newest.c
        found.add_events(
            s.execute(sa.select(e.id, e.stream, e.name, e.timestamp, e.body).order_by(e.seq))
        )
    return found.downsampled(points)


def stored(s: Session, device: str, *, after: Cursor) -> Points:
    """The readings and events of ``device`` stored after the cursor ``after``: at most about
    2,000 readings (a page that was away that long reloads its history)."""
    r, c = StoredRecord, ReadingChunk
    found = Points()
    events = sa.select(*_COLUMNS).where(r.device == device, r.id > after[0], r.kind == "event")
    found.add_events(s.execute(events.order_by(r.id).limit(_LIVE_LIMIT)))
    newer = s.execute(
        sa.select(c.id, c.stream, c.count, c.data)
        .where(c.device == device, c.id > after[1])
        .order_by(c.id)
        .execution_options(yield_per=16)
    )
    last_chunk, count, by_stream = after[1], 0, dict[str, list[bytes]]()
    for ident, stream, n, data in newer:
        by_stream.setdefault(stream, []).append(data)
        last_chunk, count = ident, count + n
        if count >= _LIVE_LIMIT:
            break
    newer.close()
    for stream, chunks in by_stream.items():
        _chunk_points(found, stream, chunks)
    found.cursor = (max(found.cursor[0], after[0]), last_chunk)
    return found
