"""The command line as a whole: help, version, errors, ``detectors`` and ``bench``."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import edgewise
import edgewise.bench.nab
from edgewise.cli import app

runner = CliRunner()

COMMANDS = [
    [],
    ["detectors"],
    ["detect"],
    ["bench"],
    ["bench", "nab"],
    ["bench", "throughput"],
    ["bench", "kernels"],
    ["bench", "quality"],
    ["bench", "tep"],
    ["bench", "degradation"],
    ["bench", "latency"],
    ["demo"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "edgewise")
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: edgewise" in result.stdout


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"edgewise {edgewise.__version__}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nonsense"], "No such command 'nonsense'"),
        (["detect"], "Missing argument 'INPUT'"),
        (["detect", "x.csv", "-o", "-", "--warmup", "-3"], "--warmup"),
        (["demo", "--duration", "0"], "--duration"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("edgewise: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr, result.stderr


def test_demo_speed_help_and_check_agree() -> None:
    # Typer's ranges include their bound: the help said x>=0.0, then 0 was refused.
    shown = runner.invoke(app, ["demo", "--help"]).stdout
    assert "above 0" in " ".join(shown.replace("│", " ").split()) and "x>=0.0" not in shown
    for speed in ("0", "-2"):
        result = runner.invoke(app, ["demo", "--speed", speed])
        assert result.exit_code == 2 and result.stderr.count("\n") == 1
        assert f"'--speed': {speed} is not above 0; see 'edgewise demo --help'" in result.stderr


def test_demo_prints_any_speed_in_a_few_characters() -> None:
    result = runner.invoke(app, ["demo", "--plain", "--speed", "1e300", "--duration", "0.5"])
    assert result.exit_code == 0, result.output
    assert "playing 24 simulated hours at x1e+300\n" in result.stdout


def test_detectors_lists_every_registered_step() -> None:
    result = runner.invoke(app, ["detectors", "--json"])
    assert result.exit_code == 0, result.output
    steps = {step["name"]: step for step in json.loads(result.stdout)}
    assert steps["last_value"]["kind"] == "Transformer"
    assert steps["default"]["kind"] == "Detector"
    parameters = {p["name"]: p for p in steps["default"]["parameters"]}
    assert parameters and all(not p["required"] for p in parameters.values())
    table = runner.invoke(app, ["detectors"], env={"COLUMNS": "200"})
    assert table.exit_code == 0
    assert all(name in table.stdout for name in steps)


def fake_nab_folder(tmp_path: Path) -> Path:
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "combined_windows.json").write_text("{}")
    (tmp_path / "results").mkdir()
    published = {
        "numenta": {"standard": 70.1, "reward_low_FP_rate": 63.1, "reward_low_FN_rate": 74.3},
        "null": {"standard": 0.0, "reward_low_FP_rate": 0.0, "reward_low_FN_rate": 0.0},
    }
    (tmp_path / "results" / "final_results.json").write_text(json.dumps(published))
    return tmp_path


def fake_nab_result(**kwargs: Any) -> dict[str, Any]:
    profiles = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
    per_profile = {
        "scores": dict(zip(profiles, (66.6, 55.5, 77.7), strict=True)),
        "thresholds": dict.fromkeys(profiles, 0.5),
        "scores_own_threshold": dict(zip(profiles, (44.4, 33.3, 22.2), strict=True)),
    }
    if kwargs["progress"] is not None:
        kwargs["progress"](1, 1)
    return {
        "detector": kwargs["detector"],
        "params": kwargs["params"],
        **per_profile,
        "halves": {"A": per_profile, "B": per_profile},
        "files": 1,
    }


def test_bench_nab_ranks_us_among_the_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(edgewise.bench.nab, "run_nab", fake_nab_result, raising=False)
    out = tmp_path / "nab.json"
    result = runner.invoke(
        app,
        ["bench", "nab", "--data", str(fake_nab_folder(tmp_path)), "--json", str(out)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    names = ("Numenta HTM", "edgewise default", "null")
    rows = [line for line in result.stdout.splitlines() if any(f" {n} " in line for n in names)]
    assert [next(n for n in names if f" {n} " in row) for row in rows[:3]] == list(names)
    assert "66.60" in result.stdout and "44.40" in result.stdout
    saved = json.loads(out.read_text())
    assert saved["scores"]["standard"] == 66.6
    assert {"commit", "date", "cpu", "python", "versions"} <= set(saved)


def test_bench_throughput_and_quality_print_and_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    throughput = types.ModuleType("edgewise.bench.throughput")
    throughput.run_throughput = lambda **kw: {"edgewise_one_per_s": 123456.0, "runs": {"x": [1]}}  # type: ignore[attr-defined]
    quality = types.ModuleType("edgewise.bench.quality")
    quality.run_quality = lambda **kw: {"seed": kw["seed"], "mae": {"last_value": 0.25}}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "edgewise.bench.throughput", throughput)
    monkeypatch.setitem(sys.modules, "edgewise.bench.quality", quality)
    out = tmp_path / "t.json"
    result = runner.invoke(app, ["bench", "throughput", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "123,456" in result.stdout
    assert json.loads(out.read_text())["edgewise_one_per_s"] == 123456.0
    result = runner.invoke(app, ["bench", "quality", "--seed", "7", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "mae.last_value" in result.stdout
    saved = json.loads(out.read_text())
    assert saved["seed"] == 7 and "commit" in saved


def test_bench_tep_and_degradation_print_and_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rates = {"detection_rate": 0.5, "false_alarm_rate": 0.0, "first_detection_delay": None}
    tep = types.ModuleType("edgewise.bench.tep")
    tep.run_tep = lambda **kw: {  # type: ignore[attr-defined]
        "tep_mean_detection_rate": 0.9375,
        "tep_per_fault": {"1": rates},
        "pca_t2_per_fault": {"1": rates},
        "pca_spe_per_fault": {"1": rates},
        "faults": [1],
    }
    degradation = types.ModuleType("edgewise.bench.degradation")
    degradation.run_degradation = lambda **kw: {  # type: ignore[attr-defined]
        "cmapss_median_lead_cycles": 77.0,
        "alarm_cycles": {"1": 100},
    }
    monkeypatch.setitem(sys.modules, "edgewise.bench.tep", tep)
    monkeypatch.setitem(sys.modules, "edgewise.bench.degradation", degradation)
    out = tmp_path / "t.json"
    result = runner.invoke(app, ["bench", "tep", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "0.9375" in result.stdout and "0.500" in result.stdout
    assert json.loads(out.read_text())["tep_mean_detection_rate"] == 0.9375
    result = runner.invoke(app, ["bench", "degradation", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "cmapss_median_lead_cycles" in result.stdout and "alarm_cycles" not in result.stdout
    saved = json.loads(out.read_text())
    assert saved["alarm_cycles"] == {"1": 100} and "commit" in saved


@pytest.mark.parametrize("group", [[], ["bench"]], ids=["edgewise", "bench"])
def test_a_bare_group_shows_its_help(group: list[str]) -> None:
    result = runner.invoke(app, group)
    assert result.exit_code == 0
    assert "Usage: edgewise" in result.stdout and "Commands" in result.stdout
    assert result.stderr == ""


def test_bench_without_its_dataset_is_bad_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "nab", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no NAB corpus" in result.stderr
