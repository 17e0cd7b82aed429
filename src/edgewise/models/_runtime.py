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

__all__ = ["INT8_LOGIT_LIMIT", "Model"]

INT8_LOGIT_LIMIT = 32767
"""The int8 network's last layer is requantized to int16 range: fewer ties between classes."""
_ACTIVATION_LIMIT = 127


class Model:
    """A loaded model: ``predict`` takes windows of raw samples (rows), returns class indices.

    Float models compute in float32 on float64 features; int8 models quantize the samples to
    int16 (``manifest["frontend"]["input_scale"]``) and compute in integers only.
    """

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
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
        self.window: int = int(manifest["frontend"]["window"])
        self.bands: int = int(manifest["frontend"]["bands"])
        self.layers: list[Mapping[str, Any]] = list(manifest["layers"])

    @classmethod
    def load(cls, path: Path) -> Model:
        """Read a model file written by ``edgewise train`` or ``edgewise compress``."""
        return cls(load_artifact(path))

    def with_manifest(self, **changes: Any) -> Model:
        """The same tensors under a manifest with some top-level entries replaced."""
        return Model(
            Artifact(manifest={**self.artifact.manifest, **changes}, tensors=self.artifact.tensors)
        )

    def save(self, path: Path) -> None:
        """Write the model file."""
        save_artifact(path, self.artifact)

    def _tensor(self, name: str) -> npt.NDArray[Any]:
        return self.artifact.tensors[name]

    def _windows(self, samples: npt.ArrayLike) -> npt.NDArray[Any]:
        x = np.asarray(samples)
        if x.ndim != 2 or x.shape[1] != self.window:
            raise ValueError(f"expected rows of {self.window} samples, got shape {x.shape}")
        return x

    def quantize_input(self, samples: npt.ArrayLike) -> npt.NDArray[np.int16]:
        """Float windows -> the int16 windows an int8 model (and its C code) takes."""
        return quantize_samples(
            self._windows(samples), scale=float(self.artifact.manifest["frontend"]["input_scale"])
        )

    def logits(self, samples: npt.ArrayLike) -> npt.NDArray[Any]:
        """float32 logits, or the int8 model's integer logits (int64, int16 range)."""
        if self.precision == "float32":
            return self._logits_float(features_float(self._windows(samples), bands=self.bands))
        x = np.asarray(samples)
        counts = x if x.dtype == np.int16 else self.quantize_input(x)
        return self._logits_int(self._windows(counts))

    def _logits_float(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        mean, std = self._tensor("frontend.mean"), self._tensor("frontend.std")
        h = ((features - mean) / std).astype(np.float32)
        for i, layer in enumerate(self.layers):
            h = h @ self._tensor(f"layer{i}.weight") + self._tensor(f"layer{i}.bias")
            if layer["activation"] == "relu":
                h = np.maximum(h, np.float32(0))
        return np.asarray(h, dtype=np.float32)

    def _logits_int(self, counts: npt.NDArray[np.int16]) -> npt.NDArray[np.int64]:
        features = features_fixed(counts, bands=self.bands) - self._tensor("frontend.offset")
        scaled = requantize(
            features, self._tensor("frontend.multiplier"), self._tensor("frontend.shift")
        )
        h = np.clip(scaled, -_ACTIVATION_LIMIT, _ACTIVATION_LIMIT)
        for i, layer in enumerate(self.layers):
            acc = h @ self._tensor(f"layer{i}.weight").astype(np.int64) + self._tensor(
                f"layer{i}.bias"
            )
            out = requantize(
                acc, self._tensor(f"layer{i}.multiplier"), self._tensor(f"layer{i}.shift")
            )
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
