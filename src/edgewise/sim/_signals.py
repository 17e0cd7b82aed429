"""What the simulators share: readings from per-device signal tables, and when a fault is on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from edgewise.stream import Array, Reading

from .plant import Fault

__all__ = ["during", "readings_of"]


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
