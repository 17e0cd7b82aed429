"""The default detector: five novelty scores against their own records, one alarm per episode."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..stream import (
    Array,
    Detector,
    Explanation,
    StateError,
    Values,
    Verdict,
    Verdicts,
    as_batch,
    column_names,
    register,
)
from . import _default_kernel as kernel

__all__ = ["DefaultDetector"]


@register("default")
class DefaultDetector(Detector):
    """edgewise's default streaming detector; its defaults are tuned once on the NAB corpus.

    Each input has its own model, about 12 KB in one ``float64`` array, updated by a numba
    kernel. The score of a reading is the largest of five novelties, each in [0, 1]:

    * **value range** -- 1 when the value leaves the range of all values seen so far by more than
      ``range_tolerance`` of that range;
    * **difference range** -- 1 when the change over ``difference_lag`` readings leaves the range
      of all such changes by more than ``difference_tolerance`` of theirs;
    * **shape (kNN)** -- the last ``window`` means of ``block`` readings, coded in 8 bits by their
      place in the value range, against the last ``memory`` such windows: the L1 distance to the
      nearest one;
    * **level change** -- the mean of the last ``level_window`` readings against a slow average of
      the older ones (half-life ``level_half_life``), in units of their spread;
    * **seasonal** -- where the data show a cycle, the current window of block means against the
      windows one period ago (+-1 block): the L1 distance to the nearest, in units of the range.
      The period is learned online: the lag, up to ``season_lags`` blocks, whose autocorrelation
      of block means (sums decaying with a half-life of 1,000 blocks) is a local peak above
      ``season_correlation`` of the variance and rises most above the autocorrelation at shorter
      lags. This catches a shape that is normal, but not at this time of the cycle.

    **Online calibration.** The last three novelties are divided by twice their own *record*: the
    largest past value, decaying with half-life ``novelty_half_life`` (kNN, seasonal) or
    ``level_record_half_life`` (level). The seasonal record is first multiplied by
    ``season_factor`` (a cycle repeats less exactly than the memory's nearest shape), and the
    seasonal novelty is scored only after ``season_lags`` seasonal distances have been measured.
    A score of 0.5 means "as novel as the record", 1 means twice the record. A reading is flagged
    when its score reaches ``threshold`` (0.505: the novelty beats its record by 1%), so the
    detector calibrates itself on the tail of its own past novelty, input by input, without
    labels. The records start at the end of the warm-up: the first few hundred readings after it
    are judged against young records and may raise an early alarm or two.

    **Long-run floor.** A decaying record is beaten now and then by ordinary novelty, so on
    stationary data the records alone flag about 2 readings in 1,000. Each record therefore
    does not decay below ``novelty_floor`` times a slow estimate of the 99% quantile of its own
    novelty (an estimate that one anomaly moves by one small step only). The floor is learned
    from the long run, so it is trusted in proportion to the readings seen, fully after
    ``floor_readings``; on stationary data it then cuts the false alarms 9- to 50-fold.

    **One alarm per episode.** After a new record (a score of 0.5) or a flag, scores are 0 for
    ``rest`` readings; a new record during the rest starts it again, so an anomaly that goes on is
    reported once.

    **Anomalies are not learned** (``learn_anomalies=False``): a reading that starts or restarts a
    rest -- a flag, or a new record -- is not learned by the model of normal behaviour: its window
    never joins the memory and it never enters the slow average. The ranges and the records always
    learn (they describe what has been seen; not learning a spike would re-flag every similar
    spike). Once an episode (a rest and what started it) has lasted ``recover`` readings, its
    high-scoring readings are learned again, so that a lasting change becomes the new normal;
    :attr:`rebaselines_` counts the episodes where that happened.

    The first ``warmup`` readings of an input are learned from and never flagged. Missing
    (``nan``) values score 0 and change nothing. With several inputs the score is the maximum over
    them, and the explanation names the flagged input with the highest score, with the slow
    average as the expected value and the deviation in units of its spread.

    Parameters
    ----------
    warmup
        Readings of an input learned from before it is scored (never flagged).
    threshold
        Score at which a reading is flagged (0.5 = as novel as the record).
    rest
        Readings after a new record or a flag whose scores are 0.
    learn_anomalies
        Learn the model from high-scoring readings too.
    recover
        Readings into an episode after which its high-scoring readings are learned again.
    range_tolerance
        Fraction of the value range by which a value may leave it unflagged.
    difference_lag
        Readings over which the change is measured.
    difference_tolerance
        Fraction of the range of changes by which a change may leave it unflagged.
    block
        Readings averaged into one block mean.
    window
        Block means in one window (a window spans ``block * window`` readings).
    memory
        Windows remembered (``window * memory`` bytes).
    exclude
        Newest windows kept out of the memory (they overlap the current one).
    novelty_half_life
        Half-life, in readings, of the record of kNN distances.
    level_window
        Readings in the short mean of the level-change novelty.
    level_half_life
        Half-life, in readings, of the slow average and its spread.
    level_record_half_life
        Half-life, in readings, of the record of level changes.
    novelty_floor
        Multiple of a slow 99% quantile of each novelty below which its record does not decay.
    floor_readings
        Readings after which the floor is fully trusted (it grows in proportion until then).
    season_lags
        Longest period looked for, in blocks (0 = no seasonal novelty).
    season_correlation
        Autocorrelation, as a fraction of the variance, that a period's peak must exceed.
    season_factor
        Multiple of the seasonal record that the seasonal novelty is judged against.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.sin(np.arange(3000) * 2 * np.pi / 50) + rng.normal(0, 0.05, 3000)
    >>> x[2500] += 3.0
    >>> detector = DefaultDetector().commission(x[:1000, None], ["temp"])  # known-normal start
    >>> found = detector.detect_many(x[1000:, None], ["temp"])
    >>> (np.flatnonzero(found.is_anomaly) + 1000).tolist()
    [2500]
    >>> print(found.explanations[1500])
    temp=2.95708 is 4.2 spreads above normal 0.0191407
    """

    # 2: the kernel's layout declared once (ten more words: the level ring and the delay line
    # hold their flags in sections of their own).
    state_version = 2

    def __init__(
        self,
        *,
        warmup: int = 150,
        threshold: float = 0.505,
        rest: int = 40,
        learn_anomalies: bool = False,
        recover: int = 20,
        range_tolerance: float = 0.02,
        difference_lag: int = 20,
        difference_tolerance: float = 0.05,
        block: int = 5,
        window: int = 8,
        memory: int = 1000,
        exclude: int = 4,
        novelty_half_life: float = 2000.0,
        level_window: int = 20,
        level_half_life: float = 200.0,
        level_record_half_life: float = 16000.0,
        novelty_floor: float = 1.3,
        floor_readings: int = 20000,
        season_lags: int = 128,
        season_correlation: float = 0.4,
        season_factor: float = 1.5,
    ) -> None:
        self.warmup = warmup
        self.threshold = threshold
        self.rest = rest
        self.learn_anomalies = learn_anomalies
        self.recover = recover
        self.range_tolerance = range_tolerance
        self.difference_lag = difference_lag
        self.difference_tolerance = difference_tolerance
        self.block = block
        self.window = window
        self.memory = memory
        self.exclude = exclude
        self.novelty_half_life = novelty_half_life
        self.level_window = level_window
        self.level_half_life = level_half_life
        self.level_record_half_life = level_record_half_life
        self.novelty_floor = novelty_floor
        self.floor_readings = floor_readings
        self.season_lags = season_lags
        self.season_correlation = season_correlation
        self.season_factor = season_factor

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
        }
        yield {"warmup": 30, "learn_anomalies": True, "exclude": 0, "level_window": 5}

    def _params(self) -> NDArray[np.float64]:
        """The kernel's parameter vector, validated."""
        for name in (
            "difference_lag",
            "block",
            "window",
            "memory",
            "level_window",
            "floor_readings",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("warmup", "rest", "recover", "exclude", "season_lags"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in (
            "novelty_half_life",
            "level_half_life",
            "level_record_half_life",
            "season_factor",
        ):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in (
            "range_tolerance",
            "difference_tolerance",
            "novelty_floor",
            "season_correlation",
        ):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold!r}")
        params = np.zeros(kernel.N_PARAMS)
        params[kernel.P_WARMUP] = int(self.warmup)
        params[kernel.P_THRESHOLD] = self.threshold
        params[kernel.P_REST] = int(self.rest)
        params[kernel.P_LEARN_ANOMALIES] = float(bool(self.learn_anomalies))
        params[kernel.P_RECOVER] = int(self.recover)
        params[kernel.P_RANGE_TOLERANCE] = self.range_tolerance
        params[kernel.P_LAG] = int(self.difference_lag)
        params[kernel.P_LAG_TOLERANCE] = self.difference_tolerance
        params[kernel.P_BLOCK] = int(self.block)
        params[kernel.P_WINDOW] = int(self.window)
        params[kernel.P_MEMORY] = int(self.memory)
        params[kernel.P_EXCLUDE] = int(self.exclude)
        params[kernel.P_NOVELTY_DECAY] = 0.5 ** (1.0 / self.novelty_half_life)
        params[kernel.P_SHORT] = int(self.level_window)
        params[kernel.P_LEVEL_RATE] = 1.0 - 0.5 ** (1.0 / self.level_half_life)
        params[kernel.P_LEVEL_DECAY] = 0.5 ** (1.0 / self.level_record_half_life)
        params[kernel.P_FLOOR] = self.novelty_floor
        params[kernel.P_FLOOR_READINGS] = int(self.floor_readings)
        params[kernel.P_SEASON_LAGS] = int(self.season_lags)
        params[kernel.P_SEASON_CORRELATION] = self.season_correlation
        params[kernel.P_SEASON_FACTOR] = self.season_factor
        return params

    def _new_input(self, name: str) -> NDArray[np.float64]:
        """The state array of a new input (and the parameters, on the very first reading)."""
        if not hasattr(self, "states_"):
            self.params_ = self._params()
            self.states_: dict[str, NDArray[np.float64]] = {}
        state = self.states_[name] = kernel.new_state(self.params_)
        return state

    def _state(self, name: str) -> NDArray[np.float64]:
        """The state array of input ``name``, created on its first reading."""
        states = getattr(self, "states_", None)
        state = None if states is None else states.get(name)
        return self._new_input(name) if state is None else state

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
        """Episodes, over all inputs, that lasted so long that the model learned them."""
        states = getattr(self, "states_", {})
        return sum(int(state[kernel.S_REBASELINES]) for state in states.values())

    def _run(self, x: Values, mode: int) -> float:
        score = 0.0
        for name, value in x.items():
            score = max(score, kernel.step(self._state(name), value, mode))
        return score

    def learn_one(self, x: Values) -> None:
        self._run(x, kernel.LEARN)

    def score_one(self, x: Values) -> float:
        return self._run(x, kernel.SCORE)

    def detect_one(self, x: Values) -> Verdict:
        states = getattr(self, "states_", None)
        step = kernel.step
        score = 0.0
        flagged: Explanation | None = None
        flagged_score = 0.0
        for name, value in x.items():
            # The hot path: one dict lookup, one kernel call.
            state = None if states is None else states.get(name)
            if state is None:
                state = self._state(name)
                states = self.states_
            s = step(state, value, kernel.DETECT)
            if s > score:
                score = s
            # In DETECT mode a score at the threshold is a flag (a rest returns 0).
            if s >= self.threshold and s > flagged_score:
                flagged_score = s
                flagged = Explanation(
                    name, value, float(state[kernel.O_EXPECTED]), float(state[kernel.O_DEVIATION])
                )
        return Verdict(score, flagged is not None, flagged is not None, flagged)

    def detect_many(self, X: Array, columns: Sequence[str] | None = None) -> Verdicts:
        batch = as_batch(X)
        n, m = batch.shape
        names = column_names(m, columns)
        # Inputs are independent models, so the batch runs input by input.
        values = np.ascontiguousarray(batch.T)
        scores = np.zeros((m, n))
        expected = np.zeros((m, n))
        deviation = np.zeros((m, n))
        for j, name in enumerate(names):
            kernel.run_column(self._state(name), values[j], scores[j], expected[j], deviation[j])
        total = scores.max(axis=0) if m else np.zeros(n)
        flags = scores >= self.threshold
        flagged: NDArray[np.bool_] = np.asarray(flags.any(axis=0), dtype=np.bool_)
        explanations: list[Explanation | None] = [None] * n
        for i in np.flatnonzero(flagged).tolist():
            j = int(np.argmax(np.where(flags[:, i], scores[:, i], -1.0)))
            explanations[i] = Explanation(
                names[j], float(values[j, i]), float(expected[j, i]), float(deviation[j, i])
            )
        return Verdicts(total, flagged, flagged.copy(), explanations, [()] * n)
