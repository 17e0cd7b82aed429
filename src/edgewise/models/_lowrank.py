"""Low-rank adapters: a small file of ``A`` (in x rank) and ``B`` (rank x out) per dense layer,
applied on top of a frozen base model as ``W + scale * A @ B``.

An adapter names the base it was trained on by a fingerprint of the base's float weights; an
int8 model keeps the fingerprint of the float model it was quantized from, so one adapter
applies to either (see ``Model.with_adapter``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._artifact import Artifact, ArtifactError, load_artifact, save_artifact

__all__ = ["ADAPTER_KIND", "Adapter", "fingerprint"]

ADAPTER_KIND = "lowrank-adapter"


def fingerprint(artifact: Artifact) -> str:
    """SHA-256 of a float model's front-end and layer tensors (names, dtypes, shapes, bytes)."""
    digest = hashlib.sha256()
    for name in sorted(artifact.tensors):
        tensor = np.ascontiguousarray(artifact.tensors[name])
        digest.update(f"{name}:{tensor.dtype.name}:{tensor.shape};".encode())
        digest.update(tensor.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Adapter:
    """A loaded adapter: ``layer{i}.a`` and ``layer{i}.b`` float32 tensors, ``scale``, ``base``."""

    artifact: Artifact

    def __post_init__(self) -> None:
        manifest = self.artifact.manifest
        if manifest.get("kind") != ADAPTER_KIND:
            raise ArtifactError(f"not a low-rank adapter (kind {manifest.get('kind')!r})")
        for i in self.layers:
            a = self.artifact.tensors.get(f"layer{i}.a", np.empty(0))
            b = self.artifact.tensors.get(f"layer{i}.b", np.empty(0))
            if a.ndim != 2 or b.ndim != 2 or a.shape[1] != self.rank or b.shape[0] != self.rank:
                raise ArtifactError(f"layer {i}: adapter shapes {a.shape} and {b.shape} differ")

    @classmethod
    def from_tensors(
        cls,
        tensors: Mapping[str, npt.NDArray[np.float32]],
        *,
        rank: int,
        scale: float,
        base: str,
        training: Mapping[str, Any],
    ) -> Adapter:
        """An adapter for the base with fingerprint ``base``."""
        layers = sorted(int(name[5:].split(".")[0]) for name in tensors if name.endswith(".a"))
        manifest = {
            "kind": ADAPTER_KIND,
            "rank": rank,
            "scale": scale,
            "layers": layers,
            "base": base,
            "training": dict(training),
        }
        return cls(Artifact(manifest=manifest, tensors=dict(tensors)))

    @classmethod
    def load(cls, path: Path) -> Adapter:
        """Read an adapter file (the ``.ewm`` format, kind ``lowrank-adapter``)."""
        return cls(load_artifact(path))

    def save(self, path: Path) -> None:
        """Write the adapter file."""
        save_artifact(path, self.artifact)

    @property
    def rank(self) -> int:
        """The rank of every ``A @ B``."""
        return int(self.artifact.manifest["rank"])

    @property
    def scale(self) -> float:
        """The factor of ``A @ B``."""
        return float(self.artifact.manifest["scale"])

    @property
    def layers(self) -> list[int]:
        """Indices of the adapted dense layers."""
        return [int(i) for i in self.artifact.manifest["layers"]]

    @property
    def base(self) -> str:
        """The fingerprint of the float model the adapter was trained on."""
        return str(self.artifact.manifest["base"])

    def delta(self, layer: int, inputs: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """``scale * inputs @ A @ B`` of one layer (zeros for a layer it does not adapt)."""
        if layer not in self.layers:
            return np.zeros(1, dtype=np.float32)
        a, b = self.artifact.tensors[f"layer{layer}.a"], self.artifact.tensors[f"layer{layer}.b"]
        return np.asarray(
            np.float32(self.scale) * ((inputs.astype(np.float32) @ a) @ b), dtype=np.float32
        )
