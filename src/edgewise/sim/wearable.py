"""Wearables: heart rate and steps of people going about their day, one with an abnormal episode.

Each wearer walks now and then (steps a minute, in bouts) and moves about between walks; the
heart rate follows the effort with a lag of a couple of minutes, on top of a resting rate of
their own. The injected fault: one
wearer's heart races at rest for half an hour (a tachycardia episode): a rate far above what
their walks reach, while the steps say they are sitting still.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from edgewise.stream import Array

from ._signals import Devices, during
from .plant import Fault

__all__ = ["WEARABLE_UNITS", "Wearables", "racing_heart"]

WEARABLE_UNITS = {"heart_rate": "bpm", "steps": "1/min"}
"""What each wearable reports."""

_HOUR = 3600.0


def racing_heart(wearer: str, *, at_hours: float = 5.0) -> Fault:
    """The injected fault: ``wearer``'s heart races at rest for 30 minutes from ``at_hours``."""
    return Fault(
        "racing heart", wearer, ("heart_rate",), at_hours * _HOUR, (at_hours + 0.5) * _HOUR
    )


class Wearables(Devices):
    """A seeded simulation of ``count`` wearables, reading every ``period`` seconds.

    Parameters
    ----------
    seed
        Seed of every random draw: the same seed gives the same readings.
    count
        Wearers, named ``watch-1``, ``watch-2``, ...
    hours, period, start
        Simulated duration, seconds between two readings of a wearable, first timestamp.
    faults
        Injected faults; default: ``watch-1``'s heart races after 5 hours.

    Examples
    --------
    >>> watches = Wearables(seed=0, count=2, hours=6.0, start=0.0)
    >>> [(f.kind, f.machine, f.start / 3600) for f in watches.faults]
    [('racing heart', 'watch-1', 5.0)]
    >>> at = {r.timestamp: r.values for r in watches.readings() if r.stream == "watch-1"}
    >>> at[5.25 * 3600]["heart_rate"] > 140, at[5.25 * 3600]["steps"]
    (True, 0.0)
    """

    columns = ("heart_rate", "steps")
    default_count = 3
    _entropy = 2

    def _name(self, index: int, count: int) -> str:
        return f"watch-{index + 1}"

    def _default_faults(self) -> tuple[Fault, ...]:
        return (racing_heart(self.names[0]),)

    def _device(self, name: str, rng: np.random.Generator, elapsed: Array) -> Array:
        n = len(elapsed)
        per_minute = self.period / 60.0
        # Walks: a bout every hour or so, 5 to 30 minutes at 80 to 120 steps a minute; the first
        # in the first hour, so a detector learning online has seen one before it judges.
        steps = np.zeros(n)
        at = int(rng.uniform(10.0, 50.0) / per_minute)
        while at < n:
            length = int(rng.uniform(5.0, 30.0) / per_minute)
            steps[at : at + length] = rng.uniform(80.0, 120.0)
            at += length + int(rng.exponential(60.0) / per_minute) + 1
        # Between walks, a few steps a minute about the room.
        steps = np.round(steps * np.exp(rng.normal(0.0, 0.05, n))) + rng.poisson(3.0, n)
        effort = steps / 120.0
        for fault in self.faults:
            if fault.machine == name and fault.kind == "racing heart":
                on = during(fault, elapsed)
                steps[on] = 0.0  # sitting still
                effort[on] = 1.9  # the heart works harder than on any walk
        keep = float(np.exp(-per_minute / 2.0))  # the heart follows within a couple of minutes
        lagged: Array = lfilter([1.0 - keep], [1.0, -keep], effort, zi=[keep * effort[0]])[0]
        heart = rng.uniform(58.0, 72.0) + 50.0 * lagged + rng.normal(0.0, 2.0, n)
        return np.column_stack([np.round(heart), steps])
