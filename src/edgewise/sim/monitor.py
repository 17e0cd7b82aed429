"""Watching a plant: cleaning checks and a detector per machine, alarms, and how they compare
with the faults that were injected.

Each machine's readings go through the default pipeline: :class:`~edgewise.clean.Flatline` flags a
value stuck at one reading, a missing-data check flags a value that stopped arriving, the
last-value imputer fills the holes, and the machine's detector (all its values together, as a
process, on the normal week as its reference) judges the result. A check that keeps firing raises
one alarm, not one per reading; the detector raises its own alarms, one per episode.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgewise.clean import Flatline
from edgewise.impute import LastValue
from edgewise.stream import Detector, Reading, Values, create

from .plant import Fault

__all__ = [
    "DEMO_DETECTOR",
    "Alarm",
    "Finding",
    "MachineState",
    "Monitor",
    "evaluate",
]

DEMO_DETECTOR = "default"
"""The detector the demo runs on each machine."""

STUCK = "flatline check"
NO_DATA = "missing-data check"


@dataclass(frozen=True, slots=True)
class Alarm:
    """The first reading of an episode a check or detector fired on (``time``: plant seconds)."""

    time: float
    machine: str
    sensor: str
    check: str
    detail: str


@dataclass(frozen=True, slots=True)
class Finding:
    """An injected fault and the first alarm that found it, if any."""

    fault: Fault
    alarm: Alarm | None

    @property
    def delay_minutes(self) -> float | None:
        """Simulated minutes from the start of the fault to its first alarm."""
        return None if self.alarm is None else (self.alarm.time - self.fault.start) / 60.0


@dataclass
class MachineState:
    """What the live view shows of one machine."""

    values: dict[str, float] = field(default_factory=dict)
    history: dict[str, deque[float]] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)  # "ok", "stuck", "no data", "ANOMALY"
    score: float = 0.0
    shown_until: dict[str, float] = field(default_factory=dict)  # when a status reverts to "ok"


@dataclass
class _Machine:
    flatline: Flatline
    imputer: LastValue
    detector: Detector
    missing: dict[str, int] = field(default_factory=dict)  # consecutive missing readings by value
    state: MachineState = field(default_factory=MachineState)


class Monitor:
    """The default cleaning and detection pipeline, one per machine, with alarm bookkeeping.

    Commission it on normal readings first (:meth:`commission`), then :meth:`update` it.

    Parameters
    ----------
    start
        Timestamp at which the watch starts (alarm times are seconds after it).
    detector, detector_params
        Registered name of each machine's detector, and its parameters.
    stuck_after
        Identical consecutive readings after which Flatline calls a value stuck.
    missing_after
        Consecutive missing readings after which a value counts as no longer arriving.
    quiet
        Seconds without firing after which the next firing of a check is a new alarm.
    history
        Readings kept per value for the live view's sparklines.
    hold
        Seconds a value's status stays shown after its check or detector last fired.
    """

    def __init__(
        self,
        *,
        start: float,
        detector: str = DEMO_DETECTOR,
        detector_params: Mapping[str, Any] | None = None,
        stuck_after: int = 15,
        missing_after: int = 5,
        quiet: float = 3600.0,
        history: int = 40,
        hold: float = 1800.0,
    ) -> None:
        self.start = start
        self.detector = detector
        self.detector_params = detector_params
        self.stuck_after = stuck_after
        self.missing_after = missing_after
        self.quiet = quiet
        self.history = history
        self.hold = hold
        self.machines: dict[str, _Machine] = {}
        self.alarms: list[Alarm] = []
        self._last_fired: dict[tuple[str, str, str], float] = {}

    def _machine(self, name: str) -> _Machine:
        if name not in self.machines:
            detector = create(self.detector, self.detector_params)
            if not isinstance(detector, Detector):
                raise TypeError(f"step {self.detector!r} is not a detector")
            self.machines[name] = _Machine(
                Flatline(min_run=self.stuck_after), LastValue(), detector
            )
        return self.machines[name]

    def state(self, machine: str) -> MachineState:
        return self._machine(machine).state

    def commission(self, readings: Iterable[Reading]) -> None:
        """Learn from known-normal readings: every check, and each detector's reference."""
        normal: dict[str, list[Values]] = {}
        for reading in readings:
            machine = self._machine(reading.stream)
            (checked,) = machine.flatline.update(reading)
            values = machine.imputer.learn_transform_one(checked.values)
            normal.setdefault(reading.stream, []).append(values)
            self._show(machine.state, reading, 0.0, [])
        for name, rows in normal.items():
            columns = list(rows[0])
            X = np.array([[row.get(c, math.nan) for c in columns] for row in rows])
            self.machines[name].detector.commission(X, columns)

    def update(self, reading: Reading) -> list[Alarm]:
        """Watch one reading; return the alarms it raises."""
        machine = self._machine(reading.stream)
        now = reading.timestamp - self.start
        firing: list[tuple[str, str, str]] = []
        (checked,) = machine.flatline.update(reading)
        for name, value in reading.values.items():
            run = machine.missing.get(name, 0) + 1 if math.isnan(value) else 0
            machine.missing[name] = run
            if run >= self.missing_after:
                firing.append((name, NO_DATA, f"no {name} for {run} readings"))
            elif checked.flags.get(name) == "stuck":
                firing.append((name, STUCK, f"{name} stuck at {value:.6g}"))
        found = machine.detector.detect_one(machine.imputer.learn_transform_one(checked.values))
        raised = [
            Alarm(now, reading.stream, sensor, check, detail)
            for sensor, check, detail in firing
            if self._is_new(reading.stream, sensor, check, now)
        ]
        detected: list[tuple[str, str, str]] = []
        if found.is_anomaly and found.explanation is not None:
            explanation = found.explanation
            detected.append((explanation.input, f"{self.detector} detector", str(explanation)))
            if found.alarm:  # the detector keeps its own episodes: an alarm is news
                raised.append(Alarm(now, reading.stream, *detected[0]))
        self._show(machine.state, reading, found.score, detected + firing)  # checks say more
        self.alarms.extend(raised)
        return raised

    def _is_new(self, machine: str, sensor: str, check: str, now: float) -> bool:
        key = (machine, sensor, check)
        last = self._last_fired.get(key, -math.inf)
        self._last_fired[key] = now
        return now - last > self.quiet

    def _show(
        self,
        state: MachineState,
        reading: Reading,
        score: float,
        firing: Sequence[tuple[str, str, str]],
    ) -> None:
        state.values = dict(reading.values)
        for name, value in reading.values.items():
            state.history.setdefault(name, deque(maxlen=self.history)).append(value)
            if reading.timestamp >= state.shown_until.get(name, -math.inf):
                state.status[name] = "ok"
        for sensor, check, _ in firing:
            state.status[sensor] = {STUCK: "stuck", NO_DATA: "no data"}.get(check, "ANOMALY")
            state.shown_until[sensor] = reading.timestamp + self.hold
        state.score = score


def evaluate(
    faults: Sequence[Fault], alarms: Sequence[Alarm], *, grace: float = 3600.0
) -> tuple[list[Finding], list[Alarm]]:
    """Match alarms to injected faults.

    A fault is found by the first alarm on its machine and one of its sensors between its start
    and ``grace`` seconds after its end. An alarm on one of a fault's sensors while the fault is
    on (or within ``grace`` after) is a consequence of it; any other alarm is a false alarm, an
    alarm on another sensor of the same machine during the fault included.

    Returns
    -------
    findings, false_alarms
    """

    def during(fault: Fault, alarm: Alarm) -> bool:
        end = math.inf if fault.end is None else fault.end + grace
        return (
            alarm.machine == fault.machine
            and alarm.sensor in fault.sensors
            and fault.start <= alarm.time <= end
        )

    findings = [
        Finding(fault, next((a for a in alarms if during(fault, a)), None)) for fault in faults
    ]
    false_alarms = [a for a in alarms if not any(during(f, a) for f in faults)]
    return findings, false_alarms
