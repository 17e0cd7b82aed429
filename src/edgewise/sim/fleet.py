"""The demo's fleet: the plant's machines, a street of smart meters and a few wearables.

About twenty devices across the main IoT scenarios, each with its injected fault: the plant's
stuck sensor, dropout and failing bearing (:mod:`edgewise.sim.plant`), a household's demand spike
(:mod:`edgewise.sim.meters`) and a wearer's racing heart (:mod:`edgewise.sim.wearable`). Every
device sends one stream, named ``<device>/<what it measures>``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Literal

from edgewise.stream import Reading

from .meters import METER_UNITS, Meters
from .plant import UNITS, Fault, Plant
from .wearable import WEARABLE_UNITS, Wearables

__all__ = ["KINDS", "Fleet", "Kind"]

Kind = Literal["machine", "meter", "wearable"]

KINDS: dict[Kind, tuple[str, dict[str, str]]] = {
    "machine": ("motor", UNITS),
    "meter": ("power", METER_UNITS),
    "wearable": ("vitals", WEARABLE_UNITS),
}
"""Per kind of device: the name of its stream and the units of its values."""


class Fleet:
    """A seeded simulation of the plant, ``meters`` households and ``wearables`` wearers.

    Parameters
    ----------
    seed
        Seed of every random draw: the same seed gives the same readings.
    hours
        Simulated duration; readings every minute.
    start
        Timestamp of the first readings, epoch seconds (default: the plant's Monday 06:00).
    meters, wearables
        How many of each.

    Examples
    --------
    >>> fleet = Fleet(seed=0, hours=1.0)
    >>> len(fleet.kinds), sorted(set(fleet.kinds.values()))
    (20, ['machine', 'meter', 'wearable'])
    >>> [(f.kind, f.machine) for f in fleet.faults]  # doctest: +NORMALIZE_WHITESPACE
    [('stuck sensor', 'press-1'), ('dropout', 'pump-3'), ('bearing wear', 'mill-2'),
     ('demand spike', 'meter-07'), ('racing heart', 'watch-1')]
    >>> [r.stream for r in fleet.readings()][:4]
    ['press-1/motor', 'mill-2/motor', 'pump-3/motor', 'meter-01/power']
    >>> fleet.device_of("meter-01/power")
    'meter-01'
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        hours: float = 24.0,
        start: float | None = None,
        meters: int = 14,
        wearables: int = 3,
    ) -> None:
        self.plant = Plant(seed=seed, hours=hours, commissioning=0.0)
        if start is not None:
            self.plant.start = start
        self.start = self.plant.start
        self.meters = Meters(seed=seed, count=meters, hours=hours, start=self.start)
        self.wearables = Wearables(seed=seed, count=wearables, hours=hours, start=self.start)
        self.hours = hours
        self.kinds: dict[str, Kind] = {
            **dict.fromkeys(self.plant.machines, "machine"),
            **dict.fromkeys(self.meters.names, "meter"),
            **dict.fromkeys(self.wearables.names, "wearable"),
        }
        self.faults: tuple[Fault, ...] = (
            *self.plant.faults,
            *self.meters.faults,
            *self.wearables.faults,
        )

    def stream_of(self, device: str) -> str:
        """The name of ``device``'s stream."""
        return f"{device}/{KINDS[self.kinds[device]][0]}"

    @staticmethod
    def device_of(stream: str) -> str:
        """The device a stream of the fleet is of."""
        return stream.partition("/")[0]

    def readings(self) -> Iterator[Reading]:
        """Every device's readings, in time order, kind after kind at each timestamp."""
        sources = (self.plant.readings(), self.meters.readings(), self.wearables.readings())
        for reading in heapq.merge(*sources, key=lambda r: r.timestamp):
            yield Reading(self.stream_of(reading.stream), reading.timestamp, reading.values)
