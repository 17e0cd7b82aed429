"""The triage bench, short: one seed, a smaller fleet; and triage's blindness to the truth."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgewise.bench.triage import replay, run_triage
from edgewise.cli import app
from edgewise.sim.fleet_month import Truth, fleet_month

KEYS = {
    "alerts",
    "auto_handled_pct",
    "missed_incidents",
    "false_escalations",
    "false_escalations_pct",
    "baseline_auto_handled_pct",
}


def test_a_short_month_misses_no_incident_and_beats_the_baseline() -> None:
    result = run_triage(seed=0, n_devices=20, sites=2)
    assert result.keys() >= KEYS
    assert result["incidents"] > 0 and result["alerts"] > 100
    assert result["missed_incidents"] == 0, result
    assert result["false_escalations_pct"] <= 2.0, result
    assert 0.0 <= result["baseline_auto_handled_pct"] <= result["auto_handled_pct"] <= 100.0


def test_shuffled_ground_truth_changes_no_triage_decision() -> None:
    month = fleet_month(seed=1, n_devices=20, sites=2)
    rng = np.random.default_rng(0)
    shuffled = tuple(month.truth[k] for k in rng.permutation(len(month.truth)))
    flipped = tuple(
        Truth(label="nuisance" if t.label == "incident" else "incident", type=t.type, incident=1)
        for t in shuffled
    )
    runs = [
        replay(m.events, context=m.context)
        for m in (
            month,
            dataclasses.replace(month, truth=shuffled),
            dataclasses.replace(month, truth=flipped),
        )
    ]
    decisions = [run.triage.decisions for run in runs]
    assert decisions[0] and decisions[0] == decisions[1] == decisions[2]
    assert runs[0].alert_of_event == runs[1].alert_of_event == runs[2].alert_of_event


def test_the_command_writes_the_keys_with_run_metadata(tmp_path: Path) -> None:
    out = tmp_path / "triage.json"
    done = CliRunner().invoke(
        app,
        [
            "bench",
            "triage",
            "--seed",
            "2",
            "--seeds",
            "2",
            "--devices",
            "12",
            "--sites",
            "2",
            "--json",
            str(out),
        ],
    )
    assert done.exit_code == 0, done.output
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result.keys() >= KEYS and {"commit", "date", "cpu"} <= result.keys()
    assert sorted(result["per_seed"]) == ["2", "3"]
    assert result["alerts"] == sum(r["alerts"] for r in result["per_seed"].values())


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--devices", "3", "--sites", "4"], "must not exceed"), (["--seeds", "0"], "--seeds")],
)
def test_bad_input_is_one_clear_line_and_exit_2(args: list[str], message: str) -> None:
    done = CliRunner().invoke(app, ["bench", "triage", *args])
    assert done.exit_code == 2 and message in done.output
