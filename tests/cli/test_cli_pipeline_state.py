"""``edgewise detect`` with pipeline specs and versioned state files."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from edgewise.cli import app
from edgewise.stream import load_state

runner = CliRunner()

SPEC = """\
version: 1
steps:
  - step: range_limit
    params: {low: -40, high: 125}
  - step: last_value
  - step: default
    params: {warmup: 50}
"""


def _frame(n: int = 400, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    temp = 20.0 + np.sin(np.arange(n) / 10.0) + rng.normal(0.0, 0.05, n)
    if n > 300:
        temp[300] = 35.0
        temp[120] = 900.0  # beyond the range limit: becomes missing, then imputed
    return pd.DataFrame(
        {
            "time": pd.date_range("2024-05-01", periods=n, freq="min").strftime("%Y-%m-%dT%H:%M"),
            "temp": temp.round(4),
        }
    )


def _detect(*args: str | Path, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["detect", *map(str, args)], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), keep_default_na=False, dtype={"is_anomaly": str})


def test_a_pipeline_spec_runs(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "spec.yaml").write_text(SPEC)
    code, out, err = _detect(tmp_path / "in.csv", "--pipeline", tmp_path / "spec.yaml", "-o", "-")
    assert code == 0, err
    scored = _read(out)
    assert len(scored) == 400 and scored["seq"].tolist() == list(range(400))
    assert scored.loc[300, "is_anomaly"] == "true"
    assert scored.loc[120, "is_anomaly"] == "false"  # the range limit took the 900 out


def test_a_pipeline_that_makes_readings_writes_one_row_per_detection(tmp_path: Path) -> None:
    frame = _frame(200)
    frame = frame.drop(index=range(50, 60))  # ten minutes missing: the grid fills them
    frame.to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "spec.yaml").write_text(
        "version: 1\nsteps:\n"
        "  - {step: resample, params: {period: 60}}\n"
        "  - {step: default, params: {warmup: 50}}\n"
    )
    code, out, err = _detect(tmp_path / "in.csv", "--pipeline", tmp_path / "spec.yaml", "-o", "-")
    assert code == 0, err
    scored = _read(out)
    assert len(scored) == 200 and scored["seq"].tolist() == list(range(200))
    assert scored.loc[55, "timestamp"] == "2024-05-01T00:55:00+00:00"  # made by the grid
    assert scored.loc[61, "timestamp"] == "2024-05-01T01:01"  # as the input wrote it


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("version: 1\nsteps: [{step: hampel, params: {window: x}}]\n", "step 1 (hampel)"),
        ("version: 1\nsteps: [{step: last_value}]\n", "must end with a detector"),
        ("version: 1\nsteps: [{step: default\n", "spec.yaml:"),
    ],
)
def test_a_bad_spec_is_one_line_and_exit_code_2(tmp_path: Path, spec: str, message: str) -> None:
    _frame().to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "spec.yaml").write_text(spec)
    code, _, err = _detect(tmp_path / "in.csv", "--pipeline", tmp_path / "spec.yaml", "-o", "-")
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_pipeline_and_detector_are_exclusive(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "spec.yaml").write_text(SPEC)
    code, _, err = _detect(
        tmp_path / "in.csv", "--pipeline", tmp_path / "spec.yaml", "--detector", "cusum", "-o", "-"
    )
    assert code == 2 and "drop --detector" in err


def test_the_state_is_versioned_and_holds_the_pipeline(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "in.csv", index=False)
    state = tmp_path / "detect.state"
    assert _detect(tmp_path / "in.csv", "--state", state, "-o", "-")[0] == 0
    assert state.read_bytes()[:2] == b"PK"  # an .npz archive, not a pickle
    pipeline, meta = load_state(state)
    assert pipeline.to_spec()["steps"] == [
        {"step": "last_value", "params": {}},
        {"step": "default", "params": {}},
    ]
    assert meta["columns"] == ["temp"] and meta["judged"] == {"": 400}


def test_the_reference_is_learned_once_not_on_every_resume(tmp_path: Path) -> None:
    frame = _frame(400)
    frame[:200].to_csv(tmp_path / "first.csv", index=False)
    frame[200:].to_csv(tmp_path / "second.csv", index=False)
    frame.to_csv(tmp_path / "all.csv", index=False)
    _frame(300, seed=5).to_csv(tmp_path / "normal.csv", index=False)
    reference = ["--reference", str(tmp_path / "normal.csv")]
    code, whole, err = _detect(tmp_path / "all.csv", *reference, "-o", "-")
    assert code == 0, err
    state = tmp_path / "s.state"
    parts = []
    for part in ("first", "second"):
        code, out, err = _detect(tmp_path / f"{part}.csv", *reference, "--state", state, "-o", "-")
        assert code == 0, err
        parts.append(_read(out))
    assert "not learning it again" in err
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), _read(whole))


def test_a_state_in_a_missing_folder_fails_before_any_work(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "in.csv", index=False)
    code, _, err = _detect(tmp_path / "in.csv", "--state", tmp_path / "no" / "s.state", "-o", "-")
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err


def test_an_old_pickled_state_is_exit_code_2(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "in.csv", index=False)
    state = tmp_path / "old.state"
    state.write_bytes(pickle.dumps({"format": "edgewise-detect-state/1"}))
    code, _, err = _detect(tmp_path / "in.csv", "--state", state, "-o", "-")
    assert code == 2 and err.count("\n") == 1 and "pickled state file" in err


def test_a_state_of_another_release_is_exit_code_2(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "in.csv", index=False)
    state = tmp_path / "s.state"
    state.write_text('{"format": "edgewise-state", "version": 2}')
    code, _, err = _detect(tmp_path / "in.csv", "--state", state, "-o", "-")
    assert code == 2 and "state format version 2; this edgewise reads version 1" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--detector", "online_kmeans", "--param", "seed=null"], None),
        (["--detector", "river", "--param", "model=HalfSpaceTrees"], "River model object"),
        (["--columns", "temp", "--param", "threshold=high"], "parameter 'threshold'"),
    ],
)
def test_detector_parameters_from_the_command_line(
    tmp_path: Path, args: list[str], message: str | None
) -> None:
    _frame().to_csv(tmp_path / "in.csv", index=False)
    code, _, err = _detect(tmp_path / "in.csv", *args, "-o", "-")
    if message is None:
        assert code == 0, err
    else:
        assert code == 2 and err.count("\n") == 1 and message in err, err


def test_relearn_forgets_and_takes_what_follows_as_the_new_normal(tmp_path: Path) -> None:
    before = _frame(300, seed=1)
    after = _frame(300, seed=2)
    after["temp"] += 10.0  # a new operating point, on purpose
    before.to_csv(tmp_path / "before.csv", index=False)
    after.to_csv(tmp_path / "after.csv", index=False)
    state = tmp_path / "s.state"
    assert _detect(tmp_path / "before.csv", "--state", state, "-o", "-")[0] == 0
    code, out, err = _detect(tmp_path / "after.csv", "--state", state, "-o", "-")
    assert _read(out).loc[0, "is_anomaly"] == "true"  # without relearn: all of it is abnormal
    state.unlink()
    assert _detect(tmp_path / "before.csv", "--state", state, "-o", "-")[0] == 0
    code, out, err = _detect(
        tmp_path / "after.csv", "--state", state, "--relearn", "--warmup", "200", "-o", "-"
    )
    assert code == 0, err
    relearned = _read(out)
    assert relearned.loc[0, "events"] == "relearn" and "start afresh" in err
    assert (relearned["is_anomaly"][:200] == "false").all()


def test_relearn_needs_a_state(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "in.csv", index=False)
    code, _, err = _detect(tmp_path / "in.csv", "--relearn", "-o", "-")
    assert code == 2 and "--relearn needs the --state file" in err
