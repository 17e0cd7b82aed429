"""A small simulated plant: three machines, nine sensor streams, faults with known ground truth.

The plant runs around the clock: the press and the mill repeat a work cycle (part after part, each
a little different), the pump follows the day's demand. Load drives motor current directly, heats
the motor (the temperature follows the load, squared, with a lag of tens of minutes, on top of the
daily swing of the hall's temperature) and raises vibration. Sensors add noise and round to their
resolution, so a value can repeat by chance.

A normal week comes before the story, to commission the monitoring on (:meth:`Plant.history`). In
the story (:meth:`Plant.readings`) three faults are injected, each known by start, end, machine
and sensors: a bearing that starts to fail (vibration, then friction heat, growing
exponentially), a temperature sensor stuck at one value, and a current sensor that sends nothing
for a while.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import numpy as np
from scipy.signal import lfilter

from edgewise.stream import Array, Reading

__all__ = [
    "MACHINES",
    "RESOLUTION",
    "SENSORS",
    "UNITS",
    "Fault",
    "Machine",
    "Plant",
    "default_faults",
]

SENSORS = ("vibration", "temperature", "current")
"""The values every machine reports, in this order."""

UNITS = {"vibration": "mm/s", "temperature": "°C", "current": "A"}
RESOLUTION = {"vibration": 0.01, "temperature": 0.05, "current": 0.1}
"""Each sensor's reporting step: readings are rounded to it."""

_HOUR = 3600.0
_START = datetime(2024, 3, 4, 6, 0, tzinfo=UTC).timestamp()  # a Monday, start of the day shift


@dataclass(frozen=True, slots=True)
class Machine:
    """Physical constants of one machine (currents in A, temperatures in °C, vibration in mm/s)."""

    name: str
    idle_current: float
    full_current: float
    heat_rise: float  # motor temperature above the hall's at full load, once settled
    base_vibration: float
    load_vibration: float  # extra vibration at full load
    cycle: tuple[tuple[float, float], ...] = ()  # work cycle: (minutes, load) steps; () = demand


MACHINES = (
    Machine(
        "press-1", 6.0, 28.0, 24.0, 1.1, 0.9, ((2.0, 0.15), (5.0, 0.9), (6.0, 0.6), (2.0, 0.3))
    ),
    Machine(
        "mill-2", 4.0, 18.0, 18.0, 0.8, 1.2, ((3.0, 0.2), (9.0, 0.85), (8.0, 0.55), (4.0, 0.35))
    ),
    Machine("pump-3", 8.0, 22.0, 15.0, 1.5, 0.6),
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: what, where, and when (seconds after the story started).

    ``end`` is ``None`` for a fault that lasts to the end of the simulation (a failing bearing).
    """

    kind: str
    machine: str
    sensors: tuple[str, ...]
    start: float
    end: float | None = None


def default_faults() -> tuple[Fault, ...]:
    """The demo's story: a stuck sensor, a dropout, then a bearing failing into the night."""
    return (
        Fault("stuck sensor", "press-1", ("temperature",), 3.5 * _HOUR, 5.0 * _HOUR),
        Fault("dropout", "pump-3", ("current",), 8.0 * _HOUR, 8.75 * _HOUR),
        Fault("bearing wear", "mill-2", ("vibration", "temperature"), 10.0 * _HOUR),
    )


def _lag(x: Array, *, tau: float) -> Array:
    """First-order lag with time constant ``tau`` (in steps), starting settled at ``x[0]``."""
    keep = float(np.exp(-1.0 / tau))
    out: Array = lfilter([1.0 - keep], [1.0, -keep], x, zi=[keep * x[0]])[0]
    return out


def _ar1(rng: np.random.Generator, n: int, *, phi: float, sd: float) -> Array:
    """Stationary AR(1) noise with marginal standard deviation ``sd``."""
    shocks = rng.normal(0.0, sd * np.sqrt(1.0 - phi**2), n)
    shocks[0] = rng.normal(0.0, sd)
    out: Array = lfilter([1.0], [1.0, -phi], shocks)
    return out


class Plant:
    """A seeded simulation of :data:`MACHINES` with injected faults.

    Parameters
    ----------
    seed
        Seed of every random draw: the same seed gives the same readings.
    hours
        Simulated duration of the story.
    commissioning
        Hours of normal operation before the story, to learn from (a week: a streaming
        detector's false alarms on noise become rarer the more normal readings it has seen).
    period
        Seconds between two readings of a machine.
    faults
        Injected faults; default :func:`default_faults`.
    start
        Timestamp at which the story starts, epoch seconds.

    Examples
    --------
    >>> plant = Plant(seed=0)
    >>> first = next(plant.readings())
    >>> first.stream, round(first.values["current"], 1)
    ('press-1', 19.5)
    >>> [f.kind for f in plant.faults]
    ['stuck sensor', 'dropout', 'bearing wear']
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        hours: float = 24.0,
        commissioning: float = 168.0,
        period: float = 60.0,
        faults: Sequence[Fault] | None = None,
        start: float = _START,
    ) -> None:
        self.seed = seed
        self.hours = hours
        self.commissioning = commissioning
        self.period = period
        self.faults = tuple(default_faults() if faults is None else faults)
        self.start = start

    @property
    def machines(self) -> list[str]:
        return [m.name for m in MACHINES]

    @property
    def n_steps(self) -> int:
        """Readings of each machine in the story."""
        return int(self.hours * _HOUR / self.period)

    @property
    def n_history(self) -> int:
        """Readings of each machine before the story."""
        return int(self.commissioning * _HOUR / self.period)

    @property
    def duration(self) -> float:
        """Simulated seconds from the first reading to just after the last."""
        return self.n_steps * self.period

    @cached_property
    def signals(self) -> dict[str, Array]:
        """Every machine's readings, history then story, one row per step, columns
        :data:`SENSORS`, nan = missing."""
        streams = np.random.SeedSequence(self.seed).spawn(len(MACHINES) + 1)
        elapsed = np.arange(-self.n_history, self.n_steps, dtype=np.float64) * self.period
        clock = ((self.start + elapsed) / _HOUR) % 24.0
        hall = (
            21.0
            + 4.0 * np.sin(2.0 * np.pi * (clock - 9.0) / 24.0)  # warmest mid-afternoon
            + _ar1(np.random.default_rng(streams[0]), len(elapsed), phi=0.995, sd=0.4)
        )
        return {
            machine.name: self._machine(machine, np.random.default_rng(rng), elapsed, clock, hall)
            for machine, rng in zip(MACHINES, streams[1:], strict=True)
        }

    def _load(
        self, machine: Machine, rng: np.random.Generator, elapsed: Array, clock: Array
    ) -> Array:
        """The machine's work cycle, or the pump's daily demand."""
        n = len(elapsed)
        if machine.cycle:
            # Part after part: every step a little longer or shorter, every part a little heavier
            # or lighter than the last.
            minutes = elapsed / 60.0
            steps, levels = [minutes[0]], []
            while steps[-1] <= minutes[-1]:
                gain = rng.normal(1.0, 0.04)
                for length, level in machine.cycle:
                    steps.append(steps[-1] + length * rng.uniform(0.85, 1.15))
                    levels.append(level * gain)
            setpoint = np.asarray(levels)[np.searchsorted(steps, minutes, side="right") - 1]
        else:
            setpoint = 0.6 + 0.25 * np.sin(2.0 * np.pi * (clock - 10.0) / 24.0)
        # Drives ramp within a minute or two; the process wanders a little around the set point.
        load = _lag(setpoint, tau=1.0 * 60.0 / self.period)
        load += _ar1(rng, n, phi=0.9, sd=0.02)
        clipped: Array = np.clip(load, 0.05, 1.05)
        return clipped

    def _wear(self, machine: str, elapsed: Array) -> Array:
        """Bearing damage: zero before the fault, then growing exponentially (tripling in 3.3 h)."""
        wear = np.zeros_like(elapsed)
        for fault in self.faults:
            if fault.kind == "bearing wear" and fault.machine == machine:
                since = np.clip(elapsed - fault.start, 0.0, None)
                wear += np.minimum(np.expm1(since / (3.0 * _HOUR)), 20.0)
        return wear

    def _machine(
        self, machine: Machine, rng: np.random.Generator, elapsed: Array, clock: Array, hall: Array
    ) -> Array:
        n = len(elapsed)
        load = self._load(machine, rng, elapsed, clock)
        wear = self._wear(machine.name, elapsed)
        current = machine.idle_current + (machine.full_current - machine.idle_current) * load
        current += 0.3 * wear / 20.0 + rng.normal(0.0, 0.12, n)  # friction costs a little torque
        # Copper losses go with current squared; friction heat from the bearing adds on top.
        heat = machine.heat_rise * load**2 + 0.5 * wear
        temperature = _lag(hall + heat, tau=25.0 * 60.0 / self.period) + rng.normal(0.0, 0.1, n)
        vibration = (machine.base_vibration + machine.load_vibration * load) * np.exp(
            rng.normal(0.0, 0.05, n)
        ) + 0.12 * wear * (0.6 + 0.4 * load)
        values = np.column_stack([vibration, temperature, current])
        for j, sensor in enumerate(SENSORS):
            values[:, j] = np.round(values[:, j] / RESOLUTION[sensor]) * RESOLUTION[sensor]
        self._break_sensors(machine.name, values, elapsed)
        return values

    def _break_sensors(self, machine: str, values: Array, elapsed: Array) -> None:
        """Apply the sensor faults (stuck, dropout) of ``machine`` to its readings, in place."""
        for fault in self.faults:
            if fault.machine != machine or fault.kind not in {"stuck sensor", "dropout"}:
                continue
            end = np.inf if fault.end is None else fault.end
            rows = np.flatnonzero((elapsed >= fault.start) & (elapsed < end))
            if not len(rows):
                continue
            for sensor in fault.sensors:
                j = SENSORS.index(sensor)
                if fault.kind == "stuck sensor":
                    values[rows, j] = values[max(rows[0] - 1, 0), j]
                else:
                    values[rows, j] = np.nan

    def _readings(self, steps: range) -> Iterator[Reading]:
        signals = self.signals
        for i in steps:
            timestamp = self.start + (i - self.n_history) * self.period
            for name in self.machines:
                row = signals[name][i]
                yield Reading(name, timestamp, dict(zip(SENSORS, row.tolist(), strict=True)))

    def history(self) -> Iterator[Reading]:
        """The normal readings before the story, in time order, machine after machine."""
        return self._readings(range(self.n_history))

    def readings(self) -> Iterator[Reading]:
        """The story's readings, faults included, in time order, machine after machine."""
        return self._readings(range(self.n_history, self.n_history + self.n_steps))
