"""The default detector's C kernel: its generated layout, the same bits as numba's, no numba.

The C kernel is a port of the numba one with the same operations in the same order, so the two
are held to exact equality here (issue 9's bar, scores within 1e-4 and the same decisions and
alarms on 99.9% of NAB's readings, is what ``edgewise bench kernels`` reports over the whole
corpus). ``test_default_kernel.py``'s fingerprints check the detector's per-reading path, which
runs the C kernel where it is built, against the bytes numba's recorded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from default_fingerprints import FILES, VARIANTS

from conftest import need_dataset
from edgewise.bench.kernels import compare_kernels, kernel_speed
from edgewise.bench.nab import Corpus, load_corpus
from edgewise.detect import _ckernel_layout
from edgewise.detect import _default_backend as backend
from edgewise.detect import _default_kernel as kernel
from edgewise.detect.default import DefaultDetector

# Readings of each file compared: past the warm-up, the first episodes and a full shape memory.
READINGS = 3000


@pytest.fixture(scope="module", autouse=True)
def c_kernel() -> None:
    if backend.C_KERNEL:
        return
    reason = "the C kernel is not built (`python setup.py build_ext --inplace`)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; `make setup` builds it")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(need_dataset("NAB"))


def test_the_layout_header_is_the_one_the_python_layout_generates() -> None:
    assert _ckernel_layout.HEADER.read_text() == _ckernel_layout.layout_header()


@pytest.mark.parametrize("params", [{}, *VARIANTS], ids=str)
def test_both_kernels_give_the_same_bits_on_nab(params: dict[str, object], corpus: Corpus) -> None:
    vector = DefaultDetector(**params)._params()  # type: ignore[arg-type]
    for name in FILES:
        found = compare_kernels(corpus[name].values[:READINGS], vector)
        assert set(found.values()) == {found["readings"]}, f"{name}: {found}"


def test_a_state_runs_on_either_kernel_in_every_mode(corpus: Corpus) -> None:
    """Learn, score and detect, switching kernels on one state: the bytes of numba alone."""
    values = corpus[FILES[1]].values[:READINGS]
    params = DefaultDetector()._params()
    mixed, alone = kernel.new_state(params), kernel.new_state(params)
    steps = (backend.c_step, kernel.step)
    for i, x in enumerate(values.tolist()):
        mode = kernel.LEARN if i < 500 else (kernel.SCORE, kernel.DETECT)[i % 2]
        assert steps[i // 7 % 2](mixed, x, mode) == kernel.step(alone, x, mode)
    assert mixed.tobytes() == alone.tobytes()


def test_the_batch_path_gives_the_bytes_of_numba(corpus: Corpus) -> None:
    values = corpus[FILES[3]].values[:READINGS]
    params = DefaultDetector()._params()
    found = []
    for run_column in (backend.run_column, kernel.run_column):
        state = kernel.new_state(params)
        outputs = [np.zeros(len(values)) for _ in range(3)]
        evidence = np.zeros((len(values), kernel.EVIDENCE))
        run_column(state, values, *outputs, evidence)
        found.append(b"".join(a.tobytes() for a in (state, *outputs, evidence)))
    assert found[0] == found[1]


def test_a_window_wider_than_the_c_kernel_takes_is_refused() -> None:
    with pytest.raises(ValueError, match="window must be at most 256"):
        DefaultDetector(window=kernel.MAX_WINDOW + 1)._params()


def test_the_speed_bench_runs_both_kernels() -> None:
    values = np.sin(np.arange(2000.0) / 10.0)
    speed = kernel_speed(values, repeats=1)
    assert set(speed) == {
        "c_ns_per_reading",
        "numba_ns_per_reading",
        "c_batch_ns_per_reading",
        "numba_batch_ns_per_reading",
        "c_vs_numba_per_reading",
    }
    assert all(v > 0 for v in speed.values())


def test_the_agent_runs_the_default_pipeline_without_numba() -> None:
    code = """
        import sys
        from edgewise.agent._config import _default_pipelines
        from edgewise.stream import Reading
        from edgewise.stream._spec import build
        pipeline = build(_default_pipelines()["default"].model_dump())
        values = [20.0 + (i % 13) * 0.1 for i in range(1000)] + [90.0] * 5
        outs = [o for s in ("a", "b") for i, v in enumerate(values)
                for o in pipeline.update(Reading(s, 1.7e9 + i, {"x": v}))]
        flagged = sum(d.is_anomaly for o in outs for d in o.detections)
        print(len(outs), flagged > 0, "numba" in sys.modules)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["2010", "True", "False"]


def test_without_the_c_kernel_the_detector_runs_numba_and_says_so_once() -> None:
    code = """
        import logging, sys
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        sys.modules["edgewise.detect._default_ckernel"] = None  # as if it were not built
        from edgewise.detect import default_pipeline
        from edgewise.stream import Reading
        pipeline = default_pipeline()
        outs = [o for i in range(300) for o in pipeline.update(Reading("s", i, {"x": i % 7}))]
        print(len(outs), "numba" in sys.modules)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["300", "True"]
    assert done.stderr.splitlines() == [
        "edgewise.detect._default_backend: the default detector's C kernel is not built: it runs "
        "on numba"
    ]
