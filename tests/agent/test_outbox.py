"""The outbox: durable, one record per key, by priority, a budget that loses nothing held."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edgewise.agent import Outbox, OutboxFull, Record
from edgewise.agent._outbox import DEAD_LETTERS_KEPT, LaneState, SavedLane


def record(kind: str, seq: int, stream: str = "pump-1", size: int = 10) -> Record:
    name = "alarm" if kind == "event" else ""
    return Record("press-7", stream, kind, seq, name, 1.7e9 + seq, None, {"pad": "x" * size})


def counted(path: Path) -> tuple[int, int]:
    """What the outbox file holds, counted afresh: (records, bytes)."""
    with sqlite3.connect(path) as db:
        n, size = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
    return int(n), int(size)


def test_records_survive_a_reopen_and_a_key_is_stored_once(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_bytes=1 << 20)
    box.put([record("reading", 0), record("reading", 1)], journal=["a"], upstream=True)
    box.put([record("reading", 1), record("reading", 2)], journal=["b"], upstream=True)
    box.close()
    again = Outbox(tmp_path / "o.db", max_bytes=1 << 20)
    assert again.pending() == 3
    assert again.counters() == {"outbox_duplicates": 1}
    assert [entry for _, entry in again.journal()] == ["a", "b"]


def test_events_go_before_summaries_before_readings_oldest_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_bytes=1 << 20)
    box.put(
        [record("reading", 0), record("summary", 5), record("event", 0)], journal=[], upstream=True
    )
    box.put([record("reading", 1), record("event", 1)], journal=[], upstream=True)
    sent = box.peek(limit=10)
    assert [(s.kind, s.wire.count('"seq":1,')) for s in sent] == [
        ("event", 0),
        ("event", 1),
        ("summary", 0),
        ("reading", 0),
        ("reading", 1),
    ]
    assert len(box.peek(limit=10, max_bytes=1)) == 1  # at least one record, whatever its size


def test_a_full_budget_drops_raw_readings_first_and_only_data_nobody_holds(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_bytes=2000)
    box.put([record("event", 0, size=300)], journal=[], upstream=False)
    box.put([record("reading", i, size=300) for i in range(3)], journal=[], upstream=False)
    box.put([record("reading", 10, size=300)], journal=[], upstream=True)
    # Polled data (no upstream copy) makes room by dropping the oldest polled readings.
    box.put([record("reading", 20, size=300)], journal=[], upstream=False)
    kinds = [(s.kind, s.wire.split('"seq":')[1].split(",")[0]) for s in box.peek(limit=10)]
    assert ("reading", "0") not in kinds and ("event", "0") in kinds and ("reading", "10") in kinds
    assert box.counters()["dropped_reading"] >= 1
    # Data a sender still holds is refused whole, never dropped: the sender keeps it.
    with pytest.raises(OutboxFull):
        box.put([record("reading", 30, size=3000)], journal=["j"], upstream=True)
    assert "j" not in [entry for _, entry in box.journal()]
    assert ("reading", "10") in [
        (s.kind, s.wire.split('"seq":')[1].split(",")[0]) for s in box.peek(limit=10)
    ]
    assert counted(tmp_path / "o.db") == (box.pending(), box.bytes_)  # drops and refusals
    box.delete([s.id for s in box.peek(limit=2)])
    assert counted(tmp_path / "o.db") == (box.pending(), box.bytes_)


def test_journal_positions_only_rise_even_when_a_checkpoint_empties_the_journal(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "o.db", max_bytes=1 << 20)
    box.put([], journal=["a", "b"], upstream=False)
    lane = LaneState("pump-1", "default", b"state", None)
    box.put([], journal=[], upstream=False, lanes=[lane], checkpoint={}, truncate=box.journal_end())
    box.close()
    again = Outbox(tmp_path / "o.db", max_bytes=1 << 20)
    again.put([], journal=["c"], upstream=False)
    # SQLite alone would number "c" 1 again: below the lane's position, so never replayed.
    assert again.journal() == [(3, "c")] and again.saved_lanes() == [SavedLane(lane, 2)]


def test_checkpoints_truncate_the_journal_and_commands_and_actions_happen_once(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "o.db", max_bytes=1 << 20)
    box.put([], journal=["a", "b"], upstream=False, applied={7: None})
    lane = LaneState("pump-1", "default", b"state", None)
    box.put([], journal=[], upstream=False, lanes=[lane], checkpoint={"x": b"y"}, truncate=2)
    box.put([], journal=["c"], upstream=False)
    assert box.journal() == [(3, "c")] and box.last_checkpoint() == {"x": b"y"}
    assert box.saved_lanes() == [SavedLane(lane, 2)]
    assert box.applied(7) and not box.applied(8)
    assert box.unacked_commands() == [7]
    box.commands_acked([7])
    assert box.unacked_commands() == []
    assert box.claim("stop-pump", "k") and not box.claim("stop-pump", "k")


def test_dead_letters_leave_the_outbox_once_each_and_stay_within_bounds(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_bytes=1 << 24)
    box.put(
        [record("reading", 0), record("event", 0), record("reading", 1)], journal=[], upstream=True
    )
    ids = [s.id for s in box.peek(limit=10)]  # event 0, reading 0, reading 1
    assert box.dead_letter({ids[1]: "bad"}, now=5.0) == 1
    assert box.pending() == 2 and counted(tmp_path / "o.db") == (box.records_, box.bytes_)
    # A replay makes the record anew: its key was stored once, so it is not stored again.
    box.put([record("reading", 0)], journal=[], upstream=True)
    assert box.pending() == 2 and box.counters()["dead_letter_reading"] == 1
    [letter] = box.dead_letters()
    assert letter == {"record": record("reading", 0).wire(), "reason": "bad", "at": 5.0}
    # The newest DEAD_LETTERS_KEPT are kept; the older ones are forgotten, counted.
    many = [record("reading", i, size=1) for i in range(100, 100 + DEAD_LETTERS_KEPT)]
    box.put(many, journal=[], upstream=True)
    box.dead_letter({s.id: "bad" for s in box.peek(limit=2 * DEAD_LETTERS_KEPT)}, now=7.0)
    letters = box.dead_letters()
    assert len(letters) == DEAD_LETTERS_KEPT and letters[-1]["record"]["seq"] == 99 + len(many)
    assert box.counters()["dead_letters_forgotten"] == 3
    assert box.pending() == 0


def test_an_outbox_made_before_commands_could_be_refused_opens_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        db.execute("CREATE TABLE applied (command INTEGER PRIMARY KEY, acked INTEGER NOT NULL)")
        db.execute("INSERT INTO applied VALUES (3, 0)")
    box = Outbox(tmp_path / "outbox.db", max_bytes=1 << 20)
    box.put([], journal=[], upstream=False, applied={4: "no such stream"})
    assert box.unacked_commands() == [3, {"id": 4, "error": "no such stream"}]
    box.close()
