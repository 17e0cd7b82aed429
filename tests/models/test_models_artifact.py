"""The model file: round trip, checks on load, no pickle."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgewise.models import Artifact, ArtifactError, load_artifact, save_artifact


def _artifact() -> Artifact:
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, -2], np.int8)}
    return Artifact(manifest={"kind": "test", "lineage": {"seed": 3}}, tensors=tensors)


def test_round_trip_keeps_tensors_and_manifest(tmp_path: Path) -> None:
    path = tmp_path / "m.ewm"
    save_artifact(path, _artifact())
    loaded = load_artifact(path)
    assert loaded.manifest["lineage"] == {"seed": 3}
    assert loaded.manifest["format_version"] == 1
    np.testing.assert_array_equal(loaded.tensors["a"], _artifact().tensors["a"])
    assert loaded.tensors["b"].dtype == np.int8
    assert loaded.size_bytes() == 24 + 2
    first = path.read_bytes()
    save_artifact(path, _artifact())
    assert path.read_bytes() == first  # deterministic bytes


def test_object_tensors_are_refused(tmp_path: Path) -> None:
    bad = Artifact(manifest={}, tensors={"x": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ArtifactError, match="dtype object"):
        save_artifact(tmp_path / "m.ewm", bad)


def _rewrite(path: Path, name: str, data: bytes) -> None:
    with zipfile.ZipFile(path) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    entries[name] = data
    with zipfile.ZipFile(path, "w") as archive:
        for entry, content in entries.items():
            archive.writestr(entry, content)


def test_a_changed_tensor_or_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.ewm"
    save_artifact(path, _artifact())
    manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    _rewrite(path, "manifest.json", json.dumps({**manifest, "format_version": 99}).encode())
    with pytest.raises(ArtifactError, match="format version 99"):
        load_artifact(path)
    save_artifact(path, _artifact())
    manifest["tensors"]["b"]["sha256"] = "0" * 64
    _rewrite(path, "manifest.json", json.dumps(manifest).encode())
    with pytest.raises(ArtifactError, match="checksum"):
        load_artifact(path)


def test_not_a_model_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "m.ewm"
    path.write_text("hello")
    with pytest.raises(ArtifactError, match="not a readable edgewise model"):
        load_artifact(path)
