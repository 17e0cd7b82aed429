"""What the simulators share: a seeded population of devices of one kind, readings from
per-device signal tables, and when a fault is on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from edgewise.stream import Array, Reading

from .plant import Fault

__all__ = ["Devices", "during", "readings_of"]


def during(fault: Fault, elapsed: Array) -> NDArray[np.bool_]:
    """Where ``fault`` is on, as a mask over ``elapsed`` (seconds after the story started).

    >>> during(Fault("spike", "m", ("p",), 60.0, 180.0), np.arange(5) * 60.0).tolist()
    [False, True, True, False, False]
    """
    end = np.inf if fault.end is None else fault.end
    mask: NDArray[np.bool_] = (elapsed >= fault.start) & (elapsed < end)
    return mask


def readings_of(
    signals: Mapping[str, Array], columns: Sequence[str], *, start: float, period: float
) -> Iterator[Reading]:
    """Each row of each device's table (a column per value) as a reading of the stream named
    after the device, in time order, device after device.

    >>> table = {"a": np.array([[1.0], [2.0]]), "b": np.array([[3.0], [4.0]])}
    >>> [(r.stream, r.timestamp) for r in readings_of(table, ["x"], start=0, period=60)]
    [('a', 0.0), ('b', 0.0), ('a', 60.0), ('b', 60.0)]
    """
    rows = min((len(table) for table in signals.values()), default=0)
    for i in range(rows):
        timestamp = float(start + i * period)
        for name, table in signals.items():
            yield Reading(name, timestamp, dict(zip(columns, table[i].tolist(), strict=True)))


class Devices:
    """``count`` devices of one kind, each with a table of readings every ``period`` seconds
    over ``hours`` from ``start``, drawn from ``seed``; ``faults`` (default: the kind's own)
    are injected. A kind names its devices, its value columns and its faults, and draws one
    device's table in :meth:`_device`; each device has a random stream of its own, so a
    device's readings do not depend on how many others there are.
    """

    columns: ClassVar[tuple[str, ...]]
    default_count: ClassVar[int]
    _entropy: ClassVar[int]  # with the seed, the draws' entropy: apart from other simulators

    def __init__(
        self,
        *,
        seed: int = 0,
        count: int | None = None,
        hours: float = 24.0,
        period: float = 60.0,
        start: float = 0.0,
        faults: Sequence[Fault] | None = None,
    ) -> None:
        count = self.default_count if count is None else count
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        self.seed = seed
        self.names = [self._name(i, count) for i in range(count)]
        self.hours = hours
        self.period = period
        self.start = start
        self.faults = tuple(self._default_faults() if faults is None else faults)

    def _name(self, index: int, count: int) -> str:
        raise NotImplementedError

    def _default_faults(self) -> tuple[Fault, ...]:
        raise NotImplementedError

    def _device(self, name: str, rng: np.random.Generator, elapsed: Array) -> Array:
        raise NotImplementedError

    @cached_property
    def signals(self) -> dict[str, Array]:
        """Every device's readings: one row per step, one column per value (``columns``)."""
        n = int(self.hours * 3600.0 / self.period)
        elapsed = np.arange(n, dtype=np.float64) * self.period
        rngs = np.random.SeedSequence((self.seed, self._entropy)).spawn(len(self.names))
        return {
            name: self._device(name, np.random.default_rng(rng), elapsed)
            for name, rng in zip(self.names, rngs, strict=True)
        }

    def readings(self) -> Iterator[Reading]:
        """Every device's readings, in time order, device after device; streams are names."""
        return readings_of(self.signals, self.columns, start=self.start, period=self.period)
