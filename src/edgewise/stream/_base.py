"""The step contract: every cleaning, imputation, fusion, feature and detection algorithm is a step.

Three levels, each a thin layer over the one below:

* :class:`Step` -- works on whole :class:`~edgewise.stream.Reading` objects of any number of
  streams. ``update`` takes one reading and emits zero, one or several (a de-duplicator emits
  none for a repeat, a re-orderer holds readings back, a resampler emits one per grid point).
  ``tick`` lets the clock drive a step when nothing arrives (gap detection). ``flush`` empties
  what a step holds at the end of a stream.
* :class:`Transformer` -- one reading in, one reading out, on the named values (dicts, as in
  River), with a batch path on 2-D ``float64`` arrays whose results equal the per-reading path's.
* :class:`Detector` -- scores readings in [0, 1] (high = anomalous), decides ``is_anomaly`` itself,
  and adds a :class:`~edgewise.stream.Detection` record to each reading it judges.

**Streams.** A step keeps the state of each stream apart, in a *lane*: a copy of the step made on
the stream's first reading (the step's own learned state included, so a step commissioned on
normal data starts every stream from it). ``update`` sends a reading to its stream's lane, which
sees only that stream; the value-level methods (``learn_one``, ``detect_one``, ``*_many``) work
on the step's own state, as one stream (River's way). A :class:`~edgewise.stream.Pipeline` routes
each reading once, to a lane holding a copy of every one of its steps. Lanes of streams silent
for a while can be evicted to a :class:`~edgewise.stream.StateStore` and are brought back, exactly,
by their next reading (:meth:`Step.keep_streams`).

**Sequence numbers.** A reading that reaches a step's ``update`` (or a pipeline's) without a
``seq`` gets its stream's next number: 0, 1, 2, ... in arrival order; one that has a number keeps
it, and the stream's count moves past it. The count is learned state, so numbers continue across
saved-state resumes. Steps that create readings (resampling, gap markers) number every reading
they emit for a stream themselves, 0, 1, 2, ... in emission order; every other step keeps the
numbers of the readings it passes, drops, repairs or re-orders.

Parameters are keyword-only and stored untouched under their own names (as in scikit-learn); state
learned from data ends with an underscore and is created lazily on the first reading (as in River);
attributes starting with an underscore are caches, never saved.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Self

import numpy as np
from numpy.typing import NDArray

from ._reading import Detection, Explanation, Reading, Values

if TYPE_CHECKING:
    from ._lanes import Lanes, StateStore

__all__ = [
    "Array",
    "Detector",
    "Step",
    "Transformer",
    "Verdict",
    "Verdicts",
    "as_batch",
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


def as_batch(X: Any) -> Array:
    """``X`` as a 2-D ``float64`` batch (a 1-D array is one column)."""
    batch = np.asarray(X, dtype=np.float64)
    if batch.ndim == 1:
        batch = batch[:, None]
    if batch.ndim != 2:
        raise ValueError(f"a batch must be 2-D (readings x values), got shape {batch.shape}")
    return batch


def _rows(X: Any, columns: Sequence[str] | None) -> list[Values]:
    """A batch as the per-reading path sees it: one dict of named values per row."""
    batch = as_batch(X)
    names = column_names(batch.shape[1], columns)
    return [dict(zip(names, row, strict=True)) for row in batch.tolist()]


class Step(ABC):
    """Base of every step."""

    state_version: ClassVar[int] = 1
    """Version of the layout of this step's learned state; bump it when the layout changes."""

    spec_error: ClassVar[str | None] = None
    """Why this step cannot be described by a spec or saved as state, if it cannot."""

    stream_: str | None = None
    """The stream this step serves, on a lane; ``None`` on the step itself."""

    # -- parameters --------------------------------------------------------------------------------

    def _get_params(self) -> dict[str, Any]:
        """The constructor's parameters, read back from the attributes they were stored in."""
        signature = inspect.signature(type(self).__init__)
        return {
            name: getattr(self, name)
            for name, p in signature.parameters.items()
            if name != "self" and p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def clone(self, **overrides: Any) -> Self:
        """A fresh copy with the same parameters, except ``overrides``, and nothing learned."""
        params = copy.deepcopy(self._get_params())
        unknown = set(overrides) - set(params)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no parameter(s) {sorted(unknown)}")
        params.update(overrides)
        return type(self)(**params)

    def to_spec(self) -> dict[str, Any]:
        """This step as a spec: its registered name and the parameters that differ from defaults."""
        from ._spec import step_spec

        return step_spec(self)

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

    # -- streams -----------------------------------------------------------------------------------

    def _lanes(self) -> Lanes:
        lanes: Lanes | None = self.__dict__.get("lanes_")
        if lanes is None:
            from ._lanes import Lanes

            lanes = self.lanes_ = Lanes(self)
        return lanes

    def lane(self, stream: str) -> Self:
        """The step serving ``stream``: its state, made on first use or brought back if evicted."""
        if self.stream_ is not None:
            if stream != self.stream_:
                raise ValueError(f"this step serves stream {self.stream_!r}, not {stream!r}")
            return self
        lane: Self = self._lanes().get(stream)
        return lane

    @property
    def streams(self) -> list[str]:
        """The streams whose state is in memory, in order of first reading."""
        lanes: Lanes | None = self.__dict__.get("lanes_")
        return [] if lanes is None else list(lanes.active)

    def keep_streams(
        self, *, store: StateStore | None = None, evict_after: float | None = None
    ) -> Self:
        """Where evicted streams go, and after how many seconds of silence a stream is evicted.

        Silence is measured in reading time: at ``tick(now)``, a stream whose newest timestamp is
        more than ``evict_after`` seconds before ``now`` is saved to ``store`` and dropped from
        memory; its next reading brings it back exactly. An evicted stream is not ticked.
        """
        if evict_after is not None and not evict_after >= 0.0:
            raise ValueError(f"evict_after must be >= 0 seconds, got {evict_after!r}")
        if evict_after is not None and store is None:
            raise ValueError("evict_after needs a store to evict streams to")
        lanes = self._lanes()
        lanes.store = store
        lanes.evict_after = evict_after
        return self

    def evict(self, stream: str) -> None:
        """Save ``stream``'s state to the store given to :meth:`keep_streams` and drop it."""
        self._lanes().evict(stream)

    def _new_lane(self, stream: str) -> Self:
        """A copy of this step, its learned state included, serving ``stream`` only."""
        lane = copy.copy(self)
        state = {k: v for k, v in vars(self).items() if k.endswith("_") and k != "lanes_"}
        lane.__dict__.update(copy.deepcopy(state))
        lane.__dict__.pop("lanes_", None)
        lane.stream_ = stream
        lane.next_seq_ = 0
        return lane

    def update(self, reading: Reading) -> list[Reading]:
        """Take one reading; return the readings this step emits because of it (0, 1 or more)."""
        if self.stream_ is None:
            lanes: Lanes | None = self.__dict__.get("lanes_")
            if lanes is None:
                lanes = self._lanes()
            lane = lanes.active.get(reading.stream)
            if lane is None:
                lane = lanes.get(reading.stream)
            if lanes.evict_after is not None:
                lanes.seen(reading.stream, reading.timestamp)
        else:
            lane = self.lane(reading.stream)
        return lane._update(lane._numbered(reading))

    def _numbered(self, reading: Reading) -> Reading:
        seq = reading.seq
        if seq is None:
            reading = reading.numbered(self.next_seq_)
            self.next_seq_ += 1
        elif seq >= self.next_seq_:
            self.next_seq_ = seq + 1
        return reading

    def update_many(self, readings: Sequence[Reading]) -> list[Reading]:
        """Take a batch of readings; equal to calling :meth:`update` on each in turn."""
        return [out for reading in readings for out in self.update(reading)]

    def tick(self, now: float) -> list[Reading]:
        """Let the clock drive the step: ``now`` is the current time, in epoch seconds."""
        if self.stream_ is not None:
            return self._tick(now)
        lanes: Lanes | None = self.__dict__.get("lanes_")
        if lanes is None:
            return []
        out = [r for lane in list(lanes.active.values()) for r in lane._tick(now)]
        lanes.evict_idle(now)
        return out

    def flush(self) -> list[Reading]:
        """End of stream: emit whatever the step still holds back, for every stream."""
        if self.stream_ is not None:
            return self._flush()
        lanes: Lanes | None = self.__dict__.get("lanes_")
        if lanes is None:
            return []
        return [r for lane in list(lanes.active.values()) for r in lane._flush()]

    # -- one stream: what each algorithm implements ---------------------------------------------

    next_seq_: int

    @abstractmethod
    def _update(self, reading: Reading) -> list[Reading]:
        """Take one reading of this step's one stream; return what it emits because of it."""

    def _tick(self, now: float) -> list[Reading]:
        """The clock, for this step's one stream."""
        return []

    def _flush(self) -> list[Reading]:
        """End of this step's one stream."""
        return []

    # -- state -------------------------------------------------------------------------------------

    def _learned_state(self) -> dict[str, Any]:
        """What this step (or lane) has learned: every attribute ending in ``_`` but the lanes."""
        if self.spec_error is not None:
            from ._state import StateError

            raise StateError(self.spec_error)
        return {k: v for k, v in vars(self).items() if k.endswith("_") and k != "lanes_"}

    def _restore(self, state: Mapping[str, Any]) -> None:
        """Replace what this step has learned with ``state``, then check it."""
        for name in [k for k in vars(self) if k.endswith("_") and k != "lanes_"]:
            delattr(self, name)
        for name, value in state.items():
            if not name.endswith("_"):
                from ._state import StateError

                raise StateError(f"{name!r} is not learned state of {type(self).__name__}")
            setattr(self, name, value)
        self._check_state()

    def _check_state(self) -> None:  # noqa: B027 (an optional hook: most steps check nothing)
        """Raise :class:`~edgewise.stream.StateError` when restored state does not fit the step."""

    def _children(self) -> list[Step]:
        """The steps inside this one, whose state is saved with it (a pipeline's steps)."""
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

    def _update(self, reading: Reading) -> list[Reading]:
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
            return np.empty((0, as_batch(X).shape[1]))
        keys = list(rows[0])
        return np.array([[r.get(k, math.nan) for k in keys] for r in rows], dtype=np.float64)


class Verdict(NamedTuple):
    """A detector's verdict on one reading's values (what ``detect_one`` returns)."""

    score: float
    is_anomaly: bool
    alarm: bool = False
    explanation: Explanation | None = None
    events: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdicts:
    """A detector's verdicts on a batch; ``explanations[i]`` is set where ``is_anomaly[i]``."""

    scores: Array
    is_anomaly: NDArray[np.bool_]
    alarm: NDArray[np.bool_]
    explanations: list[Explanation | None]
    events: list[tuple[str, ...]]

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, i: int) -> Verdict:
        return Verdict(
            float(self.scores[i]),
            bool(self.is_anomaly[i]),
            bool(self.alarm[i]),
            self.explanations[i],
            self.events[i],
        )

    @classmethod
    def of(cls, found: Sequence[Verdict]) -> Verdicts:
        """The batch of the verdicts ``found``, in order."""
        return cls(
            np.array([v.score for v in found], dtype=np.float64),
            np.array([v.is_anomaly for v in found], dtype=np.bool_),
            np.array([v.alarm for v in found], dtype=np.bool_),
            [v.explanation for v in found],
            [v.events for v in found],
        )


class Detector(Step):
    """A streaming anomaly detector: scores in [0, 1], high = anomalous.

    ``detect_one`` is the streaming path: it scores the reading against what was learned so far,
    decides ``is_anomaly`` with the detector's own online-calibrated threshold, then learns from
    the reading unless it was flagged (so a long fault does not become the new normal).
    ``learn_one`` learns unconditionally: use it (or :meth:`commission`) on known-normal data.
    Through ``update`` each reading gains a :class:`~edgewise.stream.Detection` record.
    """

    @abstractmethod
    def learn_one(self, x: Values) -> None:
        """Learn from one reading known to be normal."""

    @abstractmethod
    def score_one(self, x: Values) -> float:
        """Anomaly score of one reading in [0, 1], without changing the state."""

    @abstractmethod
    def detect_one(self, x: Values) -> Verdict:
        """Score, decide and (unless flagged) learn one reading."""

    def _identity(self) -> tuple[str, str]:
        """The registered name, and a version naming this configuration (cached)."""
        identity: tuple[str, str] | None = self.__dict__.get("_identity_cache")
        if identity is None:
            from ._registry import name_of
            from ._spec import SpecError

            name = name_of(type(self))
            try:
                described = json.dumps(self.to_spec(), sort_keys=True)
            except SpecError:  # not described by a spec: its parameters' repr names it
                described = repr(self)
            version = hashlib.sha256(described.encode("utf-8")).hexdigest()[:12]
            identity = self._identity_cache = (name, version)
        return identity

    def relearn(self) -> None:
        """Forget what was learned: what comes next is the new normal (an operator's decision).

        The detector starts afresh, warm-up included; the next detection it makes carries the
        event ``"relearn"``. The stream's numbering is kept.
        """
        keep = {"stream_", "next_seq_", "lanes_"}
        for name in [k for k in vars(self) if k.endswith("_") and k not in keep]:
            delattr(self, name)
        self.relearned_ = True

    def take_events(self) -> tuple[str, ...]:
        """Events that happened between readings (an operator's relearn), for the next record."""
        return ("relearn",) if self.__dict__.pop("relearned_", False) else ()

    def _update(self, reading: Reading) -> list[Reading]:
        verdict = self.detect_one(reading.values)
        events = self.take_events() + verdict.events
        name, version = self._identity()
        detection = Detection(
            reading.stream,
            reading.seq,
            reading.timestamp,
            verdict.score,
            verdict.is_anomaly,
            verdict.alarm,
            verdict.explanation,
            name,
            version,
            events,
        )
        return [reading.with_detection(detection)]

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

    def detect_many(self, X: Array, columns: Sequence[str] | None = None) -> Verdicts:
        """The streaming path on a batch: equal to :meth:`detect_one` on each row in turn."""
        return Verdicts.of([self.detect_one(x) for x in _rows(X, columns)])
