"""The gate: configured streams and units, time order, counting, rate-limited logs."""

from __future__ import annotations

import logging

import pytest

from edgewise.agent import Gate, PayloadError, Rejections, StreamRule
from edgewise.stream import Reading


def r(stream: str, t: float, seq: int | None = None, **values: float) -> Reading:
    return Reading(stream, t, values or {"x": 1.0}, seq=seq)


def test_unknown_streams_are_refused_unless_allowed() -> None:
    gate = Gate([StreamRule("pump-*"), StreamRule("fan-1")])
    admitted = gate.admit([r("pump-7", 1), r("fan-1", 1), r("fan-2", 1)])
    assert [x.stream for x in admitted] == ["pump-7", "fan-1"]
    assert gate.counts == {"unknown_stream": 1}
    assert Gate([], allow_unknown=True).admit([r("fan-2", 1)]) == [r("fan-2", 1)]


def test_the_first_matching_rule_sets_the_units() -> None:
    gate = Gate([StreamRule("pump-1", {"temp": "K"}), StreamRule("pump-*", {"temp": "Cel"})])
    readings = [r("pump-1", 1, temp=300.0), r("pump-2", 1, temp=20.0)]
    assert gate.admit(readings, [{"temp": "K"}, {"temp": "Cel"}]) == readings
    assert gate.admit(readings, [{"temp": "Cel"}, {"temp": "K"}]) == []
    assert gate.counts == {"wrong_unit": 2}


def test_unstated_and_unconfigured_units_pass() -> None:
    gate = Gate([StreamRule("pump-1", {"temp": "Cel"})])
    readings = [r("pump-1", 1, temp=20.0, rpm=900.0), r("pump-1", 2, temp=21.0)]
    assert gate.admit(readings, [{"rpm": "rpm"}, {}]) == readings
    assert gate.admit([r("pump-1", 3, temp=1.0)]) != []  # no units at all: readings of the input
    with pytest.raises(ValueError, match="unit maps"):
        gate.admit(readings, [{}])


def test_out_of_order_beyond_the_tolerance() -> None:
    gate = Gate([StreamRule("*")], tolerance=5.0)
    admitted = gate.admit([r("a", 100), r("a", 96), r("a", 94), r("b", 50), r("a", 100)])
    assert [(x.stream, x.timestamp) for x in admitted] == [
        ("a", 100),
        ("a", 96),
        ("b", 50),
        ("a", 100),
    ]
    assert gate.counts == {"out_of_order": 1}
    strict = Gate([StreamRule("*")])
    assert strict.admit([r("a", 100), r("a", 99.9)]) == [r("a", 100)]
    with pytest.raises(ValueError, match="tolerance"):
        Gate([], tolerance=-1)


def test_a_repeated_seq_is_refused_unless_newer() -> None:
    gate = Gate([StreamRule("*")], tolerance=60.0)
    first, replay, restarted = r("a", 100, seq=3), r("a", 100, seq=3), r("a", 200, seq=3)
    assert gate.admit([first, replay, r("a", 99, seq=2), restarted]) == [
        first,
        r("a", 99, seq=2),
        restarted,
    ]
    assert gate.counts == {"out_of_order": 1}


def test_decoding_errors_are_counted_with_the_rest() -> None:
    gate = Gate([])
    gate.reject(PayloadError("malformed", "not JSON"))
    gate.admit([r("a", 1)])
    assert gate.counts == {"malformed": 1, "unknown_stream": 1}


def test_logs_are_rate_limited_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    rejections = Rejections(logging.getLogger("edgewise.test"), every=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="edgewise.test"):
        for t in (0.0, 1.0, 2.0, 30.0, 61.0):
            now[0] = t
            rejections.add("malformed", "not JSON", stream="a")
        rejections.add("oversize", "too big")
    assert rejections.counts == {"malformed": 5, "oversize": 1}
    lines = [(rec.kind, rec.suppressed, rec.stream) for rec in caplog.records]  # type: ignore[attr-defined]
    assert lines == [("malformed", 0, "a"), ("malformed", 3, "a"), ("oversize", 0, None)]
    assert "3 more since the last report" in caplog.records[1].getMessage()
