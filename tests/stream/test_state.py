"""Versioned state: committed files load and continue exactly; bad files fail in one clear line.

The committed files in ``fixtures/`` were written by the current state format. When a step's
state layout changes (its ``state_version`` is bumped), regenerate them with
``python tests/stream/test_state.py`` and commit the result.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgewise.checks import interleave
from edgewise.clean import Hampel, RangeLimit
from edgewise.detect import DefaultDetector, RiverDetector, WindowedGaussian
from edgewise.stream import Pipeline, Reading, StateError, Step, load_state, save_state

FIXTURES = Path(__file__).parent / "fixtures"
STREAMS = ("boiler-1", "boiler-2", "pump/3")


def _readings(start: int, stop: int) -> list[Reading]:
    """Three interleaved streams with spikes and a level shift, the same on every run."""
    per_stream = []
    for k, name in enumerate(STREAMS):
        rng = np.random.default_rng(k)
        n = 1000
        x = 20.0 + 2.0 * np.sin(np.arange(n) / (10.0 + k)) + rng.normal(0.0, 0.1, n)
        x[[250, 620, 700]] += 15.0
        x[600:] += 8.0
        per_stream.append(
            [Reading(name, 60.0 * i, {"temp": float(x[i])}) for i in range(start, stop)]
        )
    return interleave(*per_stream)


def _fixture_steps() -> dict[str, Step]:
    return {
        "pipeline": Pipeline(RangeLimit(low=-40.0, high=125.0), Hampel(), DefaultDetector()),
        "gaussian": Pipeline(
            Hampel(action="flag"), WindowedGaussian(window=50, warmup=30, calibration_window=100)
        ),
    }


def _outputs(step: Step, readings: list[Reading]) -> list[list[Any]]:
    return [
        [r.stream, r.seq, d.score, d.is_anomaly, d.alarm, str(d.explanation or "")]
        for r in step.update_many(readings)
        for d in r.detections
    ]


def regenerate() -> None:
    """Write the committed state files and the outputs that must follow them."""
    FIXTURES.mkdir(exist_ok=True)
    for name, step in _fixture_steps().items():
        step.update_many(_readings(0, 400))
        kind = "npz" if name == "pipeline" else "json"
        save_state(step, FIXTURES / f"{name}.state.{kind}", kind=kind)
        expected = _outputs(step, _readings(400, 700))
        (FIXTURES / f"{name}.expected.json").write_text(json.dumps(expected) + "\n")


@pytest.mark.parametrize(("name", "kind"), [("pipeline", "npz"), ("gaussian", "json")])
def test_committed_state_files_continue_exactly(name: str, kind: str) -> None:
    step, meta = load_state(FIXTURES / f"{name}.state.{kind}")
    assert meta == {} and step.streams == list(STREAMS)
    expected = json.loads((FIXTURES / f"{name}.expected.json").read_text())
    got = _outputs(step, _readings(400, 700))
    assert got == expected
    assert any(row[3] for row in got)  # the continuation holds anomalies to find


def _saved() -> bytes:
    step = _fixture_steps()["pipeline"]
    step.update_many(_readings(0, 300))
    return save_state(step, meta={"columns": ["temp"]})


def _members(data: bytes) -> dict[str, np.ndarray[Any, Any]]:
    with np.load(io.BytesIO(data), allow_pickle=False) as members:
        return {name: members[name] for name in members.files}


def _npz(members: dict[str, np.ndarray[Any, Any]]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **members)  # type: ignore[arg-type]
    return buffer.getvalue()


def _with_header(data: bytes, edit: Any) -> bytes:
    members = _members(data)
    header = json.loads(str(members["header"]))
    edit(header)
    members["header"] = np.array(json.dumps(header))
    return _npz(members)


def test_meta_is_saved_beside_the_state() -> None:
    _, meta = load_state(_saved())
    assert meta == {"columns": ["temp"]}


def test_the_file_holds_no_pickle_and_loads_without_it() -> None:
    members = _members(_saved())
    assert all(a.dtype != object for a in members.values())
    with zipfile.ZipFile(io.BytesIO(_saved())) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())


def _one_line(error: pytest.ExceptionInfo[StateError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_an_unknown_format_version_is_one_clear_line() -> None:
    data = _with_header(_saved(), lambda h: h.update(version=99))
    with pytest.raises(StateError) as error:
        load_state(data)
    assert "state format version 99; this edgewise reads version 1" in _one_line(error)


def test_an_unknown_step_state_version_is_one_clear_line() -> None:
    def bump(header: dict[str, Any]) -> None:
        header["lanes"]["boiler-1"]["steps"][2]["version"] = 7

    with pytest.raises(StateError) as error:
        load_state(_with_header(_saved(), bump))
    message = _one_line(error)
    assert "stream 'boiler-1', step 3" in message
    assert "DefaultDetector has version 7; this edgewise reads version" in message


def test_an_array_of_the_wrong_shape_is_one_clear_line() -> None:
    members = _members(_saved())
    members["a0"] = members["a0"][:10]
    with pytest.raises(StateError) as error:
        load_state(_npz(members))
    assert re.search(r"state array 0 is float64 \(10,\), but the state says", _one_line(error))


def test_a_state_that_does_not_fit_its_parameters_is_one_clear_line() -> None:
    members = _members(_saved())
    header = json.loads(str(members["header"]))
    ref = header["lanes"]["boiler-1"]["steps"][2]["state"]["states_"]["temp"]
    short = members[f"a{ref['$array']}"][:100]
    members[f"a{ref['$array']}"] = short
    ref["shape"] = [100]
    members["header"] = np.array(json.dumps(header))
    with pytest.raises(StateError) as error:
        load_state(_npz(members))
    assert "input 'temp' has shape (100,); these parameters need" in _one_line(error)


def test_an_old_pickled_state_is_refused_in_one_line(tmp_path: Path) -> None:
    old = tmp_path / "old.state"
    old.write_bytes(pickle.dumps({"format": "edgewise-detect-state/1"}))
    with pytest.raises(StateError) as error:
        load_state(old)
    assert "a pickled state file from an older edgewise" in _one_line(error)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an edgewise state file"),
        (b"timestamp,value\n", "not an edgewise state file"),
        (b"PK\x03\x04broken", "a damaged state file"),
        (b'{"format": "edgewise-state", "version": 1, "spec": 3}', "a spec is a mapping"),
    ],
)
def test_files_that_are_not_state_are_one_clear_line(data: bytes, message: str) -> None:
    with pytest.raises(StateError) as error:
        load_state(data)
    assert message in _one_line(error)


def test_a_river_detector_says_why_it_cannot_be_saved() -> None:
    from river import anomaly

    detector = RiverDetector(model=anomaly.HalfSpaceTrees(seed=1), warmup=10)
    detector.update(Reading("s", 0.0, {"x": 1.0}))
    with pytest.raises(StateError, match="River model object"):
        save_state(detector)


if __name__ == "__main__":
    regenerate()
