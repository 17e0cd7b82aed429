"""Deduplicate: a repeated (stream, timestamp) is dropped, within a bounded horizon."""

from __future__ import annotations

from edgewise.clean import Deduplicate
from edgewise.stream import Reading, load_state, save_state


def _keys(readings: list[Reading]) -> list[tuple[str, float]]:
    return [(r.stream, r.timestamp) for r in readings]


def test_repeats_are_dropped_and_counted_per_stream() -> None:
    dedup = Deduplicate()
    batch = [
        Reading("a", 0.0, {"t": 1.0}),
        Reading("b", 0.0, {"t": 1.0}),
        Reading("a", 60.0, {"t": 2.0}),
        Reading("a", 0.0, {"t": 9.0}),  # same key, other values: still a repeat
        Reading("a", 60.0, {"t": 2.0}),
    ]
    out = dedup.update_many(batch)
    assert _keys(out) == [("a", 0.0), ("b", 0.0), ("a", 60.0)]
    assert out[0].values == {"t": 1.0}
    assert dedup.lane("a").duplicate_count_ == 2 and dedup.lane("b").duplicate_count_ == 0


def test_memory_is_bounded_by_the_horizon() -> None:
    dedup = Deduplicate(horizon=100.0)
    dedup.update_many([Reading("a", float(t), {}) for t in range(0, 1000, 10)])
    assert len(dedup.lane("a").seen_) == 11  # 890..990
    assert dedup.update(Reading("a", 900.0, {})) == []
    assert len(dedup.update(Reading("a", 500.0, {}))) == 1  # too old to be remembered


def test_saved_mid_stream_it_still_knows_what_it_saw() -> None:
    dedup = Deduplicate()
    dedup.update(Reading("a", 5.0, {}))
    restored, _ = load_state(save_state(dedup))
    assert restored.update(Reading("a", 5.0, {})) == []
    assert restored.lane("a").duplicate_count_ == 1
