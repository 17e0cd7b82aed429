"""``edgewise.hub.__all__`` names exactly its public objects, and they import."""

from __future__ import annotations

import edgewise.hub


def test_all_matches_public_names() -> None:
    public = {
        n
        for n, obj in vars(edgewise.hub).items()
        if not n.startswith("_") and getattr(obj, "__module__", "").startswith("edgewise.hub")
    }
    assert public <= set(edgewise.hub.__all__)
    assert all(hasattr(edgewise.hub, n) for n in edgewise.hub.__all__)
