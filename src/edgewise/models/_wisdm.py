"""WISDM activity recognition (Kwapisz et al. 2010): 43 features of 10-second accelerometer
windows, 6 activities, 36 users, and the splits of the adaptation benchmark.

The ARFF file is read by hand: its ``user`` attribute is untyped, which scipy's reader refuses.
Rows are put in ``UNIQUE_ID`` order (the recording order), which is not a feature. A ``?`` (474
rows lack the X/Y/Z peak features) becomes NaN, which a model's front end counts as the mean.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["WISDM_FILE", "FeatureTable", "few_shot", "load_wisdm", "user_folds"]

WISDM_FILE = "WISDM_ar_v1.1_transformed.arff"
_ATTRIBUTE = re.compile(r'@attribute\s+"?([^"\s]+)"?', re.IGNORECASE)


@dataclass(frozen=True)
class FeatureTable:
    """Rows of features (NaN: missing) with class indices and the user of each row."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.int64]
    user: npt.NDArray[np.int64]
    classes: list[str]
    features: list[str]


def load_wisdm(folder: Path) -> FeatureTable:
    """The transformed WISDM v1.1 windows, in recording order."""
    import pandas as pd

    path = folder / WISDM_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {WISDM_FILE} in {folder}")
    text = path.read_text(encoding="utf-8")
    header, _, body = text.partition("@data")
    names = _ATTRIBUTE.findall(header)
    if names[:2] != ["UNIQUE_ID", "user"] or names[-1] != "class":
        raise ValueError(f"{path}: unexpected attributes {names[:2]} ... {names[-1:]}")
    frame = pd.read_csv(io.StringIO(body), header=None, names=names, na_values="?")
    frame = frame.sort_values("UNIQUE_ID", kind="stable")
    features = names[2:-1]
    classes = sorted(frame["class"].unique().tolist())
    return FeatureTable(
        x=frame[features].to_numpy(dtype=np.float64),
        y=frame["class"].map(classes.index).to_numpy(dtype=np.int64),
        user=frame["user"].to_numpy(dtype=np.int64),
        classes=classes,
        features=features,
    )


def user_folds(users: npt.ArrayLike, *, folds: int, seed: int) -> list[list[int]]:
    """The distinct users shuffled by ``seed`` and dealt into ``folds`` groups (sorted).

    >>> user_folds([3, 1, 2, 2, 4], folds=2, seed=0)
    [[2, 3], [1, 4]]
    """
    distinct = np.unique(np.asarray(users))
    order = np.random.default_rng(seed).permutation(distinct)
    return [sorted(int(u) for u in order[k::folds]) for k in range(folds)]


def few_shot(labels: npt.ArrayLike, *, k: int) -> npt.NDArray[np.bool_]:
    """The first ``k`` rows of each class (at most half of that class's rows, so every class
    keeps rows to test on): the rows that adapt; the rest test.

    >>> few_shot([0, 0, 1, 0, 1, 1, 1, 2], k=2).astype(int).tolist()
    [1, 0, 1, 0, 1, 0, 0, 0]
    """
    y = np.asarray(labels)
    mask = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        mask[rows[: min(k, len(rows) // 2)]] = True
    return mask
