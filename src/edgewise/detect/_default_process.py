"""The default detector's view of several inputs at once: a :class:`ProcessMonitor` with episodes.

When a stream's readings carry several values, the default detector watches them together, as a
process whose inputs follow each other: a :class:`~edgewise.detect.ProcessMonitor` fitted on
known-normal rows. Commissioned on a reference (:meth:`ProcessView.learn`, then the first
:meth:`ProcessView.detect`), it keeps that reference: only an operator's relearn replaces it.
Online, it is fitted on the first ``warmup`` rows, and an episode of one input that lasts
``accept_after`` readings is accepted: the monitor is fitted again on the latest rows.
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from edgewise.stream import Explanation, number, state_type

from ._episodes import Episodes
from ._process_monitor import ProcessMonitor

__all__ = ["Judged", "ProcessView"]

# Rows the monitor needs at the least to be fitted (its cross-validation takes five blocks).
FIT_ROWS = 10
# An input whose contribution reaches this share of the culprit's is named beside it.
ALSO_NAMED = 0.5


class Judged(NamedTuple):
    """One reading as the process view judged it."""

    severity: float  # the monitor's ratio to its limit (1 at the limit)
    abnormal: bool
    alarm: bool
    explanation: Explanation | None
    events: tuple[str, ...]


def _fitted(rows: NDArray[np.float64]) -> ProcessMonitor | None:
    """A monitor of ``rows``, or ``None`` when no input varies in them (nothing to relate)."""
    try:
        return ProcessMonitor().fit(rows)
    except ValueError:
        return None


@state_type
class ProcessView:
    """The inputs ``names`` watched together; see the module's docstring.

    Parameters
    ----------
    names
        The inputs, in the order of the vectors given.
    warmup
        Online, the rows learned before the first judgement (at least :data:`FIT_ROWS`).
    threshold
        Severity (ratio to the monitor's limit) at which a reading is abnormal.
    end_after, accept_after
        As in :class:`~edgewise.detect.DefaultDetector`.
    """

    def __init__(
        self,
        names: list[str],
        *,
        warmup: int,
        threshold: float,
        end_after: int,
        accept_after: int,
    ) -> None:
        self.names = names
        self.threshold = threshold
        self.accept_after = accept_after
        self.episodes = Episodes(end_after)
        self.monitor: ProcessMonitor | None = None
        self.watched: frozenset[str] = frozenset()
        self.reference = False
        # Until the monitor is fitted: the rows it will be fitted on; then the latest rows, for
        # a refit when a lasting change is accepted.
        self.rows: deque[NDArray[np.float64]] = deque(maxlen=max(warmup, FIT_ROWS))
        self.reference_rows: list[NDArray[np.float64]] = []

    def _fit(self, rows: NDArray[np.float64]) -> None:
        monitor = _fitted(rows)
        if monitor is not None:
            self.monitor = monitor
            # The inputs it watches, those that varied in ``rows``; the others (constant there,
            # or new) are for the per-input views to judge.
            self.watched = frozenset(self.names[i] for i in monitor.inputs_.tolist())

    def vector(self, values: dict[str, float]) -> NDArray[np.float64]:
        """The reading's values in the view's order (``nan`` for an absent one)."""
        if len(values) == len(self.names) and list(values) == self.names:  # the usual reading
            return np.fromiter(values.values(), dtype=np.float64, count=len(self.names))
        return np.array([values.get(name, math.nan) for name in self.names], dtype=np.float64)

    def learn(self, v: NDArray[np.float64]) -> None:
        """A known-normal row: part of the reference the monitor is fitted on."""
        self.reference_rows.append(v)
        self.reference = True

    def score(self, v: NDArray[np.float64]) -> float:
        """The severity ``v`` would get, without changing anything (0 before the first fit)."""
        return 0.0 if self.monitor is None else self.monitor.ratio(v)

    def fit_reference(self) -> None:
        """Fit the monitor on the reference learned so far (at the latest, at the next reading)."""
        if len(self.reference_rows) >= FIT_ROWS:
            self._fit(np.array(self.reference_rows))
        # Too short a reference to fit: the first readings complete it, as online.
        self.reference = self.monitor is not None
        self.rows.extend(self.reference_rows[-(self.rows.maxlen or 0) :])
        self.reference_rows = []

    def detect(self, v: NDArray[np.float64]) -> Judged:
        """Judge the row ``v`` and move the stream on."""
        if self.reference_rows:
            self.fit_reference()
        self.rows.append(v)
        if self.monitor is None:
            if len(self.rows) == self.rows.maxlen and not self.reference:
                self._fit(np.array(self.rows))
            return Judged(0.0, False, False, None, ())
        severity, contributions = self.monitor.advance(v)
        if severity < self.threshold:
            _, ended = self.episodes.advance(None)
            return Judged(severity, False, False, None, tuple(f"end:{name}" for name in ended))
        culprit = int(contributions.argmax())
        others = _implicated(contributions, culprit)
        explanation = self._explain(v, severity, contributions, culprit, others)
        alarm, ended = self.episodes.advance(
            self.names[culprit], also=[self.names[j] for j in others]
        )
        events = [f"end:{name}" for name in ended]
        if not self.reference and self.accept_after > 0:
            name = self.names[culprit]
            if self.episodes.length(name) >= self.accept_after:
                # A lasting change, online: it is the new normal. Fitting on the latest rows
                # (the change itself) restarts the monitor's smoothed views too.
                self._fit(np.array(self.rows))
                self.episodes.open.pop(name, None)
                events.append(f"accept:{name}")
        return Judged(severity, True, alarm, explanation, tuple(events))

    def _explain(
        self,
        v: NDArray[np.float64],
        severity: float,
        contributions: NDArray[np.float64],
        culprit: int,
        others: list[int],
    ) -> Explanation:
        assert self.monitor is not None
        name, value = self.names[culprit], float(v[culprit])
        shown = f"{name}={number(value)}"
        kept = self.monitor.inputs_.tolist()
        expected, deviation = math.nan, math.nan
        if culprit in kept:
            at = kept.index(culprit)
            expected = float(self.monitor.center_[at])
            deviation = float((v[culprit] - expected) / self.monitor.scale_[at])
            run, limit = self.monitor.runs_[at], self.monitor.run_limits_[at]
            if run >= severity * limit:  # the stuck view fired, not the relations
                detail = (
                    f"{shown} has not changed for {int(run) + 1} readings, longer than its "
                    f"reference makes plausible (about {limit:.0f})"
                )
                return Explanation(name, value, expected, deviation, "stuck", detail)
        top = float(contributions[culprit])
        named = [self.names[j] for j in others[:2]]
        also = f", with {' and '.join(named)}" if named else ""
        # An input's contribution is its part of a view's ratio: over the severity, its share.
        detail = (
            f"{shown} no longer fits how the inputs move together{also} ({severity:.3g} times "
            f"the limit, {top / severity:.0%} of it from {name}; its reference mean is "
            f"{number(expected)})"
        )
        return Explanation(name, value, expected, deviation, "relations", detail)


def _implicated(contributions: NDArray[np.float64], culprit: int) -> list[int]:
    """The other inputs that broke the relations with the culprit, the largest part first."""
    # Every reading of a fault goes through here: array methods (numpy's functions wrap them),
    # and no sort when the culprit stands alone.
    near = (contributions >= ALSO_NAMED * contributions[culprit]).nonzero()[0]
    if len(near) > 1:
        near = near[(-contributions[near]).argsort()]
    return [j for j in near.tolist() if j != culprit]
