"""The default detector: views of each input against their records; decisions, episodes, alarms."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..stream import (
    Array,
    Detector,
    Explanation,
    Pipeline,
    StateError,
    Values,
    Verdict,
    Verdicts,
    as_batch,
    column_names,
    number,
    register,
    spreads,
)
from . import _default_backend as backend
from . import _default_kernel as kernel
from ._default_process import ProcessView

__all__ = ["DefaultDetector", "default_pipeline"]

# The views of the kernel, strongest evidence first, as an explanation names them.
_VIEWS = (
    (kernel.RANGE_VIEW, "range"),
    (kernel.DIFFERENCE_VIEW, "change"),
    (kernel.LEVEL_VIEW, "level"),
    (kernel.SHAPE_VIEW, "shape"),
    (kernel.SEASON_VIEW, "season"),
)


def _severity(score: float) -> float:
    """The severity a score stands for (the inverse of the kernel's ``score_of``)."""
    return 2.0 * score if score <= 0.5 else 0.5 / (1.0 - score)


@register("default")
class DefaultDetector(Detector):
    """edgewise's default streaming detector, for unknown data and for known-normal references.

    **One input at a time.** Each input has its own model, about 12 KB in one ``float64`` array,
    updated by a kernel in C (in numba where that is not built). Five views measure how novel a
    reading is:

    * **value range** -- how far the value leaves the range of values seen, in units of
      ``range_tolerance`` of that range;
    * **difference range** -- the same for the change over ``difference_lag`` readings, in
      ``difference_tolerance`` of the range of changes;
    * **shape (kNN)** -- the last ``window`` means of ``block`` readings, coded in 8 bits by their
      place in the value range, against the last ``memory`` such windows: the L1 distance to the
      nearest one;
    * **level** -- the mean of the last ``level_window`` readings against a slow average of the
      older ones (half-life ``level_half_life``), in units of their spread;
    * **season** -- where the data show a cycle, the current window of block means against the
      windows one period ago (+-1 block), in units of the range. The period is learned online:
      the lag, up to ``season_lags`` blocks, whose autocorrelation of block means is a local
      peak above ``season_correlation`` of the variance and rises most above the shorter lags.

    **Score.** The shape, level and seasonal novelties are divided by their *record*: the largest
    past novelty, decaying with half-life ``novelty_half_life`` (shape, season; the seasonal
    record times ``season_factor``) or ``level_record_half_life`` (level), but never below
    ``novelty_floor`` times a slow estimate of the novelty's 99% quantile (trusted in proportion
    to the readings seen, fully after ``floor_readings``). The largest of the five is the
    reading's *severity* (1 at the record) and its score is half the severity up to 1, then
    ``1 - 1 / (2 severity)``: in [0, 1), 0.5 at the record, ranking readings however far out they
    lie. A reading at or beyond a record starts a *rest* of ``rest`` readings in which severities
    count ``rest_margin`` times less: what follows an onset does not stand out, a new fault far
    beyond it still does. The score ranks readings; the decision is made apart.

    **Decision** (``is_anomaly``). A reading is abnormal when a view finds it so: it leaves the
    value or difference range by the tolerance *and* by at least ``range_spreads`` noise spreads
    (the spread about the short mean, which a level change does not inflate; a new extreme of
    plain noise is not abnormal), its shape or level novelty reaches
    ``shape_margin`` or ``level_margin`` times the record, or its seasonal novelty the raised
    seasonal record -- each at the severity ``threshold`` stands for (0.505: 1.01). While an
    episode is open and not accepted, the value range and the level frozen at its alarm judge too:
    a lasting change stays abnormal however the model follows it.

    **Episodes and alarms** (``alarm``). An episode of an input starts with an alarm at its first
    abnormal reading; another view of it going abnormal raises another, and so does the live model
    (the views without the frozen normal) going abnormal again after ``end_after`` readings it
    found normal: a new fault on top of a lasting change. It ends once ``end_after``
    readings in a row are not abnormal (the event ``end:<input>``). Online, an episode that lasts
    ``accept_after`` readings is accepted as the input's new normal (``accept:<input>``); once the
    detector is commissioned on a reference (:meth:`commission`, ``edgewise detect --warmup`` or
    ``--reference``) only :meth:`relearn` replaces it.

    **What is learned.** The ranges learn every reading that is learned, and a reading that widens
    them by at most ``range_jump`` of their width: one glitch (a sensor's error code, 65535)
    cannot stretch them and blind the detector. A run of readings at their record is not learned
    by the model (ranges, shape memory, slow average; unless ``learn_anomalies``) until it has
    lasted ``recover`` readings; the records learn every reading from ``record_lead`` readings
    before the end of the warm-up. The first ``warmup`` readings of an input are learned and never
    judged. Missing (``nan``) values score 0 and change nothing.

    **Several inputs together.** When the first reading holds several values (and
    ``multivariate``), they are watched as a process whose inputs follow each other: a
    :class:`~edgewise.detect.ProcessMonitor` fitted on the reference or, online, on the first
    ``warmup`` readings, with the same episodes, alarms and acceptance; its explanation names the
    inputs that broke the relations. Inputs that appear later get a model of their own.

    Parameters
    ----------
    warmup
        Readings of an input learned from before it is judged (never flagged).
    threshold
        Score at which a view's decision makes a reading abnormal (0.505: 1% beyond its limit).
    end_after
        Readings in a row not abnormal that end an episode.
    accept_after
        Online, readings into an episode after which it is accepted as the new normal (0: never).
    learn_anomalies
        Learn the model from abnormal readings too.
    rest, rest_margin, recover
        The rest after a record, the damping of severities in it, and the readings into a run
        of records after which its readings are learned.
    record_lead
        Readings before the end of the warm-up from which novelties join the records.
    range_tolerance, difference_lag, difference_tolerance
        The value range's tolerance, the lag of the changes and the difference range's tolerance.
    range_jump
        Widest step, as a fraction of a range, by which a reading widens it unless learned.
    range_spreads
        The least margin of a range's decision, in noise spreads.
    block, window, memory, exclude
        Readings per block mean, block means per window, windows remembered, newest windows kept
        out of the memory (they overlap the current one).
    novelty_half_life, shape_margin
        Half-life of the shape (and seasonal) records; the shape decision's multiple of its record.
    level_window, level_half_life, level_record_half_life, level_margin
        Readings in the short mean; half-lives of the slow average and of the level record; the
        level decision's multiple of its record.
    novelty_floor, floor_readings
        The records' floor as a multiple of the 99% quantile, and the readings to trust it fully.
    season_lags, season_correlation, season_factor
        Longest period looked for, in blocks (0: no seasonal view); the autocorrelation a period's
        peak must exceed; the multiple of the seasonal record.
    multivariate
        Watch several inputs together (a process monitor) when the first reading has several.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.sin(np.arange(3000) * 2 * np.pi / 50) + rng.normal(0, 0.05, 3000)
    >>> x[2500] += 3.0
    >>> detector = DefaultDetector().commission(x[:1000, None], ["temp"])  # known normal
    >>> found = detector.detect_many(x[1000:, None], ["temp"])
    >>> (np.flatnonzero(found.alarm) + 1000).tolist()
    [2500]
    >>> print(found.explanations[1500])
    temp=2.95708 is outside its normal range -1.15334 to 1.11887
    """

    # 3: decisions, episodes and the frozen normal; glitch-proof ranges; graded scores.
    # 4: the live model's onsets during an episode; the noise about the short mean.
    state_version = 4

    def __init__(
        self,
        *,
        warmup: int = 150,
        threshold: float = 0.505,
        end_after: int = 30,
        accept_after: int = 1000,
        learn_anomalies: bool = False,
        rest: int = 40,
        rest_margin: float = 2.0,
        recover: int = 20,
        record_lead: int = 25,
        range_tolerance: float = 0.02,
        difference_lag: int = 20,
        difference_tolerance: float = 0.05,
        range_jump: float = 3.0,
        range_spreads: float = 1.0,
        block: int = 5,
        window: int = 8,
        memory: int = 1000,
        exclude: int = 4,
        novelty_half_life: float = 2000.0,
        shape_margin: float = 1.6,
        level_window: int = 20,
        level_half_life: float = 200.0,
        level_record_half_life: float = 16000.0,
        level_margin: float = 1.1,
        novelty_floor: float = 1.3,
        floor_readings: int = 20000,
        season_lags: int = 128,
        season_correlation: float = 0.4,
        season_factor: float = 1.5,
        multivariate: bool = True,
    ) -> None:
        self.warmup = warmup
        self.threshold = threshold
        self.end_after = end_after
        self.accept_after = accept_after
        self.learn_anomalies = learn_anomalies
        self.rest = rest
        self.rest_margin = rest_margin
        self.recover = recover
        self.record_lead = record_lead
        self.range_tolerance = range_tolerance
        self.difference_lag = difference_lag
        self.difference_tolerance = difference_tolerance
        self.range_jump = range_jump
        self.range_spreads = range_spreads
        self.block = block
        self.window = window
        self.memory = memory
        self.exclude = exclude
        self.novelty_half_life = novelty_half_life
        self.shape_margin = shape_margin
        self.level_window = level_window
        self.level_half_life = level_half_life
        self.level_record_half_life = level_record_half_life
        self.level_margin = level_margin
        self.novelty_floor = novelty_floor
        self.floor_readings = floor_readings
        self.season_lags = season_lags
        self.season_correlation = season_correlation
        self.season_factor = season_factor
        self.multivariate = multivariate

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {
            "warmup": 50,
            "block": 2,
            "window": 4,
            "memory": 50,
            "recover": 10,
            "season_lags": 20,
            "multivariate": False,
        }
        yield {"warmup": 30, "learn_anomalies": True, "exclude": 0, "level_window": 5}

    # -- parameters ------------------------------------------------------------------------------

    def _params(self) -> NDArray[np.float64]:
        """The kernel's parameter vector, validated."""
        for name in ("difference_lag", "block", "window", "memory", "level_window"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if int(self.window) > kernel.MAX_WINDOW:
            raise ValueError(f"window must be at most {kernel.MAX_WINDOW}, got {self.window!r}")
        for name in ("floor_readings", "end_after"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in (
            "warmup",
            "rest",
            "recover",
            "exclude",
            "season_lags",
            "accept_after",
            "record_lead",
        ):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in (
            "novelty_half_life",
            "level_half_life",
            "level_record_half_life",
            "season_factor",
            "range_tolerance",
            "difference_tolerance",
            "shape_margin",
            "level_margin",
        ):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("novelty_floor", "season_correlation", "range_jump", "range_spreads"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not self.rest_margin >= 1.0:
            raise ValueError(f"rest_margin must be >= 1, got {self.rest_margin!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold!r}")
        values = {
            kernel.P_WARMUP: int(self.warmup),
            kernel.P_THRESHOLD: _severity(self.threshold),
            kernel.P_END_AFTER: int(self.end_after),
            kernel.P_ACCEPT_AFTER: int(self.accept_after),
            kernel.P_LEARN_ANOMALIES: float(bool(self.learn_anomalies)),
            kernel.P_REST: int(self.rest),
            kernel.P_REST_MARGIN: self.rest_margin,
            kernel.P_RECOVER: int(self.recover),
            kernel.P_RECORD_START: max(0, int(self.warmup) - int(self.record_lead)),
            kernel.P_RANGE_TOLERANCE: self.range_tolerance,
            kernel.P_LAG: int(self.difference_lag),
            kernel.P_LAG_TOLERANCE: self.difference_tolerance,
            kernel.P_RANGE_JUMP: self.range_jump,
            kernel.P_RANGE_SPREADS: self.range_spreads,
            kernel.P_BLOCK: int(self.block),
            kernel.P_WINDOW: int(self.window),
            kernel.P_MEMORY: int(self.memory),
            kernel.P_EXCLUDE: int(self.exclude),
            kernel.P_NOVELTY_DECAY: 0.5 ** (1.0 / self.novelty_half_life),
            kernel.P_SHAPE_MARGIN: self.shape_margin,
            kernel.P_SHORT: int(self.level_window),
            kernel.P_LEVEL_RATE: 1.0 - 0.5 ** (1.0 / self.level_half_life),
            kernel.P_LEVEL_DECAY: 0.5 ** (1.0 / self.level_record_half_life),
            kernel.P_LEVEL_MARGIN: self.level_margin,
            kernel.P_FLOOR: self.novelty_floor,
            kernel.P_FLOOR_READINGS: int(self.floor_readings),
            kernel.P_SEASON_LAGS: int(self.season_lags),
            kernel.P_SEASON_CORRELATION: self.season_correlation,
            kernel.P_SEASON_FACTOR: self.season_factor,
        }
        params = np.zeros(kernel.N_PARAMS)
        for at, value in values.items():
            params[at] = value
        return params

    # -- state -----------------------------------------------------------------------------------

    def _state(self, name: str) -> NDArray[np.float64]:
        """The kernel state of input ``name``, created on its first reading."""
        states: dict[str, NDArray[np.float64]] | None = getattr(self, "states_", None)
        if states is None:
            self.params_ = self._params()
            states = {}
            self.states_: dict[str, NDArray[np.float64]] = states
        state = states.get(name)
        if state is None:
            state = states[name] = kernel.new_state(self.params_)
            state[kernel.S_REFERENCE] = float(getattr(self, "reference_", False))
        return state

    def _process(self, x: Values) -> ProcessView | None:
        """The process view of several inputs, made at the first reading that has several."""
        if "process_" not in self.__dict__:
            names = [name for name, value in x.items() if not math.isnan(value)]
            self.process_: ProcessView | None = None
            if self.multivariate and len(names) > 1:
                self._params()  # the parameters are checked whichever view runs
                self.process_ = ProcessView(
                    names,
                    warmup=int(self.warmup),
                    threshold=_severity(self.threshold),
                    end_after=int(self.end_after),
                    accept_after=int(self.accept_after),
                )
        return self.process_

    def _check_state(self) -> None:
        states = getattr(self, "states_", None)
        if states is None:
            return
        params = self._params()
        size = len(kernel.new_state(params))
        for name, state in states.items():
            if state.shape != (size,) or state.dtype != np.float64:
                raise StateError(
                    f"the state of input {name!r} has shape {state.shape}; these parameters "
                    f"need ({size},)"
                )
            if not np.array_equal(state[: len(params)], params):
                raise StateError(f"the state of input {name!r} was made with other parameters")

    @property
    def rebaselines_(self) -> int:
        """Runs of records, over all inputs, that lasted so long that the model learned them."""
        states = getattr(self, "states_", {})
        return sum(int(state[kernel.S_REBASELINES]) for state in states.values())

    # -- the contract ----------------------------------------------------------------------------

    def _own(self, x: Values, process: ProcessView | None) -> Iterator[tuple[str, float]]:
        """The values the per-input kernels judge: all of them, or those the process view does
        not watch (constant in the rows it was fitted on, or new)."""
        if process is None:
            yield from x.items()
        elif not process.watched.issuperset(x):
            watched = process.watched
            yield from ((k, v) for k, v in x.items() if k not in watched)

    def learn_one(self, x: Values) -> None:
        process = self._process(x)
        if process is not None:
            process.learn(process.vector(x))
        step = backend.step_function()
        for name, value in self._own(x, process):
            step(self._state(name), value, kernel.LEARN)

    def commission(self, X: Array, columns: Sequence[str] | None = None) -> DefaultDetector:
        """Learn known-normal data and keep it as the reference: no lasting change is then
        accepted by itself, only by :meth:`relearn`."""
        self.learn_many(X, columns)
        self.reference_ = True
        for state in getattr(self, "states_", {}).values():
            state[kernel.S_REFERENCE] = 1.0
        process = self.__dict__.get("process_")
        if process is not None:
            process.fit_reference()
        return self

    def score_one(self, x: Values) -> float:
        process = self._process(x)
        severity = 0.0 if process is None else process.score(process.vector(x))
        score = kernel.score_of(severity)
        step = backend.step_function()
        for name, value in self._own(x, process):
            score = max(score, step(self._state(name), value, kernel.SCORE))
        return score

    def detect_one(self, x: Values) -> Verdict:
        process = self.__dict__["process_"] if "process_" in self.__dict__ else self._process(x)
        if process is None:
            return self._detect_inputs(x.items())
        judged = process.detect(process.vector(x))
        score = kernel.score_of(judged.severity)
        abnormal, alarm, explanation = judged.abnormal, judged.alarm, judged.explanation
        if process.watched.issuperset(x):  # the usual reading: the process view judges it all
            return Verdict(score, abnormal, alarm, explanation, judged.events)
        own = self._detect_inputs(self._own(x, process), best=score if abnormal else -1.0)
        return Verdict(
            max(score, own.score),
            abnormal or own.is_anomaly,
            alarm or own.alarm,
            own.explanation if own.is_anomaly else explanation,
            judged.events + own.events,
        )

    def _detect_inputs(self, values: Iterable[tuple[str, float]], best: float = -1.0) -> Verdict:
        """:meth:`detect_one` by the per-input models (the hot path, when every input has one).

        An abnormal input explains the reading if it scores above ``best`` (what the process
        view's abnormal verdict scored), and only then makes the verdict abnormal.
        """
        states: dict[str, NDArray[np.float64]] | None = self.__dict__.get("states_")
        step = backend.step_function()
        score, abnormal, alarm = 0.0, False, False
        explanation: Explanation | None = None
        events: list[str] | None = None
        for name, value in values:
            state = None if states is None else states.get(name)
            if state is None:
                state = self._state(name)
                states = self.states_
            s = step(state, value, kernel.DETECT)
            if s > score:
                score = s
            views, happened = state[kernel.O_VIEWS], state[kernel.O_EVENTS]
            if not (views or happened) or not math.isfinite(value):
                continue
            if happened:
                code = int(happened)
                alarm |= bool(code & kernel.ALARM)
                if code & ~kernel.ALARM:
                    events = [*(events or []), *_event_names(name, code)]
            if views and s > best:
                abnormal, best = True, s
                explanation = self._explain(name, value, int(views), state[kernel.O_EXPECTED :])
        return Verdict(score, abnormal, alarm, explanation, tuple(events) if events else ())

    def detect_many(self, X: Array, columns: Sequence[str] | None = None) -> Verdicts:
        batch = as_batch(X)
        n, m = batch.shape
        names = column_names(m, columns)
        if m > 1 and self.multivariate and "process_" not in self.__dict__:
            return super().detect_many(batch, names)
        if "process_" in self.__dict__ and self.process_ is not None:
            return super().detect_many(batch, names)
        # Inputs are independent models, so the batch runs input by input.
        values = np.ascontiguousarray(batch.T)
        scores = np.zeros((m, n))
        views = np.zeros((m, n))
        happened = np.zeros((m, n))
        evidence = np.zeros((m, n, kernel.EVIDENCE))
        for j, name in enumerate(names):
            backend.run_column(
                self._state(name), values[j], scores[j], views[j], happened[j], evidence[j]
            )
        self.__dict__.setdefault("process_", None)
        total = scores.max(axis=0) if m else np.zeros(n)
        abnormal = views > 0.0
        is_anomaly: NDArray[np.bool_] = np.asarray(abnormal.any(axis=0), dtype=np.bool_)
        codes = happened.astype(np.int64)
        alarm = np.asarray(((codes & kernel.ALARM) > 0).any(axis=0), dtype=np.bool_)
        explanations: list[Explanation | None] = [None] * n
        for i in np.flatnonzero(is_anomaly).tolist():
            j = int(np.argmax(np.where(abnormal[:, i], scores[:, i], -1.0)))
            explanations[i] = self._explain(
                names[j], float(values[j, i]), int(views[j, i]), evidence[j, i]
            )
        events: list[tuple[str, ...]] = [()] * n
        for i in np.flatnonzero((codes & ~kernel.ALARM).any(axis=0)).tolist():
            events[i] = tuple(e for j in range(m) for e in _event_names(names[j], codes[j, i]))
        return Verdicts(total, is_anomaly, alarm, explanations, events)

    # -- explanations ----------------------------------------------------------------------------

    def _explain(
        self, name: str, value: float, views: int, evidence: NDArray[np.float64]
    ) -> Explanation:
        """An explanation in an operator's words, from the strongest view that fired."""
        expected, deviation, low, high, change, change_low, change_high = (
            float(e) for e in evidence[: kernel.EVIDENCE]
        )
        view = next(label for bit, label in _VIEWS if views & bit)
        shown = f"{name}={number(value)}"
        readings = int(self.block) * int(self.window)
        direction = "above" if deviation >= 0 else "below"
        if view == "range":
            detail = f"{shown} is outside its normal range {number(low)} to {number(high)}"
        elif view == "change":
            detail = (
                f"{name} changed by {number(change)} over {int(self.difference_lag)} readings, "
                f"beyond its normal changes of {number(change_low)} to {number(change_high)}"
            )
        elif view == "level":
            detail = (
                f"{shown}: its level moved {spreads(deviation)} spreads {direction} its usual "
                f"{number(expected)}"
            )
        elif view == "shape":
            detail = (
                f"{shown}: its last {readings} readings take a shape not seen in the last "
                f"{int(self.memory)} windows"
            )
        else:
            detail = (
                f"{shown}: its last {readings} readings differ from the same time one cycle earlier"
            )
        return Explanation(name, value, expected, deviation, view, detail)


def _event_names(name: str, happened: int) -> list[str]:
    """The events of one input's episode, as words (an alarm is a field of its own)."""
    events = []
    if happened & kernel.ENDED:
        events.append(f"end:{name}")
    if happened & kernel.ACCEPTED:
        events.append(f"accept:{name}")
    return events


def default_pipeline(**params: Any) -> Pipeline:
    """What edgewise runs unless told otherwise: last-value imputation of missing values, then
    the default detector with ``params``.

    >>> default_pipeline().to_spec()["steps"]
    [{'step': 'last_value', 'params': {}}, {'step': 'default', 'params': {}}]
    """
    from ..impute import LastValue

    return Pipeline(LastValue(), DefaultDetector(**params))
