"""The step contract: every cleaning, imputation, fusion, feature and detection algorithm is a step.

Three levels, each a thin layer over the one below:

* :class:`Step` -- works on whole :class:`~edgewise.stream.Reading` objects. ``update`` takes one
  reading and emits zero, one or several (a de-duplicator emits none for a repeat, a re-orderer
  holds readings back, a resampler emits one per grid point). ``tick`` lets the clock drive a step
  when nothing arrives (gap detection). ``flush`` empties what a step holds at the end of a stream.
* :class:`Transformer` -- one reading in, one reading out, on the named values (dicts, as in River),
  with a batch path on 2-D ``float64`` arrays whose results equal the per-reading path's.
* :class:`Detector` -- scores readings in [0, 1] (high = anomalous) and decides ``is_anomaly``
  itself; the batch path equals the per-reading path.

Parameters are keyword-only and stored untouched under their own names (as in scikit-learn); state
learned from data ends with an underscore and is created lazily on the first reading (as in River).
"""

from __future__ import annotations

import copy
import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from ._reading import Explanation, Reading, Values

__all__ = [
    "Array",
    "Detection",
    "Detections",
    "Detector",
    "Step",
    "Transformer",
    "column_names",
]

Array = NDArray[np.float64]
"""A batch of readings: one row per reading, one column per named value, ``nan`` = missing."""


def column_names(n_columns: int, columns: Sequence[str] | None) -> list[str]:
    """Names of a batch's columns: ``columns`` when given, else ``x0, x1, ...``."""
    if columns is None:
        return [f"x{j}" for j in range(n_columns)]
    if len(columns) != n_columns:
        raise ValueError(f"{len(columns)} column names given for {n_columns} columns")
    return list(columns)


def _as_batch(X: Any) -> Array:
    batch = np.asarray(X, dtype=np.float64)
    if batch.ndim == 1:
        batch = batch[:, None]
    if batch.ndim != 2:
        raise ValueError(f"a batch must be 2-D (readings x values), got shape {batch.shape}")
    return batch


def _rows(X: Any, columns: Sequence[str] | None) -> list[Values]:
    """A batch as the per-reading path sees it: one dict of named values per row."""
    batch = _as_batch(X)
    names = column_names(batch.shape[1], columns)
    return [dict(zip(names, row, strict=True)) for row in batch.tolist()]


class Step(ABC):
    """Base of every step."""

    def _get_params(self) -> dict[str, Any]:
        """The constructor's parameters, read back from the attributes they were stored in."""
        signature = inspect.signature(type(self).__init__)
        return {
            name: getattr(self, name)
            for name, p in signature.parameters.items()
            if name != "self" and p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def clone(self, **overrides: Any) -> Self:
        """A fresh, unfitted copy with the same parameters, except ``overrides``."""
        params = copy.deepcopy(self._get_params())
        unknown = set(overrides) - set(params)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no parameter(s) {sorted(unknown)}")
        params.update(overrides)
        return type(self)(**params)

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        """Parameter sets the generated check suite instantiates this step with."""
        yield {}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({params})"

    def __or__(self, other: Step) -> Step:
        from ._pipeline import Pipeline

        return Pipeline(self, other)

    @abstractmethod
    def update(self, reading: Reading) -> list[Reading]:
        """Take one reading; return the readings this step emits because of it (0, 1 or more)."""

    def update_many(self, readings: Sequence[Reading]) -> list[Reading]:
        """Take a batch of readings; equal to calling :meth:`update` on each in turn."""
        return [out for reading in readings for out in self.update(reading)]

    def tick(self, now: float) -> list[Reading]:
        """Let the clock drive the step: ``now`` is the current time, in epoch seconds."""
        return []

    def flush(self) -> list[Reading]:
        """End of stream: emit whatever the step still holds back."""
        return []


class Transformer(Step):
    """A step that maps each reading's values to new values, one in, one out.

    Subclasses implement :meth:`transform_one` and, if stateful, :meth:`learn_one`. The batch
    methods default to the per-reading ones, row by row; fast subclasses override them.
    """

    def learn_one(self, x: Values) -> None:
        """Update the state with one reading's values (stateless transformers do nothing)."""
        del x

    @abstractmethod
    def transform_one(self, x: Values) -> Values:
        """The transformed values of one reading, without changing the state."""

    def learn_transform_one(self, x: Values) -> Values:
        """Transform one reading with the state so far, then learn from it (the streaming path)."""
        y = self.transform_one(x)
        self.learn_one(x)
        return y

    def update(self, reading: Reading) -> list[Reading]:
        return [reading.with_values(self.learn_transform_one(reading.values))]

    def learn_many(self, X: Array, columns: Sequence[str] | None = None) -> None:
        """Learn from a batch, row by row."""
        for x in _rows(X, columns):
            self.learn_one(x)

    def transform_many(self, X: Array, columns: Sequence[str] | None = None) -> Array:
        """Transform a batch without changing the state."""
        return self._map_many(self.transform_one, X, columns)

    def learn_transform_many(self, X: Array, columns: Sequence[str] | None = None) -> Array:
        """The streaming path on a batch: each row is transformed, then learned from."""
        return self._map_many(self.learn_transform_one, X, columns)

    @staticmethod
    def _map_many(fn: Callable[[Values], Values], X: Array, columns: Sequence[str] | None) -> Array:
        rows = [fn(x) for x in _rows(X, columns)]
        if not rows:
            return np.empty((0, _as_batch(X).shape[1]))
        keys = list(rows[0])
        return np.array([[r.get(k, math.nan) for k in keys] for r in rows], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Detection:
    """A detector's verdict on one reading."""

    score: float
    is_anomaly: bool
    explanation: Explanation | None = None


@dataclass(frozen=True, slots=True)
class Detections:
    """A detector's verdicts on a batch; ``explanations[i]`` is set where ``is_anomaly[i]``."""

    scores: Array
    is_anomaly: NDArray[np.bool_]
    explanations: list[Explanation | None]

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, i: int) -> Detection:
        return Detection(float(self.scores[i]), bool(self.is_anomaly[i]), self.explanations[i])


class Detector(Step):
    """A streaming anomaly detector: scores in [0, 1], high = anomalous.

    ``detect_one`` is the streaming path: it scores the reading against what was learned so far,
    decides ``is_anomaly`` with the detector's own online-calibrated threshold, then learns from
    the reading unless it was flagged (so a long fault does not become the new normal).
    ``learn_one`` learns unconditionally: use it (or :meth:`commission`) on known-normal data.
    """

    @abstractmethod
    def learn_one(self, x: Values) -> None:
        """Learn from one reading known to be normal."""

    @abstractmethod
    def score_one(self, x: Values) -> float:
        """Anomaly score of one reading in [0, 1], without changing the state."""

    @abstractmethod
    def detect_one(self, x: Values) -> Detection:
        """Score, decide and (unless flagged) learn one reading."""

    def update(self, reading: Reading) -> list[Reading]:
        detection = self.detect_one(reading.values)
        out = reading.with_values(reading.values)
        out.score = detection.score
        out.is_anomaly = detection.is_anomaly
        out.explanation = detection.explanation
        return [out]

    def commission(self, X: Array, columns: Sequence[str] | None = None) -> Self:
        """Learn from known-normal data (the first readings, or a reference file)."""
        self.learn_many(X, columns)
        return self

    def learn_many(self, X: Array, columns: Sequence[str] | None = None) -> None:
        """Learn from a batch of known-normal readings, row by row."""
        for x in _rows(X, columns):
            self.learn_one(x)

    def score_many(self, X: Array, columns: Sequence[str] | None = None) -> Array:
        """Scores of a batch against the current state, without changing it."""
        return np.array([self.score_one(x) for x in _rows(X, columns)], dtype=np.float64)

    def detect_many(self, X: Array, columns: Sequence[str] | None = None) -> Detections:
        """The streaming path on a batch: equal to :meth:`detect_one` on each row in turn."""
        found = [self.detect_one(x) for x in _rows(X, columns)]
        return Detections(
            np.array([d.score for d in found], dtype=np.float64),
            np.array([d.is_anomaly for d in found], dtype=np.bool_),
            [d.explanation for d in found],
        )
