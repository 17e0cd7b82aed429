"""The check a model passes before it is published and again before an agent switches to it.

The model must load, and its predictions must be valid on a smoke input (seeded noise and
tones of the model's window). A manifest may carry a test vector (``self_test``: ``input``, rows
of samples, and ``expected``, their class names); then the predictions must equal it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgewise.models import ArtifactError, Model

from ._errors import ReleaseError

__all__ = ["self_test"]


def self_test(path: Path) -> Model:
    """Load ``path`` and check its predictions; a :class:`ReleaseError` says what failed."""
    try:
        model = Model.load(path)
        vector = model.artifact.manifest.get("self_test")
        samples = _smoke(model.window) if vector is None else np.asarray(vector["input"], float)
        probabilities = model.predict_proba(samples)
        predicted = [model.classes[int(i)] for i in model.predict(samples)]
    except (ArtifactError, ValueError, KeyError, TypeError, IndexError) as error:
        raise ReleaseError(f"{path.name}: the model does not load or run ({error})") from None
    if not np.all(np.isfinite(probabilities)):
        raise ReleaseError(f"{path.name}: the model's outputs are not finite")
    if vector is not None and predicted != list(vector["expected"]):
        raise ReleaseError(
            f"{path.name}: the model fails its test vector: {predicted} != {vector['expected']}"
        )
    return model


def _smoke(window: int) -> np.ndarray:
    t = np.arange(window) / window
    rng = np.random.default_rng(0)
    return np.stack([np.zeros(window), np.sin(2 * np.pi * 8 * t), rng.normal(size=window)])
