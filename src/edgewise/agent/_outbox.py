"""The durable outbox: what the agent has accepted, until the hub acknowledges it.

One SQLite file (WAL, ``synchronous=FULL``) holds four things, each written in the same
transaction as the batch that made it, so a crash leaves them consistent:

- ``outbox``: records for the hub (events, summaries, readings with their detection records,
  heartbeats), deleted once the hub has stored them; ``marks`` holds, per device, stream and
  kind, the highest sequence number stored, so a key is stored once even after its row is gone
  (records of one kind and stream come in rising ``seq``, all of one ``seq`` in one batch: one
  small row per stream and kind makes that check, where a unique index on every row's key
  doubled the cost of storing a reading);
- ``journal``: the readings the pipelines took since the last checkpoint, in the order they took
  them, so a restart replays them onto the checkpoint and ends in the same state;
- ``lanes``: each stream's state (its pipeline's lane in edgewise's versioned format, never
  pickle, and its summary in progress) with the journal position it includes: a checkpoint
  saves only the streams that changed since their last save, a few at a time, so a row may be
  older than the journal's start only if its stream took nothing since;
- ``checkpoint``: what is not a stream's (the pipelines the hub assigned), as of the journal
  position the last complete checkpoint truncated the journal to;
- ``applied`` and ``fired``: the hub's commands applied (or refused, with the reason), the actions
  fired, by key, so neither happens twice;
- ``dead_letter``: records the hub refused for good (malformed, or too large for any batch),
  moved out of the outbox with the hub's reason so they no longer hold back the rest; the
  newest :data:`DEAD_LETTERS_KEPT` are kept for inspection (``edgewise agent dead-letters``).

The disk budget: records of data nobody upstream still holds (polled values, derived summaries)
are dropped when the budget is reached, oldest raw readings first and events last, with a counter
for each; a batch that holds data a sender keeps until acknowledged (MQTT QoS 1, HTTP push) is
refused with :class:`OutboxFull` instead, so the sender keeps it and nothing acknowledged is lost.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "DEAD_LETTERS_KEPT",
    "PRIORITY",
    "LaneState",
    "Outbox",
    "OutboxFull",
    "Record",
    "SavedLane",
    "Stored",
]

DIGEST_SIZE = 16
"""Bytes of a message's digest (BLAKE2b), by which a message delivered again is known."""

PRIORITY = {"event": 0, "summary": 1, "heartbeat": 2, "reading": 2}
"""Which records go first when bandwidth is short (low first), and which are dropped last."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    priority INTEGER NOT NULL,
    device TEXT NOT NULL, stream TEXT NOT NULL, kind TEXT NOT NULL,
    seq INTEGER NOT NULL, name TEXT NOT NULL,
    timestamp REAL NOT NULL, received REAL,
    body TEXT NOT NULL, size INTEGER NOT NULL, upstream INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_send ON outbox (priority, id);
CREATE TABLE IF NOT EXISTS marks (
    device TEXT NOT NULL, stream TEXT NOT NULL, kind TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (device, stream, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoint (
    pipeline TEXT PRIMARY KEY, journal_id INTEGER NOT NULL, state BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS lanes (
    stream TEXT PRIMARY KEY, pipeline TEXT NOT NULL, journal_id INTEGER NOT NULL,
    state BLOB NOT NULL, summary TEXT
);
CREATE TABLE IF NOT EXISTS applied (
    command INTEGER PRIMARY KEY, acked INTEGER NOT NULL, error TEXT
);
CREATE TABLE IF NOT EXISTS fired (action TEXT NOT NULL, key TEXT NOT NULL,
                                  PRIMARY KEY (action, key));
CREATE TABLE IF NOT EXISTS delivered_batches (id INTEGER PRIMARY KEY, digests BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL, stream TEXT NOT NULL, kind TEXT NOT NULL,
    seq INTEGER NOT NULL, name TEXT NOT NULL,
    timestamp REAL NOT NULL, received REAL, body TEXT NOT NULL,
    reason TEXT NOT NULL, at REAL NOT NULL,
    UNIQUE (device, stream, kind, seq, name)
);
"""

DEAD_LETTERS_KEPT = 10_000
"""Dead letters kept; older ones are forgotten (``dead_letters_forgotten``) to bound the table."""

# What a row costs beyond its body: the key columns and SQLite's own overhead, roughly.
_ROW_OVERHEAD = 96


class OutboxFull(Exception):
    """The batch does not fit the disk budget (or the disk): nothing of it was stored."""


@dataclass(frozen=True, slots=True)
class Record:
    """One record for the hub, in the wire protocol's shape (``docs/protocol.md``)."""

    device: str
    stream: str
    kind: str
    seq: int
    name: str
    timestamp: float
    received: float | None
    body: Mapping[str, Any]

    def wire(self) -> dict[str, Any]:
        """The record as the protocol sends it."""
        return {
            "device": self.device,
            "stream": self.stream,
            "kind": self.kind,
            "seq": self.seq,
            "name": self.name,
            "timestamp": self.timestamp,
            "received": self.received,
            "body": self.body,
        }


@dataclass(frozen=True, slots=True)
class LaneState:
    """One stream's state for a checkpoint: its pipeline's name, its lane's state document,
    its summary in progress (JSON, or ``None``)."""

    stream: str
    pipeline: str
    state: bytes
    summary: str | None


@dataclass(frozen=True, slots=True)
class SavedLane:
    """A stream's state as the outbox holds it: as of journal entry ``journal_id``."""

    lane: LaneState
    journal_id: int


@dataclass(frozen=True, slots=True)
class Stored:
    """A record as the outbox holds it: its row id and its wire form, already encoded."""

    id: int
    kind: str
    wire: str


class Outbox:
    """The agent's SQLite outbox, shared by the runner (writes) and the uplink (reads, deletes).

    >>> import tempfile, os
    >>> box = Outbox(os.path.join(tempfile.mkdtemp(), "outbox.db"), max_bytes=1 << 20)
    >>> r = Record("press-7", "pump-1", "reading", 0, "", 1.7e9, None, {"values": {"t": 1.0}})
    >>> box.put([r], journal=[], upstream=True)
    >>> [s.kind for s in box.peek(limit=10)]
    ['reading']
    >>> box.delete([s.id for s in box.peek(limit=10)]); box.pending()
    0
    """

    def __init__(self, path: str | Path, *, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection, shared under a lock: SQLite serialises writers anyway, and the
        # uplink's network calls happen outside it.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(applied)")}
        if "error" not in columns:  # an outbox made before commands could be refused
            self._db.execute("ALTER TABLE applied ADD COLUMN error TEXT")
        self._reader = sqlite3.connect(self.path, check_same_thread=False)
        self._reader_lock = threading.Lock()
        # Kept up to date rather than counted: a scan of a long backlog under the lock would stall
        # the writer (and the acknowledgements) at every uplink batch and every scrape.
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
        self.records_: int = int(row[0])
        self.bytes_: int = int(row[1])
        self._marks: dict[tuple[str, str, str], int] = {
            (device, stream, kind): seq
            for device, stream, kind, seq in self._db.execute("SELECT * FROM marks")
        }
        # Journal ids only ever rise, even across an emptied journal (SQLite would number from 1
        # again): a saved lane's position must stay below every entry written after it.
        self._journal_end: int = max(
            int(self._db.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}").fetchone()[0])
            for table, column in (("journal", "id"), ("lanes", "journal_id"),
                                  ("checkpoint", "journal_id"))
        )  # fmt: skip

    # -- writing ------------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            counts = self.records_, self.bytes_
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    self.records_, self.bytes_ = counts  # as the rows are again
                    raise
            except sqlite3.OperationalError as error:
                # The disk itself is full (SQLITE_FULL, or an I/O error writing the WAL).
                if "full" in str(error) or "I/O" in str(error):
                    raise OutboxFull(f"{self.path}: {error}") from None
                raise

    def put(
        self,
        records: Sequence[Record],
        *,
        journal: Sequence[str],
        upstream: bool,
        applied: Mapping[int, str | None] | None = None,
        delivered: Sequence[bytes] = (),
        lanes: Sequence[LaneState] = (),
        checkpoint: Mapping[str, bytes] | None = None,
        truncate: int | None = None,
    ) -> None:
        """Store ``records`` and ``journal`` entries in one transaction, durably.

        ``upstream`` says whether a sender still holds the data until it is acknowledged: such
        a batch is refused whole (:class:`OutboxFull`) when it does not fit; other data makes
        room by dropping what the policy allows, or is dropped itself, counted. ``applied``
        names the hub's commands whose effect the journal entries carry, each with ``None``, or
        with the reason the agent refused it; ``delivered`` the
        digests of the messages stored, so a message the broker delivers again is known.

        A checkpoint rides along: ``lanes`` are streams' states as of the end of this batch's
        journal entries; ``checkpoint`` replaces what is saved beside them; ``truncate`` deletes
        the journal up to that position (see :meth:`journal_end`), which the caller may do once
        every stream changed since that position has been saved.
        """
        marks = self._marks
        fresh = [r for r in records if r.seq > marks.get((r.device, r.stream, r.kind), -1)]
        duplicates = len(records) - len(fresh)
        raised: dict[tuple[str, str, str], int] = {}
        for r in fresh:
            raised[r.device, r.stream, r.kind] = r.seq
        rows = [
            (
                PRIORITY[r.kind],
                r.device,
                r.stream,
                r.kind,
                r.seq,
                r.name,
                r.timestamp,
                r.received,
                body := orjson.dumps(r.body, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
                len(body) + _ROW_OVERHEAD,
                int(upstream),
            )
            for r in fresh
        ]
        size = sum(row[9] for row in rows)
        with self._transaction() as db:
            if self.bytes_ + size > self.max_bytes:
                self._make_room(db, self.bytes_ + size - self.max_bytes, upstream, rows)
                size = sum(row[9] for row in rows)
            db.executemany(
                "INSERT INTO outbox (priority, device, stream, kind, seq, name,"
                " timestamp, received, body, size, upstream)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.executemany(
                "INSERT INTO marks VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO UPDATE SET seq = max(seq, excluded.seq)",
                [(*key, seq) for key, seq in raised.items()],
            )
            end = self._journal_end
            db.executemany(
                "INSERT INTO journal (id, entry) VALUES (?, ?)",
                [(end + i, e) for i, e in enumerate(journal, start=1)],
            )
            end += len(journal)
            db.executemany(
                "INSERT OR REPLACE INTO lanes VALUES (?, ?, ?, ?, ?)",
                [(lane.stream, lane.pipeline, end, lane.state, lane.summary) for lane in lanes],
            )
            if checkpoint is not None:
                db.execute("DELETE FROM checkpoint")
                db.executemany(
                    "INSERT INTO checkpoint VALUES (?, ?, ?)",
                    [(name, truncate or 0, state) for name, state in checkpoint.items()],
                )
            if truncate is not None:
                db.execute("DELETE FROM journal WHERE id <= ?", (truncate,))
            if applied:
                db.executemany("INSERT OR IGNORE INTO applied VALUES (?, 0, ?)", applied.items())
            if delivered:  # one row per batch: a row per message cost as much as the reading
                db.execute(
                    "INSERT INTO delivered_batches (digests) VALUES (?)", (b"".join(delivered),)
                )
            if duplicates:
                self._count(db, "outbox_duplicates", duplicates)
        self.bytes_ += size
        self.records_ += len(rows)
        self._journal_end = end
        marks.update(raised)

    def _make_room(
        self, db: sqlite3.Connection, needed: int, upstream: bool, rows: list[tuple[Any, ...]]
    ) -> None:
        # Droppable: what no sender holds any more, lowest priority (raw readings) and oldest first.
        victims = db.execute(
            "SELECT id, size, kind FROM outbox WHERE upstream = 0 ORDER BY priority DESC, id"
        )
        dropped: list[tuple[int]] = []
        freed = 0
        dropped_kinds: dict[str, int] = {}
        for row_id, size, kind in victims:
            if freed >= needed:
                break
            dropped.append((row_id,))
            freed += size
            dropped_kinds[kind] = dropped_kinds.get(kind, 0) + 1
        if freed < needed:
            if upstream:
                raise OutboxFull(
                    f"{self.path}: the batch needs {needed - freed} bytes more than the budget of "
                    f"{self.max_bytes} allows"
                )
            # Nobody else holds this batch: it is the one dropped, counted.
            for row in rows:
                self._count(db, f"dropped_{row[3]}", 1)
            rows.clear()
            return
        db.executemany("DELETE FROM outbox WHERE id = ?", dropped)
        for kind, n in dropped_kinds.items():
            self._count(db, f"dropped_{kind}", n)
        self.bytes_ -= freed
        self.records_ -= len(dropped)

    def _count(self, db: sqlite3.Connection, name: str, n: int) -> None:
        db.execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            (name, n, n),
        )

    def peek(self, *, limit: int, max_bytes: int | None = None) -> list[Stored]:
        """The next records to send: events, then summaries, then readings; oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, device, stream, kind, seq, name, timestamp, received, body, size"
                " FROM outbox ORDER BY priority, id LIMIT ?",
                (limit,),
            ).fetchall()
        out: list[Stored] = []
        total = 0
        for row_id, device, stream, kind, seq, name, ts, received, body, size in rows:
            total += size
            if max_bytes is not None and out and total > max_bytes:
                break
            wire = (
                f'{{"device":{json.dumps(device)},"stream":{json.dumps(stream)},'
                f'"kind":"{kind}","seq":{seq},"name":{json.dumps(name)},"timestamp":{ts!r},'
                f'"received":{"null" if received is None else repr(received)},"body":{body}}}'
            )
            out.append(Stored(row_id, kind, wire))
        return out

    def delete(self, ids: Sequence[int]) -> None:
        """Forget records the hub has stored."""
        with self._transaction() as db:
            self._remove(db, ids)

    def dead_letter(self, reasons: Mapping[int, str], *, now: float) -> int:
        """Move the records ``reasons`` names (row id → the hub's reason) to the dead letters.

        One transaction; counted by kind (``dead_letter_<kind>``); a key already set aside is not
        counted again. The number newly set aside.
        """
        moved: dict[str, int] = {}
        with self._transaction() as db:
            for row_id, reason in reasons.items():
                # RETURNING names the row only if it was inserted, not ignored as a repeat.
                for (kind,) in db.execute(
                    "INSERT OR IGNORE INTO dead_letter (device, stream, kind, seq, name,"
                    " timestamp, received, body, reason, at) SELECT device, stream, kind, seq,"
                    " name, timestamp, received, body, ?, ? FROM outbox WHERE id = ?"
                    " RETURNING kind",
                    (reason, now, row_id),
                ).fetchall():
                    moved[kind] = moved.get(kind, 0) + 1
            self._remove(db, list(reasons))
            for kind, n in moved.items():
                self._count(db, f"dead_letter_{kind}", n)
            forgotten = db.execute(
                "DELETE FROM dead_letter WHERE id <= (SELECT MAX(id) FROM dead_letter) - ?",
                (DEAD_LETTERS_KEPT,),
            ).rowcount
            if forgotten > 0:
                self._count(db, "dead_letters_forgotten", forgotten)
        return sum(moved.values())

    def _remove(self, db: sqlite3.Connection, ids: Sequence[int]) -> None:
        """Delete rows by id, keeping the counts (inside the caller's transaction)."""
        for start in range(0, len(ids), 500):  # under SQLite's limit of bound parameters
            chunk = ids[start : start + 500]
            sizes = db.execute(
                f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(chunk))}) RETURNING size",
                chunk,
            ).fetchall()
            self.records_ -= len(sizes)
            self.bytes_ -= sum(size for (size,) in sizes)

    def dead_letters(self) -> list[dict[str, Any]]:
        """The dead letters, oldest first: ``{"record": wire form, "reason", "at"}`` each."""
        with self._lock:
            rows = self._db.execute(
                "SELECT device, stream, kind, seq, name, timestamp, received, body, reason, at"
                " FROM dead_letter ORDER BY id"
            ).fetchall()
        return [
            {
                "record": Record(
                    device, stream, kind, seq, name, ts, received, json.loads(body)
                ).wire(),
                "reason": reason,
                "at": at,
            }
            for device, stream, kind, seq, name, ts, received, body, reason, at in rows
        ]

    def pending(self) -> int:
        """How many records wait for the hub."""
        return self.records_

    # -- checkpoints, commands, actions, counters ----------------------------------------------

    def journal_end(self) -> int:
        """The position of the journal's last entry (the writer's view: call it between puts)."""
        return self._journal_end

    def delivered(self) -> list[bytes]:
        """The digests of the messages stored lately, oldest first (see
        :meth:`forget_delivered`)."""
        with self._lock:
            rows = self._db.execute("SELECT digests FROM delivered_batches ORDER BY id").fetchall()
        return [
            bytes(joined[i : i + DIGEST_SIZE])
            for (joined,) in rows
            for i in range(0, len(joined), DIGEST_SIZE)
        ]

    def forget_delivered(self, *, keep: int) -> None:
        """Forget the digests of all but (about) the latest ``keep`` messages."""
        with self._transaction() as db:
            held = 0
            for batch_id, size in db.execute(
                "SELECT id, length(digests) FROM delivered_batches ORDER BY id DESC"
            ):
                held += size // DIGEST_SIZE
                if held >= keep:
                    db.execute("DELETE FROM delivered_batches WHERE id < ?", (batch_id,))
                    break

    def last_checkpoint(self) -> dict[str, bytes]:
        """What the last checkpoint saved beside the streams (empty before the first; an outbox
        written before per-stream checkpoints holds whole pipelines here)."""
        with self._lock:
            rows = self._db.execute("SELECT pipeline, state FROM checkpoint").fetchall()
        return {name: bytes(state) for name, state in rows}

    def saved_lanes(self) -> list[SavedLane]:
        """Every stream's latest saved state, with the journal position it includes."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM lanes").fetchall()
        return [
            SavedLane(LaneState(stream, pipeline, bytes(state), summary), journal_id)
            for stream, pipeline, journal_id, state, summary in rows
        ]

    def journal(self) -> list[tuple[int, str]]:
        """The journal entries since the checkpoint, in order, each with its position."""
        with self._lock:
            rows = self._db.execute("SELECT id, entry FROM journal ORDER BY id").fetchall()
        return [(int(position), entry) for position, entry in rows]

    def applied(self, command: int) -> bool:
        """Whether the hub's command ``command`` was applied already."""
        with self._lock:
            found = self._db.execute("SELECT 1 FROM applied WHERE command = ?", (command,))
            return found.fetchone() is not None

    def unacked_commands(self) -> list[int | dict[str, Any]]:
        """Commands the hub has not yet been told about, as ``acked_commands`` lists them: the id
        of one applied, ``{"id": id, "error": reason}`` for one refused."""
        with self._lock:
            rows = self._db.execute("SELECT command, error FROM applied WHERE acked = 0")
            return [c if error is None else {"id": c, "error": error} for c, error in rows]

    def commands_acked(self, commands: Sequence[int]) -> None:
        """The hub has heard that ``commands`` were applied."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE applied SET acked = 1 WHERE command = ?", [(c,) for c in commands]
            )

    def claim(self, action: str, key: str) -> bool:
        """Record that ``action`` fires for event ``key``; false if it already did."""
        with self._transaction() as db:
            before = db.total_changes
            db.execute("INSERT OR IGNORE INTO fired VALUES (?, ?)", (action, key))
            return db.total_changes > before

    def counters(self) -> dict[str, int]:
        """What the outbox counted: records dropped by kind, duplicates ignored.

        Read on a connection of its own, outside the writers' lock: WAL lets a reader see the
        last commit while a transaction runs, so a scrape never waits for the disk."""
        with self._reader_lock:
            rows = self._reader.execute("SELECT name, value FROM counters").fetchall()
        return {name: int(value) for name, value in rows}

    def close(self) -> None:
        """Close the file (a checkpoint of the WAL happens on the last connection's close)."""
        with self._reader_lock:
            self._reader.close()
        with self._lock:
            self._db.close()
