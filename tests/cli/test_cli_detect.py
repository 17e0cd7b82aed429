"""``edgewise detect`` end to end on small CSV files, with a stand-in detector."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from edgewise.cli import app
from edgewise.stream import Detector, Explanation, Values, Verdict, _registry

runner = CliRunner()


class RunningZ(Detector):
    """Flags a reading whose largest |z| against running means and variances exceeds ``k``."""

    def __init__(self, *, k: float = 4.0) -> None:
        self.k = k

    def _start(self) -> None:
        if not hasattr(self, "n_"):
            if self.k <= 0:
                raise ValueError("k must be positive")
            self.n_: dict[str, int] = {}
            self.mean_: dict[str, float] = {}
            self.m2_: dict[str, float] = {}

    def learn_one(self, x: Values) -> None:
        self._start()
        for name, value in x.items():
            if math.isnan(value):
                continue
            n = self.n_.get(name, 0) + 1
            mean = self.mean_.get(name, 0.0)
            delta = value - mean
            self.n_[name], self.mean_[name] = n, mean + delta / n
            self.m2_[name] = self.m2_.get(name, 0.0) + delta * (value - self.mean_[name])

    def _z(self, x: Values) -> tuple[float, str]:
        worst, culprit = 0.0, ""
        for name, value in x.items():
            n = getattr(self, "n_", {}).get(name, 0)
            if n < 10 or math.isnan(value):
                continue
            sd = math.sqrt(self.m2_[name] / (n - 1)) + 1e-9
            z = abs(value - self.mean_[name]) / sd
            if z > worst:
                worst, culprit = z, name
        return worst, culprit

    def score_one(self, x: Values) -> float:
        return 1.0 - math.exp(-self._z(x)[0] / self.k)

    def detect_one(self, x: Values) -> Verdict:
        self._start()
        z, culprit = self._z(x)
        flagged = z > self.k
        explanation = None
        if flagged:
            explanation = Explanation(culprit, x[culprit], self.mean_[culprit], z)
        else:
            self.learn_one(x)
        return Verdict(1.0 - math.exp(-z / self.k), flagged, flagged, explanation)


class Broken(RunningZ):
    """A detector with a bug: its failure is an internal error, not bad input."""

    def detect_one(self, x: Values) -> Verdict:
        raise RuntimeError("broken on purpose")


@pytest.fixture(autouse=True)
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the stand-ins available by name for these tests only."""
    monkeypatch.setitem(_registry._STEPS, "running_z", RunningZ)
    monkeypatch.setitem(_registry._NAMES, RunningZ, "running_z")
    monkeypatch.setitem(_registry._STEPS, "broken", Broken)
    yield


def readings(n: int = 60, *, seed: int = 0, spike_at: int | None = 45) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2024-05-01", periods=n, freq="min").strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "temp": (20.0 + rng.normal(0.0, 0.5, n)).round(3),
            "label": ["x"] * n,
            "rpm": (1500.0 + rng.normal(0.0, 10.0, n)).round(1),
        }
    )
    if spike_at is not None:
        frame.loc[spike_at, "temp"] = 40.0
    return frame


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["detect", *map(str, args), "--detector", "running_z"])
    return result.exit_code, result.stdout, result.stderr


OUTPUT_COLUMNS = ["timestamp", "seq", "score", "is_anomaly", "alarm", "explanation", "events"]


def scores(path: Path) -> pd.DataFrame:
    return pd.read_csv(
        path, keep_default_na=False, dtype={"is_anomaly": str, "alarm": str, "explanation": str}
    )


def test_defaults_infer_timestamp_and_numeric_columns(tmp_path: Path) -> None:
    readings().to_csv(tmp_path / "in.csv", index=False)
    code, _, err = run(tmp_path / "in.csv", "-o", tmp_path / "out.csv")
    assert code == 0, err
    out = scores(tmp_path / "out.csv")
    assert list(out.columns) == OUTPUT_COLUMNS
    assert out["timestamp"].tolist() == readings()["time"].tolist()
    assert out["is_anomaly"].tolist().count("true") == 1
    assert out.loc[45, "is_anomaly"] == "true"
    assert out.loc[45, "explanation"].startswith("temp=40")
    assert "columns temp, rpm" in err


def test_columns_make_one_multivariate_model(tmp_path: Path) -> None:
    frame = readings(spike_at=None)
    frame.loc[50, "rpm"] = 2000.0
    frame.to_csv(tmp_path / "in.csv", index=False)
    code, _, err = run(tmp_path / "in.csv", "--columns", "temp,rpm", "-o", tmp_path / "both.csv")
    assert code == 0, err
    both = scores(tmp_path / "both.csv")
    assert both.loc[50, "explanation"].startswith("rpm=2000")
    code, _, err = run(tmp_path / "in.csv", "--columns", "temp", "-o", tmp_path / "temp.csv")
    assert code == 0, err
    assert "true" not in scores(tmp_path / "temp.csv")["is_anomaly"].tolist()


SECONDS = 1_714_521_600 + 60 * np.arange(60)  # 2024-05-01 00:00 UTC on, a minute apart


@pytest.mark.parametrize(
    ("stamps", "args", "timestamp", "values"),
    [
        ({"t": SECONDS}, [], "t", "temp, rpm"),
        ({"t": SECONDS * 1000}, [], "t", "temp, rpm"),
        ({"t": SECONDS + 0.25}, [], "t", "temp, rpm"),
        ({"Time": np.arange(60) * 0.5}, [], "Time", "temp, rpm"),
        ({"counter": SECONDS, "TS": np.arange(60)}, [], "TS", "counter, temp, rpm"),
        ({"counter": SECONDS, "time": readings()["time"]}, [], "time", "counter, temp, rpm"),
        ({"counter": SECONDS, "t": SECONDS}, ["--columns", "counter,temp"], "t", "counter, temp"),
    ],
    ids=[
        "epoch seconds",
        "epoch milliseconds",
        "fractional seconds",
        "named time",
        "a name before a range",
        "text times first",
        "not a value column",
    ],
)
def test_epoch_timestamps_are_found_and_echoed(
    tmp_path: Path, stamps: dict[str, object], args: list[str], timestamp: str, values: str
) -> None:
    frame = pd.concat([pd.DataFrame(stamps), readings()[["temp", "rpm"]]], axis=1)
    frame.to_csv(tmp_path / "in.csv", index=False)
    code, _, err = run(tmp_path / "in.csv", *args, "-o", tmp_path / "out.csv")
    assert code == 0, err
    assert f"columns {values}:" in err
    out = pd.read_csv(tmp_path / "out.csv", dtype={"timestamp": str})
    assert (
        out["timestamp"].tolist() == pd.read_csv(tmp_path / "in.csv", dtype=str)[timestamp].tolist()
    )


def test_long_format_has_one_model_per_stream(tmp_path: Path) -> None:
    # Two streams at very different levels: one shared model would flag the whole second stream.
    a, b = readings(spike_at=10), readings(seed=1, spike_at=None)
    b["temp"] += 100.0
    a["device"], b["device"] = "a", "b"
    long = pd.concat([a, b]).sort_values("time", kind="stable")
    long[["device", "time", "temp"]].to_csv(tmp_path / "in.csv", index=False)
    code, _, err = run(
        tmp_path / "in.csv", "--stream", "device", "--param", "k=6", "-o", tmp_path / "out.csv"
    )
    assert code == 0, err
    out = scores(tmp_path / "out.csv")
    assert list(out.columns) == ["device", *OUTPUT_COLUMNS]
    assert out["device"].tolist() == long["device"].tolist()
    flagged = out[out["is_anomaly"] == "true"]
    assert flagged["device"].tolist() == ["a"]
    assert flagged["timestamp"].tolist() == [a.loc[10, "time"]]
    assert "2 stream(s)" in err


def test_separator_and_decimal_comma(tmp_path: Path) -> None:
    readings().to_csv(tmp_path / "in.csv", index=False, sep=";", decimal=",")
    code, _, err = run(tmp_path / "in.csv", "--sep", ";", "--decimal", ",", "-o", "-")
    assert code == 0, err
    readings().to_csv(tmp_path / "plain.csv", index=False)
    assert run(tmp_path / "plain.csv", "-o", "-")[1] == _
    assert "temp=40" in _


@pytest.mark.parametrize("sep", [";;", "||", "", '"'], ids=["two", "regex-like", "none", "quote"])
def test_separator_is_one_character(tmp_path: Path, sep: str) -> None:
    # pandas reads a longer separator as a regular expression: "||" would split everywhere.
    readings().to_csv(tmp_path / "in.csv", index=False, sep=sep[:1] or ",")
    code, _, err = run(tmp_path / "in.csv", "--sep", sep, "-o", "-")
    assert code == 2
    assert err.count("\n") == 1 and "'--sep'" in err and "use one character other than" in err
    readings().to_csv(tmp_path / "tab.csv", index=False, sep="\t")
    assert run(tmp_path / "tab.csv", "--sep", "\\t", "-o", "-")[0] == 0


def test_encoding_reads_a_latin_1_file(tmp_path: Path) -> None:
    frame = readings()
    frame["site"] = np.where(np.arange(60) == 2, "Genève", "Basel")  # the è on line 4
    frame[["site", "time", "temp"]].to_csv(tmp_path / "in.csv", index=False, encoding="latin-1")
    code, _, err = run(tmp_path / "in.csv", "--stream", "site", "-o", tmp_path / "out.csv")
    assert code == 2 and err.count("\n") == 1, err
    assert "in.csv: line 4 is not utf-8 text (byte 0xe8); name the file's encoding with --" in err
    options = ["--stream", "site", "--encoding", "latin-1", "-o", tmp_path / "out.csv"]
    code, _, err = run(tmp_path / "in.csv", *options)
    assert code == 0, err
    out = pd.read_csv(tmp_path / "out.csv", encoding="utf-8")  # what is written is UTF-8
    assert out["site"].tolist() == frame["site"].tolist()
    code, _, err = run(tmp_path / "in.csv", "--encoding", "base64", "-o", "-")
    assert code == 2 and "'--encoding': 'base64' is not a text encoding" in err, err


def test_stdin_to_stdout(tmp_path: Path) -> None:
    text = readings().to_csv(index=False)
    result = runner.invoke(app, ["detect", "-", "-o", "-", "--detector", "running_z"], input=text)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 61


def test_missing_cells_are_imputed_and_counted(tmp_path: Path) -> None:
    frame = readings(spike_at=None)
    frame.loc[[5, 6, 30], "temp"] = np.nan
    frame.loc[7, "rpm"] = np.nan
    frame.to_csv(tmp_path / "in.csv", index=False, na_rep="NA")
    code, _, err = run(tmp_path / "in.csv", "-o", tmp_path / "out.csv")
    assert code == 0, err
    assert "4 missing cells imputed" in err
    assert len(scores(tmp_path / "out.csv")) == 60


def with_cell(row: int, column: str, text: str) -> pd.DataFrame:
    frame = readings().astype(str)
    frame.loc[row, column] = text
    return frame


@pytest.mark.parametrize(
    ("frame", "args", "message"),
    [
        (readings().drop(columns="rpm"), ["--columns", "temp,rpm"], "no column 'rpm'"),
        (readings(), ["--columns", ""], "'--columns': empty; name one or more columns"),
        (readings(), ["--columns", " temp,rpm,temp"], "'temp' named more than once"),
        (with_cell(11, "time", "soon"), [], "line 13, column 'time': 'soon' is not a time"),
        (with_cell(4, "temp", "hot"), [], "line 6, column 'temp': 'hot' is not a number"),
        (with_cell(4, "rpm", "inf"), [], "line 6, column 'rpm': 'inf' is not a finite number"),
    ],
    ids=[
        "missing column",
        "no columns",
        "a column twice",
        "bad timestamp",
        "not a number",
        "infinite",
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, frame: pd.DataFrame, args: list[str], message: str
) -> None:
    frame.to_csv(tmp_path / "in.csv", index=False)
    code, _, err = run(tmp_path / "in.csv", *args, "-o", tmp_path / "out.csv")
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err and not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,temp\n\n09:00,20.1\n\n\n09:01,warm\n", "line 6, column 'temp': 'warm'"),
        ("time,temp\n09:00,20.1\n  \n\t\n09:01,warm\n", "line 5, column 'temp': 'warm'"),
        ("time,temp\r\n09:00,20.1\r\n\r\n09:01,warm\r\n", "line 4, column 'temp': 'warm'"),
        ("time,temp\r09:00,20.1\r\r09:01,warm\r", "line 4, column 'temp': 'warm'"),
        (
            'time,note,temp\n09:00,"two\n\nlines",20.1\n09:01,"a ""b""\nc",warm\n',
            "line 5, column 'temp': 'warm'",
        ),
        ('time,note,temp\n09:00,"one\nmore",hot\n', "line 2, column 'temp': 'hot'"),
        ('time,note,temp\n09:00,x,20\n""\n09:01,x,21\n', "line 3, column 'time': missing time"),
        ("time,temp\n09:00,20.1\n\nsoon,20.2\n", "line 4, column 'time': 'soon' is not a time"),
    ],
    ids=[
        "blank lines",
        "white lines",
        "crlf",
        "cr",
        "quoted line breaks",
        "the row's own line",
        "a quoted empty field is a row",
        "bad timestamp",
    ],
)
def test_errors_name_the_line_of_the_file(tmp_path: Path, text: str, message: str) -> None:
    # pandas skips blank lines and reads quoted line breaks: the row index is no line number.
    (tmp_path / "in.csv").write_bytes(text.encode())
    options = ["--timestamp", "time", "--columns", "temp", "-o", "-"]
    code, _, err = run(tmp_path / "in.csv", *options)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    result = runner.invoke(app, ["detect", "-", *options], input=text)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("output", "args", "message"),
    [
        ("in.csv", [], "-o {tmp}/in.csv is the same file as INPUT {tmp}/in.csv;"),
        ("sub/../in.csv", [], "is the same file as INPUT"),
        ("link.csv", [], "is the same file as INPUT"),
        ("hard.csv", [], "is the same file as INPUT"),
        ("normal.csv", ["--reference", "normal.csv"], "is the same file as --reference"),
        ("model.state", ["--state", "model.state"], "is the same file as --state"),
    ],
    ids=["same path", "another path", "symbolic link", "hard link", "reference", "state"],
)
def test_output_never_overwrites_a_file_it_reads(
    tmp_path: Path, output: str, args: list[str], message: str
) -> None:
    readings().to_csv(tmp_path / "in.csv", index=False)
    readings(seed=3).to_csv(tmp_path / "normal.csv", index=False)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(tmp_path / "in.csv")
    (tmp_path / "hard.csv").hardlink_to(tmp_path / "in.csv")
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.csv")}
    code, _, err = run(
        tmp_path / "in.csv",
        *[tmp_path / a if a.endswith((".csv", ".state")) else a for a in args],
        "-o",
        tmp_path / output,
    )
    assert code == 2
    assert err.count("\n") == 1 and message.format(tmp=tmp_path) in err, err
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.csv")} == before
    assert not (tmp_path / "model.state").exists()


def test_a_huge_value_is_explained_in_a_few_characters(tmp_path: Path) -> None:
    frame = readings(spike_at=None)
    frame.loc[45, "temp"] = 1e300  # finite, some 1e300 spreads from normal
    frame.to_csv(tmp_path / "in.csv", index=False)
    code, _, err = run(tmp_path / "in.csv", "-o", tmp_path / "out.csv")
    assert code == 0, err
    explanation = scores(tmp_path / "out.csv").loc[45, "explanation"]
    assert re.fullmatch(r"temp=1e\+300 is \d\.\d\de\+300 spreads above normal 20\.\d+", explanation)


def test_warmup_rows_are_never_flagged_but_scored(tmp_path: Path) -> None:
    readings(spike_at=20).to_csv(tmp_path / "in.csv", index=False)
    code, _, err = run(tmp_path / "in.csv", "--warmup", "30", "-o", tmp_path / "out.csv")
    assert code == 0, err
    out = scores(tmp_path / "out.csv")
    assert "true" not in out["is_anomaly"].tolist()
    assert out.loc[20, "score"] > 0.9  # scored before it was learned
    code, _, err = run(tmp_path / "in.csv", "-o", tmp_path / "cold.csv")
    assert scores(tmp_path / "cold.csv").loc[20, "is_anomaly"] == "true"


def test_reference_is_learned_first(tmp_path: Path) -> None:
    # Without a reference the first readings are unknown ground: a shift at row 5 goes unflagged.
    frame = readings(spike_at=None)
    frame.loc[5, "temp"] = 30.0
    frame.to_csv(tmp_path / "in.csv", index=False)
    readings(seed=3, spike_at=None).to_csv(tmp_path / "normal.csv", index=False)
    run(tmp_path / "in.csv", "-o", tmp_path / "cold.csv")
    assert scores(tmp_path / "cold.csv").loc[5, "is_anomaly"] == "false"
    code, _, err = run(
        tmp_path / "in.csv", "--reference", tmp_path / "normal.csv", "-o", tmp_path / "out.csv"
    )
    assert code == 0, err
    assert scores(tmp_path / "out.csv").loc[5, "is_anomaly"] == "true"


@pytest.mark.parametrize("stream", [False, True], ids=["one stream", "long format"])
def test_state_resume_equals_a_single_run(tmp_path: Path, stream: bool) -> None:
    frame = readings(80, spike_at=70)
    frame.loc[[39, 40], "temp"] = np.nan  # the last value must carry over the cut
    if stream:
        frame["device"] = np.where(np.arange(80) % 3 == 0, "a", "b")
    options = ["--warmup", "25", *(["--stream", "device"] if stream else [])]
    frame.to_csv(tmp_path / "all.csv", index=False)
    frame[:40].to_csv(tmp_path / "first.csv", index=False)
    frame[40:].to_csv(tmp_path / "second.csv", index=False)
    assert run(tmp_path / "all.csv", *options, "-o", tmp_path / "all.out")[0] == 0
    state = tmp_path / "model.state"
    for part in ("first", "second"):
        code, _, err = run(
            tmp_path / f"{part}.csv", *options, "--state", state, "-o", tmp_path / f"{part}.out"
        )
        assert code == 0, err
    assert "resuming" in err
    joined = pd.concat([scores(tmp_path / "first.out"), scores(tmp_path / "second.out")])
    pd.testing.assert_frame_equal(joined.reset_index(drop=True), scores(tmp_path / "all.out"))


def test_state_of_other_columns_is_refused(tmp_path: Path) -> None:
    readings().to_csv(tmp_path / "in.csv", index=False)
    state = tmp_path / "model.state"
    assert run(tmp_path / "in.csv", "--state", state, "-o", "-")[0] == 0
    code, _, err = run(tmp_path / "in.csv", "--columns", "temp", "--state", state, "-o", "-")
    assert code == 2 and "was saved for columns" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--detector", "no_such_thing"], "no detector named 'no_such_thing'"),
        (["--param", "k=abc"], "parameter 'k'"),
        (["--param", "q=1"], "unknown parameter 'q'"),
        (["--param", "k=-1"], "k must be positive"),
    ],
)
def test_bad_detector_options(tmp_path: Path, args: list[str], message: str) -> None:
    readings().to_csv(tmp_path / "in.csv", index=False)
    result = runner.invoke(
        app, ["detect", str(tmp_path / "in.csv"), "-o", "-", "--detector", "running_z", *args]
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["none.csv"], "none.csv: No such file"),
        (["bad.csv"], "line 6, column 'temp': 'hot' is not a number"),
        (["bad.csv", "--warmup", "-3"], "--warmup"),
    ],
    ids=["missing file", "bad cell", "bad option"],
)
def test_debug_keeps_bad_input_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    with_cell(4, "temp", "hot").to_csv(tmp_path / "bad.csv", index=False)
    result = runner.invoke(
        app, ["--debug", "detect", str(tmp_path / args[0]), *args[1:], "-o", "-"]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_debug_shows_the_traceback_of_an_internal_error(tmp_path: Path) -> None:
    readings().to_csv(tmp_path / "in.csv", index=False)
    args = ["detect", str(tmp_path / "in.csv"), "-o", "-", "--detector", "broken"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "RuntimeError: broken on purpose (rerun with --debug" in result.stderr
    result = runner.invoke(app, ["--debug", *args])
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
    shown = runner.invoke(app, ["--help"]).stdout
    assert "--debug" in shown and "internal error" in " ".join(shown.replace("│", " ").split())


def test_the_default_detector_by_default(tmp_path: Path) -> None:
    frame = readings(400, spike_at=None)
    frame.loc[350, "temp"] = 60.0
    frame.to_csv(tmp_path / "in.csv", index=False)
    result = runner.invoke(
        app, ["detect", str(tmp_path / "in.csv"), "--columns", "temp", "-o", "-"]
    )
    assert result.exit_code == 0, result.stderr
    out = pd.read_csv(io.StringIO(result.stdout), dtype={"is_anomaly": str})
    assert len(out) == 400 and out.loc[350, "is_anomaly"] == "true"
