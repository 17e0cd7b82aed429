"""Smart meters: households' electricity demand over a day, one of them with a demand spike.

Each household has a base load (fridge, standby) and a morning and an evening peak that differ
from house to house; appliances coming and going make the demand wander around that profile
(smoothed, as a meter reporting each minute's mean sees it). The injected fault: one household
suddenly draws 7 kW more for three quarters of an hour (a faulty heater, an unplanned charger),
far beyond its own daily peak.
"""

from __future__ import annotations

import numpy as np

from edgewise.stream import Array

from ._signals import Devices, during
from .plant import Fault, _ar1

__all__ = ["METER_UNITS", "Meters", "demand_spike"]

METER_UNITS = {"power": "kW"}
"""What each meter reports."""

_HOUR = 3600.0


def demand_spike(meter: str, *, at_hours: float = 4.0) -> Fault:
    """The injected fault: ``meter`` draws 7 kW more for 45 minutes from ``at_hours``."""
    return Fault("demand spike", meter, ("power",), at_hours * _HOUR, (at_hours + 0.75) * _HOUR)


class Meters(Devices):
    """A seeded simulation of ``count`` household meters, reading every ``period`` seconds.

    Parameters
    ----------
    seed
        Seed of every random draw: the same seed gives the same readings.
    count
        Households, named ``meter-01``, ``meter-02``, ...
    hours, period, start
        Simulated duration, seconds between two readings of a meter, first timestamp (epoch s).
    faults
        Injected faults; default: a demand spike at ``meter-07`` (or the last meter) after 4 hours.

    Examples
    --------
    >>> meters = Meters(seed=0, count=3, hours=6.0, start=0.0)
    >>> meters.names
    ['meter-01', 'meter-02', 'meter-03']
    >>> [(f.kind, f.machine, f.start / 3600) for f in meters.faults]
    [('demand spike', 'meter-03', 4.0)]
    >>> by_time = {r.timestamp: r for r in meters.readings() if r.stream == "meter-03"}
    >>> before, during = (by_time[h * 3600].values["power"] for h in (3.5, 4.5))
    >>> before < 2.0, during - before > 6.0
    (True, True)
    """

    columns = ("power",)
    default_count = 14
    _entropy = 1

    def _name(self, index: int, count: int) -> str:
        return f"meter-{index + 1:02d}"

    def _default_faults(self) -> tuple[Fault, ...]:
        return (demand_spike(self.names[min(6, len(self.names) - 1)]),)

    def _device(self, name: str, rng: np.random.Generator, elapsed: Array) -> Array:
        n = len(elapsed)
        clock = ((self.start + elapsed) / _HOUR) % 24.0

        def peak(hour: float, width: float) -> Array:
            distance = (clock - hour + 12.0) % 24.0 - 12.0  # hours from the peak, across midnight
            bump: Array = np.exp(-0.5 * (distance / width) ** 2)
            return bump

        power = (
            rng.uniform(0.2, 0.5)
            + rng.uniform(0.5, 1.2) * peak(rng.normal(7.5, 0.5), 1.0)
            + rng.uniform(1.0, 2.0) * peak(rng.normal(19.0, 0.7), 1.5)
        )
        # Appliances come and go: smoothed over the minute, a slow wander of the demand.
        power += _ar1(rng, n, phi=0.97, sd=0.08)
        for fault in self.faults:
            if fault.machine == name and fault.kind == "demand spike":
                power[during(fault, elapsed)] += 7.0
        power *= np.exp(rng.normal(0.0, 0.03, n))
        return np.round(power, 3)[:, None]
