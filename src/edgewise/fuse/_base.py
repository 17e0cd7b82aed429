"""What the fusion steps share: parameters, noise estimates of redundant sensors, outputs."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from edgewise.stream import Array, Transformer, Values, state_type

__all__ = ["Fusion", "SensorNoise", "combine"]

_Z95 = 1.959963984540054


def combine(y: Array, variances: Array, covariance: Array | None = None) -> tuple[float, float]:
    """Inverse-variance weighted mean of the present readings ``y`` and its variance.

    ``covariance`` is the covariance of the errors of the estimated ``variances``. Given it, the
    variance adds what those errors cost: weights off their optimum add
    ``sum_i s_i var(w_i)`` to the fused value's true variance (first order in the weight
    errors), and an uncertain variance makes a Gaussian interval under-cover, which the factor
    ``1 + (z^2 + 1) var(V_hat / V) / 4`` (z = 1.96) undoes for 95% intervals, the
    large-sample form of Student's t. With no variances known yet, the plain mean and a ``nan``
    variance; with no reading present, ``nan`` for both.
    """
    present = ~np.isnan(y)
    if not present.any():
        return math.nan, math.nan
    if np.isnan(variances[present]).any():
        return float(np.mean(y[present])), math.nan
    precision = 1.0 / variances[present]
    total = float(precision.sum())
    fused, variance = float(precision @ y[present]) / total, 1.0 / total
    if covariance is None:
        return fused, variance
    cov = covariance[np.ix_(present, present)]
    weights = precision / total
    # d w_i / d s_k = p_k^2 (p_i - [i = k] P) / P^2, with p = 1 / s and P = sum(p).
    jacobian = (precision**2)[None, :] * (precision[:, None] - np.diag(np.full(len(cov), total)))
    jacobian /= total**2
    excess = float(np.sum(variances[present] * np.diag(jacobian @ cov @ jacobian.T)))
    # d V / d s_k = w_k^2: the relative variance of the estimated fused variance.
    relative = float(weights**2 @ cov @ weights**2) / variance**2
    return fused, (variance + excess) * (1.0 + (_Z95**2 + 1.0) / 4.0 * relative)


@state_type
class SensorNoise:
    """Noise variances of redundant sensors that observe the same quantity with independent noise.

    The difference of two sensors' readings taken together cancels the true value: its mean
    square is the sum of their noise variances. Those pairwise mean squares (exponentially
    forgotten, over the readings where both sensors are present, so a missing sensor only pauses
    its pairs) are solved for the variances by least squares: for three sensors this is the
    classic three-cornered hat (Grubbs' estimator), equal in expectation to the residual of each
    sensor against the leave-one-out fused estimate. With two sensors the split is not
    identifiable and the variances are taken equal. A variance is kept at least a thousandth of
    the smallest pairwise mean square, so no sensor is ever trusted as exact.
    """

    __slots__ = ("pairs", "squares", "sums", "weights")

    def __init__(self, n: int) -> None:
        self.pairs = np.array([(i, j) for i in range(n) for j in range(i + 1, n)], dtype=np.intp)
        self.sums = np.zeros(len(self.pairs))
        self.weights = np.zeros(len(self.pairs))
        self.squares = np.zeros(len(self.pairs))  # sum of squared weights, for n_eff

    def learn(self, y: Array, decay: float) -> None:
        i, j = self.pairs.T
        both = ~np.isnan(y[i]) & ~np.isnan(y[j])
        self.sums[both] = decay * self.sums[both] + (y[i[both]] - y[j[both]]) ** 2
        self.weights[both] = decay * self.weights[both] + 1.0
        self.squares[both] = decay**2 * self.squares[both] + 1.0

    def variances(self) -> Array:
        return self.estimate()[0]

    def estimate(self) -> tuple[Array, Array]:
        """The variances, and the covariance of their estimation errors (``nan``: no estimate).

        A pair's mean square over ``n_eff = weights^2 / squares`` effective readings has
        variance ``2 (s_i + s_j)^2 / n_eff`` (Gaussian noise); two pairs sharing sensor ``k``
        covary by ``2 s_k^2`` over the larger of their ``n_eff``. The least-squares solution is
        linear in the mean squares, so it carries their covariance over exactly.
        """
        n = int(self.pairs.max()) + 1
        seen = self.weights > 0
        variances = np.full(n, math.nan)
        covariance = np.full((n, n), math.nan)
        if not seen.any():
            return variances, covariance
        spread = self.sums[seen] / self.weights[seen]
        pairs = self.pairs[seen]
        design = np.zeros((len(pairs), n))
        rows = np.arange(len(design))
        design[rows, pairs[:, 0]] = design[rows, pairs[:, 1]] = 1.0
        solver = np.linalg.pinv(design)
        solution = solver @ spread
        # Sensors in no observed pair have no estimate; the minimum-norm solution gives them 0.
        paired = np.zeros(n, dtype=np.bool_)
        paired[pairs.ravel()] = True
        variances[paired] = np.maximum(solution[paired], 1e-3 * spread.min())
        # Covariance of two pair differences: the variance of what they share.
        shared = design @ np.diag(np.where(paired, variances, 0.0)) @ design.T
        n_eff = self.weights[seen] ** 2 / self.squares[seen]
        spread_cov = 2.0 * shared**2 / np.maximum.outer(n_eff, n_eff)
        covariance[np.ix_(paired, paired)] = (solver @ spread_cov @ solver.T)[
            np.ix_(paired, paired)
        ]
        return variances, covariance


class Fusion(Transformer):
    """Base of the steps that fuse redundant sensors of one quantity into one estimate.

    Parameters
    ----------
    inputs
        Names of the redundant sensors (at least two).
    output
        Name of the fused value; its standard deviation is ``output + "_std"``.
    keep_inputs
        Whether the inputs stay in the reading beside the fused value.
    halflife
        Half-life of the noise estimates' memory, in readings (``None``: never forget).
    """

    noise_: SensorNoise

    def __init__(
        self,
        *,
        inputs: Sequence[str],
        output: str = "fused",
        keep_inputs: bool = True,
        halflife: float | None = None,
    ) -> None:
        self.inputs = inputs
        self.output = output
        self.keep_inputs = keep_inputs
        self.halflife = halflife

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"inputs": ["x0", "x1", "x2"]}
        yield {"inputs": ["x0", "x2"], "keep_inputs": False, "halflife": 100.0}

    def _start(self) -> None:
        if isinstance(self.inputs, str) or len(self.inputs) < 2:
            raise ValueError(f"inputs must name at least two sensors, got {self.inputs!r}")
        if len(set(self.inputs)) != len(self.inputs):
            raise ValueError(f"inputs must be distinct, got {self.inputs!r}")
        if self.halflife is not None and not self.halflife > 0:
            raise ValueError(f"halflife must be > 0 or None, got {self.halflife}")
        self.noise_ = SensorNoise(len(self.inputs))

    def _decay(self) -> float:
        return 1.0 if self.halflife is None else 0.5 ** (1.0 / self.halflife)

    def _estimate(self) -> tuple[Array, Array]:
        if not hasattr(self, "noise_"):
            n = len(self.inputs)
            return np.full(n, math.nan), np.full((n, n), math.nan)
        return self.noise_.estimate()

    def _readings(self, x: Values) -> Array:
        return np.array([x.get(name, math.nan) for name in self.inputs], dtype=np.float64)

    def _emit(self, x: Values, fused: float, variance: float) -> Values:
        y = dict(x) if self.keep_inputs else {k: v for k, v in x.items() if k not in self.inputs}
        y[self.output] = fused
        y[f"{self.output}_std"] = math.sqrt(variance)
        return y
