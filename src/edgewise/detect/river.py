"""River interoperability: River anomaly detectors as edgewise steps, and the other way round."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from river import base as river_base

from edgewise.stream import Detector, Values, register

from ._base import JointDetector, Mask, Vector

__all__ = ["RiverAdapter", "RiverDetector", "as_river"]


@register("river")
class RiverDetector(JointDetector):
    """Any River anomaly detector (``river.anomaly.*``, or a River pipeline ending with one) as an
    edgewise detector, with edgewise's calibration, warmup, gating and explanations.

    River's score goes through the shared tail calibration instead of a hand-set threshold; flagged
    readings are not passed to River's ``learn_one`` (unless ``learn_anomalies``). ``model`` is a
    template that is never trained itself: the detector trains a clone of it. Missing inputs are
    imputed with their running mean (River models expect every feature); the explanation names
    the observed input farthest from its running mean, in spreads.

    It cannot be named in a spec or on the command line, nor saved as versioned state: River
    models are Python objects that only pickle can save (see :attr:`spec_error`).

    Which River model matters: ``HalfSpaceTrees`` gives every reading outside its unit box the
    same score and ``LODA`` clips at its histograms' edges, so neither flags a sensor's error code
    (65535) among readings near 20; ``LocalOutlierFactor`` does (the generated checks run it).

    Parameters
    ----------
    model
        The River model, for instance ``preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees()``
        (half-space trees expect inputs in [0, 1]) or ``anomaly.LocalOutlierFactor()``.
    warmup, learn_anomalies, epsilon, calibration_window, relearn_after, end_after
        See :class:`~edgewise.detect.CalibratedDetector`. ``warmup`` must cover the model's own
        warm-up: the calibration starts at ``warmup // 2``, and half-space trees, for one, score 0
        until their first window (250 readings by default) is full; hence the default 500.

    Examples
    --------
    >>> import numpy as np
    >>> from river import anomaly
    >>> rng = np.random.default_rng(0)
    >>> detector = RiverDetector(model=anomaly.LocalOutlierFactor(n_neighbors=10), warmup=50)
    >>> for _ in range(150):
    ...     _ = detector.detect_one({"load": float(rng.normal(0.5, 0.05)),
    ...                              "temp": float(rng.normal(40.0, 1.0))})
    >>> found = detector.detect_one({"load": 0.5, "temp": 55.0})
    >>> round(found.score, 3), found.is_anomaly, found.explanation.input
    (1.0, True, 'temp')
    """

    spec_error = (
        "the 'river' detector wraps a River model object, which a spec, the command line or a "
        "state file cannot describe: build it in Python, as RiverDetector(model=...)"
    )

    def __init__(
        self,
        *,
        model: Any,
        warmup: int = 500,
        learn_anomalies: bool = False,
        epsilon: float = 1e-5,
        calibration_window: int = 1000,
        relearn_after: int | None = 200,
        end_after: int = 30,
    ) -> None:
        super().__init__(
            warmup=warmup,
            learn_anomalies=learn_anomalies,
            epsilon=epsilon,
            calibration_window=calibration_window,
            relearn_after=relearn_after,
            end_after=end_after,
        )
        self.model = model

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        from river import anomaly, preprocessing

        yield {"model": preprocessing.StandardScaler() | anomaly.LocalOutlierFactor(), "warmup": 50}

    def _reset_vector_model(self) -> None:
        self.model_: Any = self.model.clone()

    def _features(self, v: Vector) -> dict[str, float]:
        return dict(zip(self.names_, v.tolist(), strict=True))

    def _score_vector(self, v: Vector, observed: Mask) -> float:
        return float(self.model_.score_one(self._features(v)))

    def _learn_vector(self, v: Vector, observed: Mask) -> None:
        self.model_.learn_one(self._features(v))


class RiverAdapter(river_base.AnomalyDetector):
    """An edgewise detector as a River anomaly detector, to use inside River pipelines.

    ``score_one`` is the detector's calibrated score in [0, 1]; ``learn_one`` learns
    unconditionally, as River expects. For edgewise's "do not learn what was flagged", wrap it as
    ``river.anomaly.ThresholdFilter(adapter, threshold=0.5)``, which does not pass flagged readings
    to ``learn_one``. ``detector`` is a template: the adapter trains a clone of it. River values
    that are ``None`` are passed on as missing (nan).

    Parameters
    ----------
    detector
        The edgewise detector.

    Examples
    --------
    >>> import numpy as np
    >>> from river import preprocessing
    >>> from edgewise.detect import WindowedGaussian
    >>> rng = np.random.default_rng(0)
    >>> model = preprocessing.MinMaxScaler() | as_river(WindowedGaussian(window=50))
    >>> for _ in range(300):
    ...     model.learn_one({"temp": float(rng.normal(20.0, 0.5))})
    >>> round(model.score_one({"temp": 20.2}), 3), round(model.score_one({"temp": 24.0}), 3)
    (0.025, 1.0)
    """

    def __init__(self, *, detector: Detector) -> None:
        self.detector = detector

    @property
    def _detector(self) -> Detector:
        if not hasattr(self, "detector_"):
            self.detector_ = self.detector.clone()
        return self.detector_

    @staticmethod
    def _values(x: dict[Any, Any]) -> Values:
        return {str(k): math.nan if v is None else float(v) for k, v in x.items()}

    def learn_one(self, x: dict[Any, Any]) -> None:
        self._detector.learn_one(self._values(x))

    def score_one(self, x: dict[Any, Any]) -> float:
        return self._detector.score_one(self._values(x))


def as_river(detector: Detector) -> RiverAdapter:
    """Make ``detector`` a River anomaly detector (see :class:`RiverAdapter`)."""
    return RiverAdapter(detector=detector)
