"""Spikes: a single reading that jumps away from its neighbours and straight back."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from edgewise.stream import (
    Array,
    Reading,
    Step,
    Values,
    as_batch,
    column_names,
    register,
    state_type,
)

from ._check import Faults, fault_mask, mark_missing, validate_choice

__all__ = ["Hampel"]

_MAD_TO_SD = 1.4826  # MAD of normal data times this estimates its standard deviation
_MIN_HISTORY = 3  # earlier values needed before a value is judged: two changes to spread on


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else 0.5 * (s[mid - 1] + s[mid])


@state_type
@dataclass(slots=True)
class _Track:
    """What the check remembers of one value of one stream."""

    recent: deque[float]  # the last `window` raw values, spikes and missing values included
    before: float = math.nan  # the previous value not judged a spike
    square_sum: float = 0.0  # sum of squared changes between consecutive values, faults left out
    steps: int = 0
    last_faulty: bool = False


@register("hampel")
class Hampel(Step):
    """A Hampel-style spike check that judges each value once the next reading has arrived.

    Default action: **marks missing** (the spike becomes ``nan``; ``flags[name] = "spike"``).
    With ``action="flag"`` the value is kept.

    A value ``x`` is a spike when it lies outside the range of its two neighbours by more than
    ``threshold`` spreads::

        deviation = |x - median(previous, x, next)|
        spread    = max(1.4826 * MAD(changes between the last `window` raw values),
                        root mean square change between consecutive values so far)

    The median of a value and its neighbours is the value itself unless it is above (or below)
    both, so a steady rise or a level shift deviates by nothing; only a jump out *and back* does.
    ``previous`` is the last value not judged a spike. The spread is the robust spread (MAD
    scaled to a standard deviation) of the changes in the trailing window of raw values, but
    never below the typical size of a change seen so far: a quantised sensor in a quiet stretch
    repeats its value and the MAD drops to 0, and in data that moves in steps (heating, daylight)
    a robust spread of the quiet changes makes every step look large. Changes next to a value
    judged a spike are left out of that running mean square, so spikes do not widen it.

    **Delay: one reading.** A reading is held until the next one of its stream arrives, then
    judged and emitted (``delay = 1``). Without it a spike cannot be told from the first reading
    after a step or of a fast ramp: on the Intel Lab motes (30-minute readings) 1.5% of the
    changes between consecutive readings exceed 4 standard deviations of such changes, while no
    reading stands out from *both* its neighbours by that much. ``flush`` emits the held reading
    of every stream unjudged (it has no next reading). A value is judged only when it and both
    its neighbours are present and at least three earlier values of it have been seen. State is
    kept per stream (see :class:`~edgewise.stream.Step`).

    Parameters
    ----------
    window
        Raw values (the judged one excluded) whose changes give the robust spread; at least 3.
    threshold
        Spreads beyond its neighbours' range from which a value is a spike.
    action
        ``"mark_missing"`` or ``"flag"``.

    Attributes
    ----------
    delay : int
        Readings the check holds a reading back for: 1.
    held_ : Reading or None
        The reading waiting for the next one.
    tracks_ : dict
        Per value name: the trailing window, the previous value and the running mean square
        change.

    Examples
    --------
    >>> from edgewise.stream import Reading
    >>> check = Hampel(window=6)
    >>> temps = [20.1, 20.3, 20.2, 20.4, 20.3, 29.8, 20.5, 20.4]
    >>> out = [o for i, t in enumerate(temps) for o in check.update(Reading("m1", i, {"t": t}))]
    >>> out += check.flush()
    >>> [(r.timestamp, r.flags) for r in out if r.flags]
    [(5.0, {'t': 'spike'})]
    >>> out[5].values
    {'t': nan}
    """

    fault: ClassVar[str] = "spike"
    delay: ClassVar[int] = 1
    actions: ClassVar[tuple[str, ...]] = ("flag", "mark_missing")

    held_: Reading | None
    tracks_: dict[str, _Track]

    def __init__(
        self, *, window: int = 12, threshold: float = 3.0, action: str = "mark_missing"
    ) -> None:
        self.window = window
        self.threshold = threshold
        self.action = action

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"window": 3, "threshold": 1.0, "action": "flag"}

    def _start(self) -> None:
        if not hasattr(self, "tracks_"):
            validate_choice(self, "action", self.action, self.actions)
            if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 3:
                raise ValueError(f"Hampel: window must be an integer >= 3, got {self.window!r}")
            if not self.threshold > 0.0:
                raise ValueError(f"Hampel: threshold must be > 0, got {self.threshold!r}")
            self.held_ = None
            self.tracks_ = {}

    def _spread(self, track: _Track) -> float:
        changes = [b - a for a, b in pairwise(track.recent) if not math.isnan(b - a)]
        robust = 0.0
        if changes:
            center = _median(changes)
            robust = _MAD_TO_SD * _median([abs(c - center) for c in changes])
        return max(robust, math.sqrt(track.square_sum / track.steps)) if track.steps else robust

    def _is_spike(self, track: _Track, value: float, after: float) -> bool:
        if len(track.recent) < _MIN_HISTORY:
            return False
        before = track.before
        if math.isnan(before) or math.isnan(value) or math.isnan(after):
            return False
        # The median of three, and the deviation from it; the spread is at least the root mean
        # square change, so most values are cleared without the robust spread's two sorts.
        deviation = abs(value - max(min(before, value), min(max(before, value), after)))
        if track.steps and deviation <= self.threshold * math.sqrt(track.square_sum / track.steps):
            return False
        return deviation > self.threshold * self._spread(track)

    def _learn(self, track: _Track, value: float, faulty: bool) -> None:
        if track.recent and not (faulty or track.last_faulty):
            change = value - track.recent[-1]
            if not math.isnan(change):
                track.square_sum += change * change
                track.steps += 1
        track.recent.append(value)
        track.last_faulty = faulty
        if not faulty:
            track.before = value

    def _release(self, held: Reading, after: Values) -> Reading:
        """Judge ``held`` given the values that came after it, learn from it, emit it."""
        faults: Faults = {}
        for name, value in held.values.items():
            track = self.tracks_.get(name)
            if track is None:
                track = self.tracks_[name] = _Track(deque(maxlen=self.window))
            faulty = self._is_spike(track, value, after.get(name, math.nan))
            if faulty:
                faults[name] = self.fault
            self._learn(track, value, faulty)
        if not faults:
            return held
        values = mark_missing(held.values, faults) if self.action == "mark_missing" else held.values
        out = held.with_values(dict(values))
        out.flags.update(faults)
        return out

    def _update(self, reading: Reading) -> list[Reading]:
        self._start()
        held, self.held_ = self.held_, reading
        return [] if held is None else [self._release(held, reading.values)]

    def _flush(self) -> list[Reading]:
        held = getattr(self, "held_", None)
        if held is None:
            return []
        self.held_ = None
        return [self._release(held, {})]

    def faults_many(self, X: Array, columns: Sequence[str] | None = None) -> NDArray[np.bool_]:
        """Stream the rows of ``X`` through this step's own state, then flush it; the spikes found.

        ``mask[i, j]`` is whether row i's value j was judged a spike. Equal to ``_update`` on
        each row in turn, then a flush; the streams of :meth:`update` are left as they are.
        """
        batch = as_batch(X)
        names = column_names(batch.shape[1], columns)
        out = [
            released
            for i, row in enumerate(batch.tolist())
            for released in self._update(Reading("", float(i), dict(zip(names, row, strict=True))))
        ]
        return fault_mask([r.flags for r in out + self._flush()], names)
