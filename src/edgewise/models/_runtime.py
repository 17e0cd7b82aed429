"""The numpy-only runtime: raw sample windows -> front end -> MLP -> class.

Imports numpy and nothing else heavy: the agent runs models without scikit-learn installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._artifact import Artifact, ArtifactError, load_artifact, save_artifact
from ._fixed import requantize
from ._frontend import features_fixed, features_float, quantize_samples
from ._lowrank import Adapter, fingerprint

__all__ = ["INT8_LOGIT_LIMIT", "Model"]

INT8_LOGIT_LIMIT = 32767
"""The int8 network's last layer is requantized to int16 range: fewer ties between classes."""
_ACTIVATION_LIMIT = 127


class Model:
    """A loaded model: ``predict`` takes windows of raw samples (rows), returns class indices.

    Float models compute in float32 on float64 features; int8 models quantize the samples to
    int16 (``manifest["frontend"]["input_scale"]``) and compute in integers only. A model whose
    front end is ``features`` takes rows of precomputed features instead of samples (int8: the
    standardised features are quantized to int8 in float). With a low-rank ``adapter`` each
    adapted layer adds ``scale * x @ A @ B`` in float32 (int8: to the dequantized accumulator,
    requantized after).
    """

    def __init__(self, artifact: Artifact, *, adapter: Adapter | None = None) -> None:
        self.artifact = artifact
        self.adapter = adapter
        manifest = artifact.manifest
        missing = {"kind", "precision", "classes", "frontend", "layers"} - set(manifest)
        if missing:
            raise ArtifactError(f"the manifest lacks {', '.join(sorted(missing))}")
        if manifest.get("kind") != "mlp-classifier":
            raise ArtifactError(f"unknown model kind {manifest.get('kind')!r}")
        self.precision: str = manifest["precision"]
        if self.precision not in ("float32", "int8"):
            raise ArtifactError(f"unknown precision {self.precision!r}")
        self.classes: list[str] = list(manifest["classes"])
        frontend = manifest["frontend"]
        self.feature_input: bool = frontend.get("kind") == "features"
        # the width of an input row: samples of a window, or features
        self.window: int = len(frontend["names"]) if self.feature_input else int(frontend["window"])
        self.bands: int = 0 if self.feature_input else int(frontend["bands"])
        self.layers: list[Mapping[str, Any]] = list(manifest["layers"])
        if adapter is not None:
            self._check(adapter)

    def fingerprint(self) -> str:
        """The fingerprint of this float model, or of the float model an int8 one came from."""
        if self.precision == "float32":
            return fingerprint(self.artifact)
        source = self.artifact.manifest.get("quantization", {}).get("source")
        if source is None:
            raise ArtifactError("this int8 model does not name its float source (re-quantize it)")
        return str(source)

    def _check(self, adapter: Adapter) -> None:
        if adapter.base != self.fingerprint():
            raise ArtifactError("the adapter was trained on another base model")
        if max(adapter.layers, default=-1) >= len(self.layers):
            raise ArtifactError(f"the adapter adapts layer {max(adapter.layers)}, beyond the model")

    def with_adapter(self, adapter: Adapter | None) -> Model:
        """The same base (float or int8) with ``adapter`` applied (``None``: the bare base)."""
        return Model(self.artifact, adapter=adapter)

    @classmethod
    def load(cls, path: Path) -> Model:
        """Read a model file written by ``edgewise train`` or ``edgewise compress``."""
        return cls(load_artifact(path))

    def with_manifest(self, **changes: Any) -> Model:
        """The same tensors under a manifest with some top-level entries replaced."""
        return Model(
            Artifact(manifest={**self.artifact.manifest, **changes}, tensors=self.artifact.tensors),
            adapter=self.adapter,
        )

    def save(self, path: Path) -> None:
        """Write the model file."""
        save_artifact(path, self.artifact)

    def _tensor(self, name: str) -> npt.NDArray[Any]:
        return self.artifact.tensors[name]

    def _windows(self, samples: npt.ArrayLike) -> npt.NDArray[Any]:
        x = np.asarray(samples)
        if x.ndim != 2 or x.shape[1] != self.window:
            unit = "features" if self.feature_input else "samples"
            raise ValueError(f"expected rows of {self.window} {unit}, got shape {x.shape}")
        return x

    def quantize_input(self, samples: npt.ArrayLike) -> npt.NDArray[np.int16]:
        """Float windows -> the int16 windows an int8 model (and its C code) takes."""
        if self.feature_input:
            raise ValueError("a model on features takes float features, not int16 counts")
        return quantize_samples(
            self._windows(samples), scale=float(self.artifact.manifest["frontend"]["input_scale"])
        )

    def logits(self, samples: npt.ArrayLike) -> npt.NDArray[Any]:
        """float32 logits, or the int8 model's integer logits (int64, int16 range)."""
        x = self._windows(samples)
        if self.precision == "float32":
            return self._logits_float(self.network_input(x))
        if self.feature_input:
            scale = float(self.artifact.manifest["activation_scales"][0])
            h = np.rint(self.standardised(x) / scale).astype(np.int64)
            return self._logits_int(np.clip(h, -_ACTIVATION_LIMIT, _ACTIVATION_LIMIT))
        counts = x if x.dtype == np.int16 else self.quantize_input(x)
        features = features_fixed(counts, bands=self.bands) - self._tensor("frontend.offset")
        scaled = requantize(
            features, self._tensor("frontend.multiplier"), self._tensor("frontend.shift")
        )
        return self._logits_int(np.clip(scaled, -_ACTIVATION_LIMIT, _ACTIVATION_LIMIT))

    def network_input(self, samples: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The standardised features a float model's first dense layer takes."""
        x = self._windows(samples)
        return self.standardised(x if self.feature_input else features_float(x, bands=self.bands))

    def standardised(self, features: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """``(features - mean) / std``; a missing feature (NaN) counts as the mean."""
        mean, std = self._tensor("frontend.mean"), self._tensor("frontend.std")
        z = (np.asarray(features, dtype=np.float64) - mean) / std
        return np.asarray(np.nan_to_num(z, nan=0.0), dtype=np.float32)

    def _logits_float(self, h: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        for i, layer in enumerate(self.layers):
            x = h
            h = x @ self._tensor(f"layer{i}.weight") + self._tensor(f"layer{i}.bias")
            if self.adapter is not None:
                h = h + self.adapter.delta(i, x)
            if layer["activation"] == "relu":
                h = np.maximum(h, np.float32(0))
        return np.asarray(h, dtype=np.float32)

    def _logits_int(self, h: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        scales = self.artifact.manifest["activation_scales"]
        for i, layer in enumerate(self.layers):
            acc = h @ self._tensor(f"layer{i}.weight").astype(np.int64) + self._tensor(
                f"layer{i}.bias"
            )
            big, shift = self._tensor(f"layer{i}.multiplier"), self._tensor(f"layer{i}.shift")
            if self.adapter is None or i not in self.adapter.layers:
                out = requantize(acc, big, shift)
            else:  # dequantize, add the float adapter branch, requantize to the layer's scale
                base = acc * (big / np.exp2(shift.astype(np.float64)))
                delta = self.adapter.delta(i, h * np.float32(scales[i])) / scales[i + 1]
                out = np.rint(base + delta).astype(np.int64)
            relu = layer["activation"] == "relu"
            h = (
                np.clip(out, 0, _ACTIVATION_LIMIT)
                if relu
                else np.clip(out, -INT8_LOGIT_LIMIT, INT8_LOGIT_LIMIT)
            )
        return np.asarray(h, dtype=np.int64)

    def predict_proba(self, samples: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Class probabilities (softmax of the logits; int8 logits times their scale)."""
        z = self.logits(samples).astype(np.float64)
        if self.precision == "int8":
            z *= float(self.artifact.manifest["output_scale"])
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    def predict(self, samples: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The index of the most likely class of each window (the first one on a tie, as in C)."""
        return np.asarray(np.argmax(self.logits(samples), axis=1), dtype=np.int64)
