"""Reorder: order restored within the lateness bound; later readings dropped or flagged."""

from __future__ import annotations

import numpy as np
import pytest

from edgewise.clean import Reorder
from edgewise.stream import Reading


def _arrivals(seed: int, n: int = 300, jitter: float = 150.0) -> list[Reading]:
    """Readings a minute apart per stream, each arriving up to ``jitter`` seconds late."""
    rng = np.random.default_rng(seed)
    times = [(60.0 * i, s) for i in range(n) for s in ("a", "b")]
    arrival = [t + rng.uniform(0.0, jitter) for t, _ in times]
    order = np.argsort(arrival, kind="stable")
    return [Reading(times[i][1], times[i][0], {"i": float(i)}) for i in order]


def test_order_is_restored_within_lateness_and_nothing_is_lost() -> None:
    readings = _arrivals(seed=0)
    assert [r.timestamp for r in readings if r.stream == "a"] != sorted(
        r.timestamp for r in readings if r.stream == "a"
    )
    # A reading delayed by d <= lateness is at most d behind the newest one seen: never late.
    reorder = Reorder(lateness=150.0)
    out = reorder.update_many(readings) + reorder.flush()
    for stream in ("a", "b"):
        times = [r.timestamp for r in out if r.stream == stream]
        assert times == [60.0 * i for i in range(300)]
    assert reorder.lane("a").late_count_ == 0


def test_a_reading_later_than_the_bound_is_dropped_and_counted() -> None:
    reorder = Reorder(lateness=30.0)
    out = reorder.update_many([Reading("a", t, {}) for t in (0.0, 60.0, 120.0, 10.0, 100.0)])
    out += reorder.flush()
    assert [r.timestamp for r in out] == [0.0, 60.0, 100.0, 120.0]
    assert reorder.lane("a").late_count_ == 1


def test_with_flag_a_late_reading_is_emitted_at_once_and_flagged() -> None:
    reorder = Reorder(lateness=30.0, action="flag")
    out = reorder.update_many([Reading("a", t, {"x": t}) for t in (0.0, 60.0, 120.0, 10.0)])
    assert [(r.timestamp, r.flags) for r in out] == [(0.0, {}), (60.0, {}), (10.0, {"*": "late"})]
    assert [r.timestamp for r in reorder.flush()] == [120.0]
    assert reorder.lane("a").late_count_ == 1


def test_tick_releases_what_the_clock_has_passed_and_flush_everything() -> None:
    reorder = Reorder(lateness=60.0)
    out = reorder.update_many([Reading("a", t, {}) for t in (100.0, 130.0, 170.0)])
    assert [r.timestamp for r in out] == [100.0]
    assert [r.timestamp for r in reorder.tick(195.0)] == [130.0]
    assert reorder.update(Reading("a", 120.0, {})) == []  # before the watermark now: late
    assert [r.timestamp for r in reorder.flush()] == [170.0]
    assert reorder.lane("a").late_count_ == 1


@pytest.mark.parametrize("params", [{"lateness": -1.0}, {"action": "mark_missing"}])
def test_bad_parameters_raise_at_first_use(params: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Reorder"):
        Reorder(**params).update(Reading("a", 0.0, {}))  # type: ignore[arg-type]
