"""Each public package's ``__all__`` names exactly its public objects, and they import."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "edgewise.stream",
    "edgewise.clean",
    "edgewise.impute",
    "edgewise.fuse",
    "edgewise.features",
    "edgewise.detect",
    "edgewise.agent",
    "edgewise.agent.inputs.http",
    "edgewise.releases",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_matches_public_names(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_") and getattr(obj, "__module__", "").startswith(name)
    }
    assert set(module.__all__) >= public
    assert list(module.__all__) == sorted(module.__all__)
    for exported in module.__all__:
        assert hasattr(module, exported), f"{name}.__all__ names missing {exported}"
