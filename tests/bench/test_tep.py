"""Tennessee Eastman, short: three faults and the normal run, against the bars and the README."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import need_dataset
from edgewise.bench.tep import run_tep

FAULTS = (1, 11, 21)  # a step, a random variation, a stuck valve


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return run_tep(data=need_dataset("TEP").parent, faults=FAULTS, repeats=1)


def test_meets_the_bars(result: dict[str, Any]) -> None:
    assert result["faults"] == list(FAULTS)
    assert result["tep_mean_detection_rate"] >= 0.86
    assert result["tep_false_alarm_rate"] <= 0.02
    assert result["tep_false_alarm_rate_d00_te"] <= 0.02
    for fault in FAULTS:
        assert result["tep_per_fault"][str(fault)]["detection_rate"] >= 0.9
    json.dumps(result)


def test_pca_baseline_reproduces_the_readme(result: dict[str, Any]) -> None:
    # TEP/README.md, "Baseline: static PCA": k = 31, detection rates per fault.
    assert result["pca_components"] == 31
    readme = {"1": (0.994, 0.999), "11": (0.555, 0.735), "21": (0.389, 0.654)}
    for fault, (t2, spe) in readme.items():
        assert result["pca_t2_per_fault"][fault]["detection_rate"] == pytest.approx(t2, abs=6e-4)
        assert result["pca_spe_per_fault"][fault]["detection_rate"] == pytest.approx(spe, abs=6e-4)
    assert result["pca_t2_false_alarm_rate_d00_te"] == pytest.approx(0.029, abs=6e-4)
    assert result["pca_spe_false_alarm_rate_d00_te"] == pytest.approx(0.150, abs=6e-4)


def test_first_detection_delay_counts_from_the_onset(result: dict[str, Any]) -> None:
    for fault in FAULTS:
        delay = result["tep_per_fault"][str(fault)]["first_detection_delay"]
        assert delay is not None and 1 <= delay <= 50
