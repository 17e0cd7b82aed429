"""The portable model file: a zip of ``manifest.json`` and one ``.npy`` per named tensor.

No pickle and nothing executable: tensors are read with ``allow_pickle=False``, only plain
numeric dtypes are accepted, and the manifest lists every tensor with its dtype, shape and
SHA-256, checked on load.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Artifact",
    "ArtifactError",
    "load_artifact",
    "save_artifact",
]

FORMAT = "edgewise.model"
FORMAT_VERSION = 1
_DTYPES = frozenset({"float32", "int8", "int16", "int32", "int64"})
_MANIFEST = "manifest.json"


class ArtifactError(ValueError):
    """A model file that is not a valid edgewise artifact (one clear line)."""


@dataclass(frozen=True)
class Artifact:
    """A manifest (JSON-compatible dict) and its named tensors."""

    manifest: Mapping[str, Any]
    tensors: Mapping[str, npt.NDArray[Any]]

    def size_bytes(self) -> int:
        """Bytes of every tensor (the manifest's few numbers are not counted)."""
        return sum(int(t.nbytes) for t in self.tensors.values())


def _digest(array: npt.NDArray[Any]) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def save_artifact(path: Path, artifact: Artifact) -> None:
    """Write ``artifact`` to ``path`` (deterministic bytes for the same content)."""
    listing = {}
    for name, tensor in artifact.tensors.items():
        if tensor.dtype.name not in _DTYPES:
            raise ArtifactError(
                f"tensor {name}: dtype {tensor.dtype} is not one of {sorted(_DTYPES)}"
            )
        listing[name] = {
            "dtype": tensor.dtype.name,
            "shape": list(tensor.shape),
            "sha256": _digest(tensor),
        }
    manifest = {**artifact.manifest, "format": FORMAT, "format_version": FORMAT_VERSION}
    manifest["tensors"] = listing
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _write(archive, _MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
        for name, tensor in artifact.tensors.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(tensor), allow_pickle=False)
            _write(archive, f"tensors/{name}.npy", buffer.getvalue())


def _write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # no timestamps: same bytes
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def load_artifact(path: Path) -> Artifact:
    """Read and check a model file; any problem is an :class:`ArtifactError`."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(_MANIFEST))
            if manifest.get("format") != FORMAT:
                raise ArtifactError(
                    f"{path}: not an edgewise model (format {manifest.get('format')!r})"
                )
            if manifest.get("format_version") != FORMAT_VERSION:
                raise ArtifactError(
                    f"{path}: format version {manifest.get('format_version')!r}, this edgewise "
                    f"reads {FORMAT_VERSION}"
                )
            tensors = {
                name: _read_tensor(archive, name, spec)
                for name, spec in manifest["tensors"].items()
            }
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path}: not a readable edgewise model ({error})") from None
    return Artifact(manifest=manifest, tensors=tensors)


def _read_tensor(archive: zipfile.ZipFile, name: str, spec: Mapping[str, Any]) -> npt.NDArray[Any]:
    if spec["dtype"] not in _DTYPES:
        raise ArtifactError(f"tensor {name}: dtype {spec['dtype']} is not allowed")
    array = np.lib.format.read_array(
        io.BytesIO(archive.read(f"tensors/{name}.npy")), allow_pickle=False
    )
    if array.dtype.name != spec["dtype"] or list(array.shape) != spec["shape"]:
        raise ArtifactError(
            f"tensor {name}: stored {array.dtype}{list(array.shape)}, manifest says otherwise"
        )
    if _digest(array) != spec["sha256"]:
        raise ArtifactError(f"tensor {name}: checksum mismatch (corrupted file)")
    return array
