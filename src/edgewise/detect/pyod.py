"""PyOD models as streaming detectors: refit on a sliding window of normal readings."""

from __future__ import annotations

import importlib
import inspect
import math
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from edgewise.stream import register

from ._base import JointDetector, Mask, Vector
from ._moments import spread
from ._radius import chi_radius

__all__ = ["PyODDetector"]

# Models whose score is a distance to neighbours, which the detector turns into spreads.
_DISTANCE_MODELS = frozenset({"KNN"})


def _model_class(name: str) -> Any:
    """PyOD's class ``name`` from ``pyod.models.<name lowercased>``, imported on first use."""
    module_name = f"pyod.models.{name.lower()}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name in {"pyod", "pyod.models"}:
            raise ImportError(
                "PyODDetector needs PyOD, an optional dependency: pip install 'edgewise[pyod]'"
            ) from error
        raise ValueError(f"PyOD has no model {name!r} (no module {module_name})") from error
    found = getattr(module, name, None)
    if not inspect.isclass(found):
        raise ValueError(f"PyOD has no model {name!r} (no class {name} in {module_name})")
    return found


@register("pyod")
class PyODDetector(JointDetector):
    """A PyOD model (Zhao, Nasrullah & Li, 2019) as a streaming detector.

    The model is fitted on the last ``window`` readings learned as normal and refitted every
    ``refit_every`` of them; each new reading's raw score is the model's ``decision_function``,
    through the shared tail calibration (so PyOD's ``contamination`` plays no part). Inputs are
    standardised by the window's mean and standard deviation at each fit.

    For ``"KNN"`` the raw score is the distance ``d`` to the k-th neighbour put in *spreads*
    (a radius that the calibration's Gaussian describes well): a k-th neighbour distance grows
    like ``density ** (-1 / D)`` in ``D`` inputs, and a Gaussian's density falls like
    ``exp(-r**2 / 2)`` at radius ``r``, so ``r = sqrt(2 D ln(d / d0) + r0**2)``, ``d0`` being the
    window's median k-th neighbour distance and ``r0`` the median radius (the chi distribution's).
    Beyond the window's extremes the distance grows one spread per spread instead, so the score
    continues linearly from where the slope of ``r`` falls to 1. The plain distance rises so
    steeply between 2 and 3 spreads that 15% of the normal readings of a single input were
    flagged; in spreads, hardly any are. Any of
    PyOD's batch detectors becomes usable on a stream, with bounded memory. Missing inputs are
    imputed with their running mean; the explanation names the observed input farthest from its
    running mean, in spreads. PyOD is optional and imported at the first reading.

    Parameters
    ----------
    model
        Name of a PyOD model class, found in ``pyod.models.<name lowercased>``: ``"KNN"``,
        ``"LOF"``, ``"IForest"``, ``"HBOS"``, ``"ECOD"``, ``"COPOD"``, ``"PCA"``, ``"OCSVM"``...
        The default, k-nearest-neighbour distance, grows with how far out a reading lies;
        tree and histogram models (``IForest``, ``HBOS``, ``ECOD``) give every reading beyond the
        window's range the score of its extremes, so they rank well but rarely flag a spike.
    params
        Keyword arguments of the model's constructor.
    window
        How many of the latest normal readings the model is fitted on.
    refit_every
        Refit after this many newly learned readings (the first fit too).
    seed
        Seeds each fit's ``random_state``, for models that take one and when ``params`` does not
        set it; fixed by default (the same data give the same output on every run); ``None``
        draws fresh entropy.

    **Saved state.** The fitted PyOD model is a third-party object that only pickle could save, so
    the versioned state holds the rows it was fitted on and the seed of that fit instead, and
    loading refits it: the loaded detector continues exactly where the saved one stopped.
    warmup, learn_anomalies, epsilon, calibration_window, relearn_after, end_after
        See :class:`~edgewise.detect.CalibratedDetector`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> detector = PyODDetector(model="KNN", params={"n_neighbors": 5})
    >>> for _ in range(300):
    ...     _ = detector.detect_one({"load": float(rng.normal(0.5, 0.05)),
    ...                              "temp": float(rng.normal(40.0, 1.0))})
    >>> found = detector.detect_one({"load": 0.9, "temp": 40.0})
    >>> round(found.score, 3), found.is_anomaly, found.explanation.input
    (1.0, True, 'load')
    """

    def __init__(
        self,
        *,
        model: str = "KNN",
        params: dict[str, Any] | None = None,
        window: int = 256,
        refit_every: int = 64,
        seed: int | None = 0,
        warmup: int = 100,
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
        self.params = params
        self.window = window
        self.refit_every = refit_every
        self.seed = seed

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"model": "KNN", "window": 64, "refit_every": 32, "seed": 42}

    def _validate(self) -> None:
        super()._validate()
        if self.window < 2:
            raise ValueError(f"window must be >= 2, got {self.window}")
        if self.refit_every < 1:
            raise ValueError(f"refit_every must be >= 1, got {self.refit_every}")
        self.model_class_ = _model_class(self.model)

    def _reset_vector_model(self) -> None:
        self.rng_ = np.random.default_rng(self.seed)
        self.window_: deque[Vector] = deque(maxlen=self.window)
        self.since_fit_ = 0
        self.estimator_: Any = None
        self.fit_rows_: Vector | None = None
        self.fit_seed_ = 0

    def _score_vector(self, v: Vector, observed: Mask) -> float:
        if self.estimator_ is None:
            return math.nan
        scaled = (v - self.center_) / self.scale_
        raw = float(self.estimator_.decision_function(scaled[None, :])[0])
        if self.model not in _DISTANCE_MODELS:
            return raw
        if raw >= self.edge_:
            return self.edge_radius_ + raw - self.edge_
        if raw <= 0.0:
            return 0.0
        return math.sqrt(max(0.0, 2.0 * len(v) * math.log(raw / self.median_) + self.radius_sq_))

    def _learn_vector(self, v: Vector, observed: Mask) -> None:
        self.window_.append(v)
        self.since_fit_ += 1
        if self.since_fit_ >= self.refit_every and len(self.window_) >= 2:
            self._fit(np.array(self.window_))
            self.since_fit_ = 0

    def _fit(self, X: Vector) -> None:
        self.fit_rows_ = X
        self.fit_seed_ = int(self.rng_.integers(2**31))
        self._refit()

    def _refit(self) -> None:
        """Fit the model on ``fit_rows_`` with ``fit_seed_`` (again, after loading state)."""
        X = self.fit_rows_
        assert X is not None
        # Standardised inputs: distance-based models (KNN, LOF, OCSVM) are blind to a deviation in
        # an input of small scale next to one of large scale; the others are not affected.
        self.center_ = X.mean(axis=0)
        stds = X.std(axis=0).tolist()
        self.scale_ = np.array(
            [spread(s, m) for s, m in zip(stds, self.center_.tolist(), strict=True)]
        )
        kwargs = dict(self.params or {})
        accepts = inspect.signature(self.model_class_.__init__).parameters
        if "random_state" in accepts and "random_state" not in kwargs:
            kwargs["random_state"] = self.fit_seed_
        self.estimator_ = self.model_class_(**kwargs)
        self.estimator_.fit((X - self.center_) / self.scale_)
        if self.model in _DISTANCE_MODELS:
            self._fit_radius(X.shape[1])

    def _fit_radius(self, d: int) -> None:
        """The window's median distance and radius, and where the radius's slope falls to 1."""
        self.median_ = spread(float(np.median(self.estimator_.decision_scores_)), 1.0)
        self.radius_sq_ = chi_radius(d, 0.5) ** 2
        # The slope d / (r * distance) is 1 at the distance e solving r(e) * e = d; with
        # w = 2 ln(e / d0) + r0**2 / d this is w * exp(w) = d * exp(r0**2 / d) / d0**2.
        from scipy.special import lambertw  # loaded on first use

        w = float(lambertw(d * math.exp(self.radius_sq_ / d) / self.median_**2).real)
        self.edge_ = self.median_ * math.exp((w - self.radius_sq_ / d) / 2.0)
        self.edge_radius_ = d / self.edge_

    def _learned_state(self) -> dict[str, Any]:
        state = super()._learned_state()
        state.pop("model_class_", None)
        state.pop("estimator_", None)
        return state

    def _restore(self, state: Mapping[str, Any]) -> None:
        super()._restore(state)
        if "rng_" in state:  # the detector had started
            self.model_class_ = _model_class(self.model)
            self.estimator_ = None
            if self.fit_rows_ is not None:
                self._refit()
