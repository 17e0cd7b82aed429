"""Post-training int8 quantization of a float model, calibrated on representative windows.

- samples: int16 counts, ``input_scale`` leaves 2x headroom over the calibration peak;
- front end: Q8 log2 band energies, standardised and scaled to int8 by one fixed-point
  multiplier per feature (the float model's mean and std folded in);
- weights: int8, symmetric, one scale per output channel; biases int32 at ``s_in * s_w``;
- activations: int8, symmetric, scale = calibration peak / 127 (ReLU outputs use 0..127);
- requantization: per-channel int32 multiplier and shift (see ``_fixed``); the last layer is
  requantized to int16 range and its scale kept as ``output_scale`` for probabilities.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ._artifact import Artifact
from ._fixed import multiplier
from ._frontend import LOG2_FRACTION_BITS, features_float
from ._runtime import _ACTIVATION_LIMIT, INT8_LOGIT_LIMIT, Model

__all__ = ["quantize_int8"]

_HEADROOM = 2.0


def _multipliers(
    values: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int8]]:
    pairs = [multiplier(float(v)) for v in values]
    return np.array([p[0] for p in pairs], dtype=np.int32), np.array(
        [p[1] for p in pairs], dtype=np.int8
    )


def _peak(values: npt.NDArray[Any]) -> float:
    return max(float(np.max(np.abs(values))), 1e-12)


def quantize_int8(model: Model, *, calibration: npt.ArrayLike) -> Model:
    """The int8 version of a float model; ``calibration`` is windows of training data.

    >>> from edgewise.models._train import fit_mlp
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(64) / 64
    >>> tones = [np.sin(2 * np.pi * f * t + rng.uniform(0, 6, (40, 1))) for f in (5, 20)]
    >>> x = np.concatenate(tones) + 0.1 * rng.normal(size=(80, 64))
    >>> y = np.repeat([0, 1], 40)
    >>> float_model = fit_mlp(x, y, classes=["low", "high"], bands=4, hidden=8, alpha=1e-3, seed=0)
    >>> small = quantize_int8(float_model, calibration=x)
    >>> small.precision, bool((small.predict(x) == y).all())
    ('int8', True)
    """
    if model.precision != "float32":
        raise ValueError(f"only float32 models are quantized, this one is {model.precision}")
    x = np.asarray(calibration, dtype=np.float64)
    tensors = model.artifact.tensors
    out: dict[str, npt.NDArray[Any]]
    frontend = dict(model.artifact.manifest["frontend"])
    if model.feature_input:  # standardised in float, then one int8 scale
        h = model.standardised(x).astype(np.float64)
        s_in = _peak(h) / _ACTIVATION_LIMIT
        out = {name: tensors[name] for name in ("frontend.mean", "frontend.std")}
    else:
        input_scale = 32767 / (_HEADROOM * _peak(x))
        frontend["input_scale"] = input_scale
        mean, std = (
            tensors["frontend.mean"].astype(np.float64),
            tensors["frontend.std"].astype(np.float64),
        )
        h = (features_float(x, bands=model.bands) - mean) / std
        s_in = _peak(h) / _ACTIVATION_LIMIT
        one = 1 << LOG2_FRACTION_BITS
        # feature (Q8 log2 of int energies) = one * (float feature + 2 log2(input_scale))
        offset = np.rint(one * (mean + 2 * math.log2(input_scale))).astype(np.int16)  # Q8 < 2**15
        big, shift = _multipliers(1 / (one * std * s_in))
        out = {"frontend.offset": offset, "frontend.multiplier": big, "frontend.shift": shift}
    scales = [s_in]
    for i, layer in enumerate(model.layers):
        w = tensors[f"layer{i}.weight"].astype(np.float64)
        b = tensors[f"layer{i}.bias"].astype(np.float64)
        s_w = np.maximum(np.max(np.abs(w), axis=0), 1e-12) / _ACTIVATION_LIMIT
        h = h @ w + b
        last = layer["activation"] != "relu"
        if not last:
            h = np.maximum(h, 0)
        s_out = _peak(h) / (INT8_LOGIT_LIMIT if last else _ACTIVATION_LIMIT)
        # int32 accumulators in C: the worst case must fit
        bias = np.rint(b / (s_in * s_w))
        if w.shape[0] * _ACTIVATION_LIMIT**2 + np.max(np.abs(bias)) >= 2**31:
            raise ValueError(f"layer {i}: int32 accumulators could overflow")
        out[f"layer{i}.weight"] = np.rint(w / s_w).astype(np.int8)
        out[f"layer{i}.bias"] = bias.astype(np.int32)
        out[f"layer{i}.multiplier"], out[f"layer{i}.shift"] = _multipliers(s_in * s_w / s_out)
        s_in = s_out
        scales.append(s_out)
    manifest = dict(model.artifact.manifest)
    manifest["precision"] = "int8"
    manifest["frontend"] = frontend
    manifest["activation_scales"] = scales
    manifest["output_scale"] = scales[-1]
    manifest["quantization"] = {
        "calibration_windows": int(x.shape[0]),
        "headroom": _HEADROOM,
        "source": model.fingerprint(),  # adapters trained on the float model apply here too
    }
    return Model(Artifact(manifest=manifest, tensors=out))
