"""edgewise train / compress / export c on a small CSV of samples."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from models_synthetic import recordings
from typer.testing import CliRunner

from edgewise.cli import app
from edgewise.models import Model


@pytest.fixture
def samples_csv(tmp_path: Path) -> Path:
    rows = [
        {"recording": r.name, "label": r.label, "value": v}
        for r in recordings(samples=2048)
        for v in r.samples
    ]
    path = tmp_path / "samples.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_train_compress_export(samples_csv: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    model = tmp_path / "m.ewm"
    common = [
        "--window",
        "128",
        "--stride",
        "64",
        "--bands",
        "8",
        "--hidden",
        "4,8",
        "--folds",
        "2",
    ]
    done = runner.invoke(
        app, ["train", str(samples_csv), "-o", str(model), "--sample-rate", "1000", *common]
    )
    assert done.exit_code == 0, done.output
    assert "CV at 0 dB SNR" in done.output and "test accuracy" in done.output
    lineage = Model.load(model).artifact.manifest["lineage"]
    assert {"source", "code_version", "commit", "seed", "metrics", "cv"} <= set(lineage)
    done = runner.invoke(app, ["compress", str(model), str(samples_csv)])
    assert done.exit_code == 0, done.output
    assert "int8" in done.output
    small = tmp_path / "m-int8.ewm"
    assert Model.load(small).precision == "int8"
    done = runner.invoke(app, ["compress", str(small), str(samples_csv)])
    assert done.exit_code == 2
    assert "already int8" in done.output
    done = runner.invoke(app, ["export", "c", str(small), "-o", str(tmp_path / "c")])
    assert done.exit_code == 0, done.output
    assert "EW_INT8 1" in (tmp_path / "c" / "ew_model.h").read_text()


def test_bad_input_is_one_line_and_exit_2(samples_csv: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["train", str(samples_csv), "--label", "nope"])
    assert done.exit_code == 2
    assert "no column nope" in done.output
    bogus = tmp_path / "bogus.ewm"
    bogus.write_text("x")
    done = runner.invoke(app, ["export", "c", str(bogus), "-o", str(tmp_path)])
    assert done.exit_code == 2
    assert "not a readable edgewise model" in done.output
