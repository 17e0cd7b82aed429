"""GapDetector: one all-missing reading per gap on tick; the reading after a gap is flagged."""

from __future__ import annotations

import math

import pytest

from edgewise.clean import GapDetector
from edgewise.stream import Reading


def test_tick_emits_one_missing_reading_per_stream_and_gap() -> None:
    gaps = GapDetector(max_gap=300.0)
    gaps.update_many([Reading("a", 0.0, {"t": 1.0, "h": 2.0}), Reading("b", 250.0, {"t": 3.0})])
    assert gaps.tick(300.0) == []
    (out,) = gaps.tick(301.0)
    assert (out.stream, out.timestamp, out.flags) == ("a", 301.0, {"*": "gap"})
    assert list(out.values) == ["t", "h"] and all(math.isnan(v) for v in out.values.values())
    assert gaps.tick(400.0) == []  # gap of "a" already reported; "b" is 150 s quiet
    assert [r.stream for r in gaps.tick(551.0)] == ["b"]
    assert gaps.lane("a").gap_count_ == 1 and gaps.lane("b").gap_count_ == 1


def test_the_first_reading_after_a_gap_is_flagged_and_later_ones_are_not() -> None:
    gaps = GapDetector(max_gap=60.0)
    times = [0.0, 50.0, 200.0, 230.0, 100.0]
    flags = [gaps.update(Reading("a", t, {"t": 1.0}))[0].flags for t in times]
    assert flags == [{}, {}, {"*": "after_gap"}, {}, {}]
    assert gaps.lane("a").gap_count_ == 1


def test_a_stream_that_resumes_can_be_reported_again() -> None:
    gaps = GapDetector(max_gap=10.0)
    gaps.update(Reading("a", 0.0, {}))
    assert len(gaps.tick(20.0)) == 1
    assert gaps.update(Reading("a", 25.0, {}))[0].flags == {"*": "after_gap"}
    assert len(gaps.tick(40.0)) == 1
    assert gaps.lane("a").gap_count_ == 2


def test_bad_max_gap_raises_at_first_use() -> None:
    with pytest.raises(ValueError, match="GapDetector"):
        GapDetector(max_gap=-1.0).update(Reading("a", 0.0, {}))


def test_everything_it_emits_is_numbered_in_emission_order() -> None:
    gaps = GapDetector(max_gap=10.0)
    out = gaps.update_many([Reading("a", 0.0, {"t": 1.0}, seq=7), Reading("b", 0.0, {})])
    out += gaps.tick(20.0) + gaps.update(Reading("a", 25.0, {"t": 2.0}, seq=8))
    assert [(r.stream, r.seq) for r in out] == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)]
