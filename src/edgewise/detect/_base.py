"""What every edgewise detector shares, so that each algorithm's file only scores and learns.

:class:`CalibratedDetector` turns an algorithm's raw score into the :class:`Detector` contract:

* the raw score goes through a :class:`~edgewise.detect._calibration.TailCalibration`, which gives
  the [0, 1] score and the decision (flag at a Gaussian tail probability of ``epsilon``);
* the first ``warmup`` readings are learned from and never flagged; the raw scores of the first
  half of them are not calibrated on either (an immature model's raw scores are wild);
* a flagged reading is not learned from unless ``learn_anomalies``, so a long fault does not
  become the new normal;
* **recovery**: once at least 90% of the last ``relearn_after`` readings were flagged (not all
  of them: a shift near the threshold is flagged most but not all of the time) the detector takes
  them as the new normal: it resets its model and calibration and learns those readings afresh,
  from the first flagged one on (a warning is logged on the ``edgewise.detect`` logger, and
  ``n_relearns_`` counts such re-baselines);
* every flagged reading carries an :class:`Explanation` naming the input held responsible;
* **episodes** (:mod:`~edgewise.detect._episodes`): a flagged reading is abnormal
  (``is_anomaly``); the first flagged reading of an input whose last ``end_after`` readings were
  not flagged for it raises an ``alarm``; the episode's end and a re-baseline are events of the
  reading where they happen.

Two kinds of algorithm sit on top: :class:`PerInputDetector` (one small model per input; missing
inputs are skipped) and :class:`JointDetector` (one model of all inputs together; missing inputs
are imputed with their expected value).
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections import deque

import numpy as np
from numpy.typing import NDArray

from edgewise.stream import Detector, Explanation, Values, Verdict

from ._calibration import FLAG_AT, TailCalibration
from ._episodes import Episodes
from ._moments import EWMoments, spread

__all__ = ["CalibratedDetector", "InputModel", "JointDetector", "PerInputDetector"]

logger = logging.getLogger("edgewise.detect")

RELEARN_SHARE = 0.9
"""Share of the last ``relearn_after`` readings that must have been flagged to re-baseline."""

Vector = NDArray[np.float64]
Mask = NDArray[np.bool_]


def _has_value(x: Values) -> bool:
    return any(not math.isnan(v) for v in x.values())


def _explain(name: str, value: float, expected: float, scale: float) -> Explanation:
    return Explanation(name, value, expected, (value - expected) / spread(scale, expected))


class CalibratedDetector(Detector):
    """Base of the calibrated detectors: warmup, gating, recovery, calibration and explanations.

    State version 2 added the episodes (``episodes_``).

    Subclasses implement :meth:`_reset_model`, :meth:`_raw_score`, :meth:`_learn` and
    :meth:`_culprit`, and may implement :meth:`_skip`; they extend :meth:`_validate`.

    Parameters
    ----------
    warmup
        The first ``warmup`` readings learned (``learn_one`` counts too, so commissioning on
        normal data completes the warmup) are never flagged; nor are readings before the
        calibration holds ``warmup - warmup // 2`` raw scores (a model that cannot score yet,
        such as a forest before its first fit, extends the warmup).
    learn_anomalies
        Learn from flagged readings too (the model then follows a fault as it lasts).
    epsilon
        Tail probability of a raw score, among the recent normal ones, at which a reading is
        flagged; the calibrated score is 0.5 there.
    calibration_window
        How many recent normal raw scores the calibration is fitted to.
    relearn_after
        Once at least :data:`RELEARN_SHARE` (90%) of the last ``relearn_after`` readings were
        flagged (and so not learned), take them as the new normal and relearn from them;
        ``None`` never does.
    end_after
        Readings in a row not flagged for an input after which its episode ends (the next flag
        raises a new alarm).
    """

    state_version = 2

    def __init__(
        self,
        *,
        warmup: int,
        learn_anomalies: bool,
        epsilon: float,
        calibration_window: int,
        relearn_after: int | None,
        end_after: int,
    ) -> None:
        self.warmup = warmup
        self.learn_anomalies = learn_anomalies
        self.epsilon = epsilon
        self.calibration_window = calibration_window
        self.relearn_after = relearn_after
        self.end_after = end_after

    # -- what each algorithm provides ----------------------------------------------------------

    @abstractmethod
    def _reset_model(self) -> None:
        """Create the algorithm's learned state, fresh (first reading, and each re-baseline)."""

    @abstractmethod
    def _raw_score(self, x: Values) -> float:
        """Raw anomaly score of ``x`` against the state, higher = more anomalous; nan if unknown."""

    @abstractmethod
    def _learn(self, x: Values) -> None:
        """Learn from ``x``, which holds at least one value."""

    @abstractmethod
    def _culprit(self, x: Values) -> Explanation | None:
        """The input responsible for ``x``'s raw score, against the state before learning it."""

    def _skip(self, x: Values) -> None:
        """``x`` was flagged and is not learned from (algorithms with a clock advance it here)."""

    def _validate(self) -> None:
        """Check the parameters at the first reading; raise a clear ``ValueError``."""
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if not 0.0 < self.epsilon < 0.5:
            raise ValueError(f"epsilon must be in (0, 0.5), got {self.epsilon}")
        if self.calibration_window < 2:
            raise ValueError(f"calibration_window must be >= 2, got {self.calibration_window}")
        if self.relearn_after is not None and self.relearn_after < 1:
            raise ValueError(f"relearn_after must be >= 1 or None, got {self.relearn_after}")
        if self.end_after < 1:
            raise ValueError(f"end_after must be >= 1, got {self.end_after}")

    # -- the contract ----------------------------------------------------------------------------

    def learn_one(self, x: Values) -> None:
        self._start()
        if _has_value(x):
            self._learn_scored(x, self._raw_score(x))

    def score_one(self, x: Values) -> float:
        if not hasattr(self, "calibration_") or not _has_value(x):
            return 0.0
        return self.calibration_.score(self._raw_score(x))

    def detect_one(self, x: Values) -> Verdict:
        self._start()
        if not _has_value(x):
            return Verdict(0.0, False)  # nothing to judge, nothing to learn
        raw = self._raw_score(x)
        score = self.calibration_.score(raw)
        if score < FLAG_AT or not self._judging():
            self._learn_scored(x, raw)
            _, ended = self.episodes_.advance(None)
            events = [f"end:{name}" for name in ended]
            if self._remember(x, flagged=False):
                events.append("accept:*")
            return Verdict(score, False, events=tuple(events))
        explanation = self._culprit(x)
        alarm, ended = self.episodes_.advance("*" if explanation is None else explanation.input)
        events = [f"end:{name}" for name in ended]
        if self.learn_anomalies:
            self._learn_scored(x, raw)
        else:
            self._skip(x)
            if self._remember(x, flagged=True):
                events.append("accept:*")
        return Verdict(score, True, alarm, explanation, tuple(events))

    # -- machinery -------------------------------------------------------------------------------

    def _start(self) -> None:
        if not hasattr(self, "calibration_"):
            self._validate()
            self.n_relearns_ = 0
            self.episodes_ = Episodes(self.end_after)
            self._reset()

    def _reset(self) -> None:
        self.calibration_ = TailCalibration(window=self.calibration_window, epsilon=self.epsilon)
        self.n_learned_ = 0
        # The last `relearn_after` readings judged (copies) with whether each was flagged.
        self.recent_: deque[tuple[Values, bool]] = deque(maxlen=self.relearn_after)
        self.n_recent_flags_ = 0
        self._reset_model()

    def _judging(self) -> bool:
        """Past the warmup, with as many calibrated raw scores as its second half gives."""
        return (
            self.n_learned_ >= self.warmup
            and len(self.calibration_) >= self.warmup - self.warmup // 2
        )

    def _learn_scored(self, x: Values, raw: float) -> None:
        if self.n_learned_ >= self.warmup // 2:
            self.calibration_.learn(raw)
        self._learn(x)
        self.n_learned_ += 1

    def _remember(self, x: Values, *, flagged: bool) -> bool:
        """Keep ``x`` in the recent readings; re-baseline once most of them were flagged.

        Returns whether the detector re-baselined here.
        """
        if self.relearn_after is None:
            return False
        if not flagged and not self.n_recent_flags_:
            self.recent_.clear()  # no flag to count: a normal stream costs no copies
            return False
        if len(self.recent_) == self.relearn_after:
            self.n_recent_flags_ -= self.recent_[0][1]
        self.recent_.append((dict(x), flagged))
        self.n_recent_flags_ += flagged
        if self.n_recent_flags_ < RELEARN_SHARE * self.relearn_after:
            return False
        recent = list(self.recent_)
        first = next(i for i, (_, was_flagged) in enumerate(recent) if was_flagged)
        logger.warning(
            "%s: %d of the last %d readings were anomalous; taking them as the new normal and "
            "relearning from them",
            type(self).__name__,
            self.n_recent_flags_,
            len(recent),
        )
        self._reset()
        self.n_relearns_ += 1
        for held, _ in recent[first:]:
            self._learn_scored(held, self._raw_score(held))
        return True


class InputModel(ABC):
    """The model of one input in a :class:`PerInputDetector`."""

    @abstractmethod
    def evidence(self, value: float) -> tuple[float, float, float]:
        """``(statistic, expected, spread)`` of ``value``; the statistic is nan until ready."""

    @abstractmethod
    def learn(self, value: float) -> None:
        """Learn from a value."""

    def skip(self, value: float) -> None:  # noqa: B027 (an optional hook: most have nothing to do)
        """A reading passed without ``value`` being learned (flagged; nan when missing)."""


class PerInputDetector(CalibratedDetector):
    """A detector with one :class:`InputModel` per input name.

    The raw score is the largest statistic among the inputs present, and the explanation names
    that input. A missing input is skipped: it neither scores nor learns (its model's ``skip``
    runs, as for a flagged reading). An input is modelled from its first value on.
    """

    @abstractmethod
    def _new_model(self) -> InputModel:
        """A fresh model for one input."""

    def _reset_model(self) -> None:
        self.models_: dict[str, InputModel] = {}

    def _strongest(self, x: Values) -> tuple[float, str]:
        best, culprit = math.nan, ""
        for name, value in x.items():
            model = self.models_.get(name)
            if model is None or math.isnan(value):
                continue
            statistic = model.evidence(value)[0]
            if statistic > best or (math.isnan(best) and not math.isnan(statistic)):
                best, culprit = statistic, name
        return best, culprit

    def _raw_score(self, x: Values) -> float:
        return self._strongest(x)[0]

    def _culprit(self, x: Values) -> Explanation | None:
        culprit = self._strongest(x)[1]
        if not culprit:
            return None
        _, expected, scale = self.models_[culprit].evidence(x[culprit])
        return _explain(culprit, x[culprit], expected, scale)

    def _learn(self, x: Values) -> None:
        for name, model in self.models_.items():
            value = x.get(name, math.nan)
            if math.isnan(value):
                model.skip(value)
            else:
                model.learn(value)
        for name, value in x.items():
            if name not in self.models_ and not math.isnan(value):
                self.models_[name] = model = self._new_model()
                model.learn(value)

    def _skip(self, x: Values) -> None:
        for name, model in self.models_.items():
            model.skip(x.get(name, math.nan))


class JointDetector(CalibratedDetector):
    """A detector with one model of all inputs together, on vectors.

    The inputs are the names of the first reading learned, in its order (names that appear later
    are ignored). Each input's exponentially weighted mean and spread (memory
    ``calibration_window`` readings) are tracked: a missing input is imputed with its mean, and
    the explanation names the observed input farthest from its expected value, in spreads.
    Subclasses implement :meth:`_score_vector` and :meth:`_learn_vector`, and may override
    :meth:`_expected`.
    """

    @abstractmethod
    def _reset_vector_model(self) -> None:
        """Create the joint model's learned state, fresh."""

    @abstractmethod
    def _score_vector(self, v: Vector, observed: Mask) -> float:
        """Raw score of ``v`` (missing entries imputed; ``observed`` tells which were not)."""

    @abstractmethod
    def _learn_vector(self, v: Vector, observed: Mask) -> None:
        """Learn from ``v`` (missing entries imputed)."""

    def _expected(self, v: Vector, observed: Mask) -> tuple[Vector, Vector]:
        """What each input was expected to be, and its spread; by default its running moments."""
        del v, observed
        expected = np.array([m.mean for m in self.moments_], dtype=np.float64)
        scales = np.array(
            [spread(m.std, m.mean) if m.n > 1 else math.inf for m in self.moments_],
            dtype=np.float64,
        )
        return expected, scales

    def _reset_model(self) -> None:
        self.names_: list[str] = []
        self.moments_: list[EWMoments] = []
        self._reset_vector_model()

    def _vector(self, x: Values) -> tuple[Vector, Mask]:
        """``x`` in the inputs' order with missing values imputed, and which were observed."""
        raw = np.array([x.get(name, math.nan) for name in self.names_], dtype=np.float64)
        observed = ~np.isnan(raw)
        means = np.array([m.mean for m in self.moments_], dtype=np.float64)
        return np.where(observed, raw, means), observed

    def _raw_score(self, x: Values) -> float:
        v, observed = self._vector(x)
        if not observed.any():
            return math.nan
        return self._score_vector(v, observed)

    def _learn(self, x: Values) -> None:
        if not self.names_:
            self.names_ = list(x)
            self.moments_ = [EWMoments(self.calibration_window) for _ in self.names_]
        v, observed = self._vector(x)
        if not observed.any():
            return
        self._learn_vector(v, observed)
        for moments, value, seen in zip(self.moments_, v.tolist(), observed, strict=True):
            if seen:
                moments.add(value)

    def _culprit(self, x: Values) -> Explanation | None:
        v, observed = self._vector(x)
        if not observed.any():
            return None
        expected, scales = self._expected(v, observed)
        deviation = np.where(observed, np.abs(v - expected) / scales, -1.0)
        i = int(np.argmax(deviation))
        return _explain(self.names_[i], float(v[i]), float(expected[i]), float(scales[i]))
