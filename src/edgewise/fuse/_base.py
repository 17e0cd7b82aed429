"""What the fusion steps share: parameters, noise estimates of redundant sensors, outputs."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from edgewise.stream import Array, Transformer, Values

__all__ = ["Fusion", "SensorNoise", "combine"]


def combine(y: Array, variances: Array) -> tuple[float, float]:
    """Inverse-variance weighted mean of the present readings ``y`` and its variance.

    With no variances known yet, the plain mean and a ``nan`` variance; with no reading present,
    ``nan`` for both.
    """
    present = ~np.isnan(y)
    if not present.any():
        return math.nan, math.nan
    if np.isnan(variances[present]).any():
        return float(np.mean(y[present])), math.nan
    precision = 1.0 / variances[present]
    total = float(precision.sum())
    return float(precision @ y[present]) / total, 1.0 / total


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

    __slots__ = ("pairs", "sums", "weights")

    def __init__(self, n: int) -> None:
        self.pairs = np.array([(i, j) for i in range(n) for j in range(i + 1, n)], dtype=np.intp)
        self.sums = np.zeros(len(self.pairs))
        self.weights = np.zeros(len(self.pairs))

    def learn(self, y: Array, decay: float) -> None:
        i, j = self.pairs.T
        both = ~np.isnan(y[i]) & ~np.isnan(y[j])
        self.sums[both] = decay * self.sums[both] + (y[i[both]] - y[j[both]]) ** 2
        self.weights[both] = decay * self.weights[both] + 1.0

    def variances(self) -> Array:
        n = int(self.pairs.max()) + 1
        seen = self.weights > 0
        variances = np.full(n, math.nan)
        if not seen.any():
            return variances
        spread = self.sums[seen] / self.weights[seen]
        design = np.zeros((int(seen.sum()), n))
        rows = np.arange(len(design))
        design[rows, self.pairs[seen, 0]] = design[rows, self.pairs[seen, 1]] = 1.0
        solution = np.linalg.lstsq(design, spread)[0]
        # Sensors in no observed pair have no estimate; the minimum-norm solution gives them 0.
        paired = np.zeros(n, dtype=np.bool_)
        paired[self.pairs[seen].ravel()] = True
        variances[paired] = np.maximum(solution[paired], 1e-3 * spread.min())
        return variances


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

    def _variances(self) -> Array:
        if not hasattr(self, "noise_"):
            return np.full(len(self.inputs), math.nan)
        return self.noise_.variances()

    def _readings(self, x: Values) -> Array:
        return np.array([x.get(name, math.nan) for name in self.inputs], dtype=np.float64)

    def _emit(self, x: Values, fused: float, variance: float) -> Values:
        y = dict(x) if self.keep_inputs else {k: v for k, v in x.items() if k not in self.inputs}
        y[self.output] = fused
        y[f"{self.output}_std"] = math.sqrt(variance)
        return y
