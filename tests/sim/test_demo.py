"""The demo: its monitor, the matching of alarms to faults, and the command finding every fault."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from edgewise.cli import app
from edgewise.sim import Alarm, Fault, Monitor, Plant, evaluate
from edgewise.stream import Reading

HOUR = 3600.0


def test_monitor_raises_one_alarm_per_episode_of_stuck_and_missing_values() -> None:
    monitor = Monitor(start=0.0, stuck_after=5, missing_after=3, quiet=600.0)
    monitor.commission(
        Reading("m", -60.0 * i, {"a": float(i % 7), "b": 1.0 + i}) for i in range(400, 0, -1)
    )
    alarms = []
    for i in range(40):
        stuck = 3.5 if 10 <= i < 30 else float(i % 7)
        missing = math.nan if 20 <= i < 26 else 1.0 + i
        alarms += monitor.update(Reading("m", 60.0 * i, {"a": stuck, "b": missing}))
    checks = [(a.sensor, a.check, a.time) for a in alarms if "detector" not in a.check]
    assert checks == [("a", "flatline check", 60.0 * 14), ("b", "missing-data check", 60.0 * 22)]
    assert monitor.state("m").status["a"] == "stuck"


def test_evaluate_credits_the_first_alarm_and_counts_false_ones() -> None:
    faults = (
        Fault("stuck sensor", "m1", ("t",), 1 * HOUR, 2 * HOUR),
        Fault("bearing wear", "m2", ("v",), 5 * HOUR),
    )
    alarms = [
        Alarm(0.5 * HOUR, "m1", "t", "check", "before the fault: false"),
        Alarm(1.5 * HOUR, "m1", "x", "check", "during, on a sensor the fault spares: false"),
        Alarm(1.6 * HOUR, "m1", "t", "check", "finds the stuck sensor"),
        Alarm(2.5 * HOUR, "m1", "t", "check", "within the grace after the end"),
        Alarm(4.0 * HOUR, "m1", "t", "check", "long after: false"),
        Alarm(6.0 * HOUR, "m2", "v", "detector", "finds the bearing"),
    ]
    findings, false_alarms = evaluate(faults, alarms, grace=HOUR)
    assert [f.alarm for f in findings] == [alarms[2], alarms[5]]
    assert [f.delay_minutes for f in findings] == [36.0, 60.0]
    assert false_alarms == [alarms[0], alarms[1], alarms[4]]
    assert evaluate(faults, [], grace=HOUR)[0][0].alarm is None


def test_demo_finds_every_injected_fault() -> None:
    result = CliRunner().invoke(app, ["demo", "--plain", "--duration", "60", "--speed", "1e9"])
    assert result.exit_code == 0, result.output
    summary = result.stdout.split("Injected faults")[1]
    rows = {
        kind: line
        for line in summary.splitlines()
        for kind in ("stuck", "dropout", "bearing")
        if kind in line
    }
    assert "flatline check" in rows["stuck"] or "default detector" in rows["stuck"]
    assert "missing-data check" in rows["dropout"]
    assert "default detector" in rows["bearing"]
    assert "NOT FOUND" not in summary
    assert "default detector: vibration=" in result.stdout  # a line per detection


def test_demo_stops_after_its_duration() -> None:
    result = CliRunner().invoke(app, ["demo", "--plain", "--duration", "0.5", "--speed", "3600"])
    assert result.exit_code == 0, result.output
    assert "(not reached)" in result.stdout  # half a simulated hour: no fault began yet
    assert Plant().faults[0].start > 0.5 * 3600


def test_live_view_shows_streams_scores_and_detections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edgewise.cli._plant_view.interactive", lambda: True)
    result = CliRunner().invoke(
        app, ["demo", "--terminal", "--duration", "60", "--speed", "1e9"], env={"COLUMNS": "150"}
    )
    assert result.exit_code == 0, result.output
    view = result.stdout.split("Injected faults")[0]
    assert "recent readings" in view and "machine score" in view
    assert all(name in view for name in ("press-1", "mill-2", "pump-3"))
    assert any(bar in view for bar in "▁▂▃▄▅▆▇█")
    assert "detections" in view and "default detector: " in view
