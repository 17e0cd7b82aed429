"""The suppression bench on the real Intel Lab files (short: it runs in seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import need_dataset
from edgewise.bench.suppression import message_energy_uj, run_suppression
from edgewise.cli import app


@pytest.fixture(scope="module")
def result() -> dict[str, object]:
    need_dataset("IntelLab_preprocessed")
    return run_suppression()


def test_baselines_reproduce_the_published_counts(result: dict[str, object]) -> None:
    baselines = result["baselines"]
    assert isinstance(baselines, dict)
    # counted over readings only, like the figures quoted for these baselines
    assert baselines["hold-last"]["readings_saved_pct"] == pytest.approx(61.7, abs=0.05)
    linear = baselines["linear extrapolation (last two sent)"]
    assert linear["readings_saved_pct"] == pytest.approx(67.9, abs=0.05)


def test_chosen_predictor_beats_the_baselines_within_the_bound(result: dict[str, object]) -> None:
    baselines = result["baselines"]
    assert isinstance(baselines, dict)
    assert result["max_abs_error"] <= 0.5
    for baseline in baselines.values():
        assert result["messages_saved_pct"] > baseline["messages_saved_pct"]  # type: ignore[operator]
    other = result["other"]
    assert isinstance(other, dict)
    assert other["max_abs_error"] <= other["bound"]
    assert other["messages_saved_pct"] > other["hold_last"]["messages_saved_pct"]


def test_gateway_shift_meets_the_bar_within_the_bound(result: dict[str, object]) -> None:
    gateway = result["gateway"]
    assert isinstance(gateway, dict)
    assert gateway["predictor"].get("shift") is True  # chosen on the train file
    assert gateway["shifts"] > 0
    assert gateway["max_abs_error"] <= 0.5
    assert gateway["mote_messages_saved_pct"] >= 70.0


def test_energy_counts_frame_and_acknowledgement() -> None:
    # 31 bytes at 32 us/byte, 17.4 mA; 192 us + 11 bytes received at 18.8 mA; 3.0 V
    assert message_energy_uj(1) == pytest.approx(3.0 * (17.4 * 31 * 32e-6 + 18.8 * 544e-6) * 1e3)
    assert message_energy_uj(0) < message_energy_uj(1)


def test_cli_writes_the_json(tmp_path: Path) -> None:
    need_dataset("IntelLab_preprocessed")
    out = tmp_path / "suppression.json"
    done = CliRunner().invoke(app, ["bench", "suppression", "--json", str(out)])
    assert done.exit_code == 0, done.output
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert {
        "messages_saved_pct",
        "max_abs_error",
        "rmse",
        "radio_energy_saved_pct",
        "other",
    } <= set(saved)
    assert "commit" in saved


def test_cli_refuses_a_bad_bound() -> None:
    done = CliRunner().invoke(app, ["bench", "suppression", "--bound", "-1"])
    assert done.exit_code == 2
