"""Inverse-variance fusion: redundant sensors weighted by how noisy each one has proved to be."""

from __future__ import annotations

from edgewise.stream import Values, register

from ._base import Fusion, combine

__all__ = ["InverseVarianceFusion"]


@register("inverse_variance_fusion")
class InverseVarianceFusion(Fusion):
    """Fuse redundant sensors into their inverse-variance weighted mean, with its uncertainty.

    Each reading's fused value is ``sum(y_i / s_i) / sum(1 / s_i)`` over the sensors present, and
    its standard deviation ``sqrt(1 / sum(1 / s_i))``, where ``s_i`` is sensor ``i``'s noise
    variance, estimated online from the spread of its differences with the other sensors (see
    :class:`~edgewise.fuse._base.SensorNoise`): no sensor's accuracy needs to be known. The
    std is widened for the uncertainty of those estimates (see
    :func:`~edgewise.fuse._base.combine`), which matters most early in a stream. A
    missing sensor is left out of the sum; with none present the fused value is missing. A 95%
    interval for the true value is ``fused ± 1.96 fused_std``. Readings are fused one by one,
    without a model of how the true value moves (see :class:`KalmanFusion` for that).

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

    Attributes
    ----------
    noise_ : SensorNoise
        The noise estimates; ``noise_.variances()`` in the order of ``inputs``.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> fusion = InverseVarianceFusion(inputs=["a", "b", "c"], keep_inputs=False)
    >>> for _ in range(2000):
    ...     truth = rng.gauss(20.0, 5.0)
    ...     x = {"a": truth + rng.gauss(0, 0.1), "b": truth + rng.gauss(0, 0.2),
    ...          "c": truth + rng.gauss(0, 0.4)}
    ...     out = fusion.learn_transform_one(x)
    >>> [round(float(s), 2) for s in fusion.noise_.variances() ** 0.5]
    [0.11, 0.19, 0.4]
    >>> round(out["fused_std"], 3)  # the truth: 1 / sqrt(1/0.1² + 1/0.2² + 1/0.4²) = 0.087
    0.093
    """

    def learn_one(self, x: Values) -> None:
        if not hasattr(self, "noise_"):
            self._start()
        self.noise_.learn(self._readings(x), self._decay())

    def transform_one(self, x: Values) -> Values:
        fused, variance = combine(self._readings(x), *self._estimate())
        return self._emit(x, fused, variance)
