"""The simulated plant: seeded, deterministic, physically plausible, faults where they were put."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from edgewise.sim import SENSORS, Fault, Plant

HOUR = 3600.0


def column(plant: Plant, machine: str, sensor: str) -> np.ndarray:
    """The story's readings of one sensor (after the commissioning history)."""
    return plant.signals[machine][plant.n_history :, SENSORS.index(sensor)]


def test_same_seed_same_readings_other_seed_other_readings() -> None:
    first = [r.values for r in Plant(seed=3, hours=2.0).readings()]
    again = [r.values for r in Plant(seed=3, hours=2.0).readings()]
    other = [r.values for r in Plant(seed=4, hours=2.0).readings()]
    assert first == again
    assert first != other


def test_readings_are_time_ordered_machine_after_machine() -> None:
    plant = Plant(hours=1.0, commissioning=2.0)
    history, story = list(plant.history()), list(plant.readings())
    assert len(history) == 120 * len(plant.machines) and len(story) == 60 * len(plant.machines)
    assert [r.stream for r in story[:3]] == plant.machines
    times = [r.timestamp for r in history + story]
    assert times == sorted(times) and times[3] - times[0] == plant.period
    assert history[-1].timestamp < plant.start == story[0].timestamp


def test_the_commissioning_history_is_fault_free() -> None:
    plant, healthy = Plant(hours=12.0), Plant(hours=12.0, faults=())
    for name in plant.machines:
        before = slice(0, plant.n_history)
        assert np.array_equal(plant.signals[name][before], healthy.signals[name][before])


def lagged(x: np.ndarray, minutes: float) -> np.ndarray:
    keep = np.exp(-1.0 / minutes)
    return lfilter([1.0 - keep], [1.0, -keep], x, zi=[keep * x[0]])[0]


def without_daily_swing(x: np.ndarray) -> np.ndarray:
    return (x - np.convolve(x, np.ones(180) / 180, mode="same"))[200:-200]


def test_load_drives_current_vibration_and_temperature() -> None:
    plant = Plant(faults=(), commissioning=0.0)
    for machine in plant.machines:
        current = column(plant, machine, "current")
        temperature = column(plant, machine, "temperature")
        assert np.corrcoef(current, column(plant, machine, "vibration"))[0, 1] > 0.6
        # Copper losses (current squared) heat the motor with a lag of tens of minutes.
        heat = without_daily_swing(lagged(current**2, 25.0))
        assert np.corrcoef(heat, without_daily_swing(temperature))[0, 1] > 0.6
        assert temperature.min() > 10.0 and temperature.max() < 60.0


def test_faults_are_injected_as_described() -> None:
    plant = Plant()
    stuck, dropout, bearing = plant.faults
    minute = np.arange(plant.n_steps) * plant.period
    during = (minute >= stuck.start) & (minute < stuck.end)  # type: ignore[operator]
    frozen = column(plant, stuck.machine, "temperature")[during]
    assert len(set(frozen.tolist())) == 1
    gap = (minute >= dropout.start) & (minute < dropout.end)  # type: ignore[operator]
    current = column(plant, dropout.machine, "current")
    assert np.isnan(current[gap]).all() and not np.isnan(current[~gap]).any()
    healthy = Plant(faults=(stuck, dropout))
    extra = column(plant, bearing.machine, "vibration") - column(
        healthy, bearing.machine, "vibration"
    )
    before = minute < bearing.start
    assert np.allclose(extra[before], 0.0)
    assert extra[-60:].mean() > 1.0  # a failing bearing, not a subtle one, by the end


def test_a_plant_without_faults_has_no_missing_or_frozen_values() -> None:
    plant = Plant(faults=(), hours=6.0, commissioning=0.0)
    for values in plant.signals.values():
        assert not np.isnan(values).any()
        longest = max(
            max(np.diff(np.flatnonzero(np.diff(values[:, j]) != 0), prepend=0))
            for j in range(len(SENSORS))
        )
        assert longest < 10


def test_custom_faults() -> None:
    fault = Fault("dropout", "mill-2", ("vibration",), 0.5 * HOUR, 0.75 * HOUR)
    plant = Plant(hours=1.0, commissioning=0.0, faults=(fault,))
    assert np.isnan(column(plant, "mill-2", "vibration")).sum() == 15
