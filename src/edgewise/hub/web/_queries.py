"""What the dashboard reads from the hub's database: the fleet, and chart points of one device."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .._models import Command, Device, StoredRecord

__all__ = ["STALE_AFTER_S", "DeviceRow", "Points", "device_exists", "fleet", "history", "stored"]

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
# Then, per pair and kind, the newest record by seq, one more seek each: readings, summaries
# and heartbeats all show a device alive.
_LAST_SEEN = sa.text(
    _PAIRS.format(where="")
    + """
SELECT p.device, k.kind,
       (SELECT r.stored_at FROM records r
        WHERE r.device = p.device AND r.stream = p.stream AND r.kind = k.kind
        ORDER BY r.seq DESC LIMIT 1)
FROM pairs p, (SELECT 'reading' AS kind UNION ALL SELECT 'summary' UNION ALL SELECT 'heartbeat') k
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
    streams: dict[str, int] = {}
    for device, kind, stored_at in s.execute(_LAST_SEEN):
        streams[device] = streams.get(device, 0) + (kind == "reading")
        if stored_at is not None:
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


class Points:
    """Chart points of one device, as the page's script takes them (``to_json``).

    Per stream: device times ``t``, each input's values, the highest detection score and whether
    any detection raised an alarm; and the events. Record ids let a page skip what it has.
    """

    def __init__(self) -> None:
        self._streams: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.last_id = 0

    def _stream(self, name: str) -> dict[str, Any]:
        return self._streams.setdefault(
            name, {"id": [], "t": [], "values": {}, "score": [], "alarm": []}
        )

    def add_reading(self, record_id: int, stream: str, t: float, body: dict[str, Any]) -> None:
        """Add one reading's point (``body`` as stored: values, flags, detections)."""
        into = self._stream(stream)
        n = len(into["t"])
        into["id"].append(record_id)
        into["t"].append(t)
        for name, value in body.get("values", {}).items():
            # An input first seen now has no values for the points before.
            into["values"].setdefault(name, [None] * n).append(value)
        for values in into["values"].values():
            if len(values) == n:
                values.append(None)
        scores = [d["score"] for d in body.get("detections", ()) if d.get("score") is not None]
        into["score"].append(max(scores) if scores else None)
        into["alarm"].append(any(d.get("alarm") for d in body.get("detections", ())))
        self.last_id = max(self.last_id, record_id)

    def add_event(self, record_id: int, stream: str, name: str, t: float, body: Any) -> None:
        """Add one event (an alarm, its end, an accepted change, a relearn)."""
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
        self.last_id = max(self.last_id, record_id)

    def add(self, rows: Iterable[sa.Row[int, str, str, str, float, Any]]) -> Points:
        """Add readings and events from rows of (id, stream, kind, name, timestamp, body)."""
        for record_id, stream, kind, name, t, body in rows:
            if kind == "reading":
                self.add_reading(record_id, stream, t, body)
            elif kind == "event":
                self.add_event(record_id, stream, name, t, body)
        return self

    def downsampled(self, points: int) -> Points:
        """At most about ``points`` per stream: the mean of each bucket's values and its highest
        score, so an anomaly never disappears from a long history.

        >>> p = Points()
        >>> for i in range(10):
        ...     p.add_reading(i + 1, "s", float(i), {"values": {"x": float(i)}, "detections": []})
        >>> p.downsampled(5).to_json()["streams"]["s"]["values"]["x"]
        [0.5, 2.5, 4.5, 6.5, 8.5]
        """
        out = Points()
        out._events, out.pipelines, out.last_id = self._events, self.pipelines, self.last_id
        for name, series in self._streams.items():
            n = len(series["t"])
            size = max(1, math.ceil(n / points))
            into = out._stream(name)
            for lo in range(0, n, size):
                hi = min(n, lo + size)
                into["id"].append(series["id"][hi - 1])
                into["t"].append(_mean(series["t"][lo:hi]))
                scores = [v for v in series["score"][lo:hi] if v is not None]
                into["score"].append(max(scores) if scores else None)
                into["alarm"].append(any(series["alarm"][lo:hi]))
                for key, values in series["values"].items():
                    into["values"].setdefault(key, []).append(_mean(values[lo:hi]))
        return out

    def to_json(self) -> dict[str, Any]:
        """``{"streams": {stream: {"id", "t", "values": {input: [...]}, "score", "alarm"}},
        "events": [...], "pipelines": {stream: {"steps", "applied"}}, "last_id": n}``."""
        return {
            "streams": self._streams,
            "events": self._events,
            "pipelines": self.pipelines,
            "last_id": self.last_id,
        }


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


_COLUMNS = (
    StoredRecord.id,
    StoredRecord.stream,
    StoredRecord.kind,
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


def history(s: Session, device: str, *, points: int) -> Points:
    """The newest readings and events of each stream of ``device``, downsampled to ``points``,
    and the pipeline each stream was assigned."""
    r = StoredRecord
    found = Points()
    streams = s.scalars(_STREAMS, {"device": device}).all()
    found.pipelines = pipelines(s, device, streams)
    for stream in streams:
        # The key index (device, stream, kind, seq, name) serves each of these from its end.
        for kind, limit in (("reading", _HISTORY_READINGS), ("event", _HISTORY_EVENTS)):
            newest = (
                sa.select(*_COLUMNS, r.seq)
                .where(r.device == device, r.stream == stream, r.kind == kind)
                .order_by(r.seq.desc())
                .limit(limit)
                .subquery()
            )
            c = newest.c
            found.add(
                s.execute(
                    sa.select(c.id, c.stream, c.kind, c.name, c.timestamp, c.body).order_by(c.seq)
                ).all()
            )
    return found.downsampled(points)


def stored(s: Session, device: str, *, after: int) -> Points:
    """The readings and events of ``device`` with ids above ``after``, at most 2,000 (a page that
    was away that long reloads its history)."""
    r = StoredRecord
    query = sa.select(*_COLUMNS).where(r.device == device, r.id > after).order_by(r.id)
    return Points().add(s.execute(query.limit(_LIVE_LIMIT)).all())
