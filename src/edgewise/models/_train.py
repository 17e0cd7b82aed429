"""Training with scikit-learn: front-end features, an MLP, model selection by cross-validation
on training data only; the result is a float :class:`Model` (no scikit-learn object kept)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._artifact import Artifact
from ._data import Recording, Windows, add_noise, held_out_windows, train_folds
from ._frontend import features_float
from ._runtime import Model

__all__ = [
    "NOISE_SNR_DB",
    "Config",
    "Report",
    "Score",
    "cross_validate",
    "fit_feature_mlp",
    "fit_mlp",
    "grid",
    "train_classifier",
]


@dataclass(frozen=True)
class Config:
    """One configuration tried: front-end bands, hidden units, L2 penalty, and whether each
    training window gets a noisy copy (white noise at an SNR drawn from ``NOISE_SNR_DB``)."""

    bands: int
    hidden: int
    alpha: float
    noise: bool = False


@dataclass(frozen=True)
class Score:
    """Cross-validated accuracy of a configuration, clean and with white noise at 0 dB SNR."""

    config: Config
    clean: float
    noisy: float

    @property
    def objective(self) -> float:
        """What selection maximises: the mean of both (a model must hold up under noise)."""
        return (self.clean + self.noisy) / 2


NOISE_SNR_DB = (-3.0, 20.0)
"""Range of the SNRs of the noisy copies of training windows (uniform, dB)."""


def grid(
    *,
    bands: Sequence[int],
    hidden: Sequence[int],
    alpha: Sequence[float],
    noise: Sequence[bool] = (False,),
) -> list[Config]:
    """Every combination, in a fixed order."""
    return [Config(*c) for c in itertools.product(bands, hidden, alpha, noise)]


def _network(
    features: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    *,
    classes: Sequence[str],
    hidden: Sequence[int],
    alpha: float,
    seed: int,
) -> tuple[dict[str, npt.NDArray[Any]], list[dict[str, Any]], int]:
    """Standardise ``features`` (missing values, NaN, count as the mean) and fit an MLP of
    ReLU ``hidden`` layers: the tensors, the layers of the manifest and the iterations."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    if set(labels.tolist()) != set(range(len(classes))):
        raise ValueError("every class must have training windows")
    mean = np.nanmean(features, axis=0)
    std = np.maximum(np.nanstd(features, axis=0), 1e-6)
    mlp = MLPClassifier(
        hidden_layer_sizes=tuple(hidden), alpha=alpha, max_iter=400, random_state=seed
    )
    with warnings.catch_warnings():  # a capped iteration count is a tuning choice, not a fault
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(np.nan_to_num((features - mean) / std), labels)
    tensors: dict[str, npt.NDArray[Any]] = {
        "frontend.mean": mean.astype(np.float32),
        "frontend.std": std.astype(np.float32),
    }
    weights = mlp.coefs_
    if len(classes) == 2:  # scikit-learn keeps one logistic output for two classes
        weights = [*weights[:-1], np.hstack([-weights[-1] / 2, weights[-1] / 2])]
        biases = [
            *mlp.intercepts_[:-1],
            np.hstack([-mlp.intercepts_[-1] / 2, mlp.intercepts_[-1] / 2]),
        ]
    else:
        biases = mlp.intercepts_
    layers = []
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        tensors[f"layer{i}.weight"] = w.astype(np.float32)
        tensors[f"layer{i}.bias"] = b.astype(np.float32)
        layers.append(
            {"units": int(w.shape[1]), "activation": "relu" if i < len(weights) - 1 else "none"}
        )
    return tensors, layers, int(mlp.n_iter_)


def fit_mlp(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    classes: Sequence[str],
    bands: int,
    hidden: int,
    alpha: float,
    seed: int,
    noise: bool = False,
    lineage: Mapping[str, Any] | None = None,
    sample_rate: float | None = None,
) -> Model:
    """Fit the front end's standardisation and an MLP (one ReLU hidden layer) on windows ``x``
    (and, with ``noise``, a noisy copy of each).

    Every class in ``classes`` must occur in ``y`` (indices into ``classes``).
    """
    windows = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=np.int64)
    if noise:
        rng = np.random.default_rng(seed)
        snr = rng.uniform(*NOISE_SNR_DB, size=(len(windows), 1))
        copies = add_noise(windows, snr_db=snr, seed=seed + 1)
        windows, labels = np.concatenate([windows, copies]), np.concatenate([labels, labels])
    tensors, layers, iterations = _network(
        features_float(windows, bands=bands),
        labels,
        classes=classes,
        hidden=(hidden,),
        alpha=alpha,
        seed=seed,
    )
    frontend = {
        "kind": "fft-log2-bands",
        "window": int(windows.shape[1]),
        "bands": bands,
        "sample_rate": sample_rate,
    }
    training = {"hidden": hidden, "alpha": alpha, "seed": seed, "iterations": iterations}
    return _model(
        tensors, layers, classes=classes, frontend=frontend, training=training, lineage=lineage
    )


def fit_feature_mlp(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    classes: Sequence[str],
    features: Sequence[str],
    hidden: Sequence[int],
    alpha: float,
    seed: int,
    lineage: Mapping[str, Any] | None = None,
) -> Model:
    """An MLP on precomputed features (rows of ``x``, columns named by ``features``): the
    front end only standardises, and a missing value (NaN) counts as the training mean.

    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 1, (30, 3)), rng.normal(3, 1, (30, 3))])
    >>> y = np.repeat([0, 1], 30)
    >>> m = fit_feature_mlp(x, y, classes=["a", "b"], features=["f", "g", "h"], hidden=[8],
    ...                     alpha=1e-3, seed=0)
    >>> m.predict([[0.0, np.nan, 0.0], [3.0, 3.0, 3.0]]).tolist()
    [0, 1]
    """
    values = np.asarray(x, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(features):
        raise ValueError(f"expected rows of {len(features)} features, got shape {values.shape}")
    tensors, layers, iterations = _network(
        values,
        np.asarray(y, dtype=np.int64),
        classes=classes,
        hidden=hidden,
        alpha=alpha,
        seed=seed,
    )
    frontend = {"kind": "features", "names": list(features)}
    training = {"hidden": list(hidden), "alpha": alpha, "seed": seed, "iterations": iterations}
    return _model(
        tensors, layers, classes=classes, frontend=frontend, training=training, lineage=lineage
    )


def _model(
    tensors: dict[str, npt.NDArray[Any]],
    layers: list[dict[str, Any]],
    *,
    classes: Sequence[str],
    frontend: Mapping[str, Any],
    training: Mapping[str, Any],
    lineage: Mapping[str, Any] | None,
) -> Model:
    manifest = {
        "kind": "mlp-classifier",
        "precision": "float32",
        "classes": list(classes),
        "frontend": dict(frontend),
        "layers": layers,
        "training": dict(training),
        "lineage": dict(lineage or {}),
    }
    return Model(Artifact(manifest=manifest, tensors=tensors))


def cross_validate(
    folds: Sequence[Windows],
    *,
    classes: Sequence[str],
    configs: Sequence[Config],
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[Score]:
    """Mean accuracy of each configuration over the folds (train on the others, score one,
    clean and with white noise at 0 dB SNR)."""
    scores = []
    total = len(configs) * len(folds)
    for c, config in enumerate(configs):
        clean, noisy = [], []
        for k, held in enumerate(folds):
            train = [f for j, f in enumerate(folds) if j != k]
            model = fit_mlp(
                np.concatenate([f.x for f in train]),
                np.concatenate([f.y for f in train]),
                classes=classes,
                seed=seed,
                **asdict(config),
            )
            clean.append(float(np.mean(model.predict(held.x) == held.y)))
            corrupted = add_noise(held.x, snr_db=0.0, seed=seed + 1000 + k)
            noisy.append(float(np.mean(model.predict(corrupted) == held.y)))
            if progress is not None:
                progress(c * len(folds) + k + 1, total)
        scores.append(Score(config, float(np.mean(clean)), float(np.mean(noisy))))
    return scores


def _row(score: Score) -> dict[str, Any]:
    return {**asdict(score.config), "cv_clean": score.clean, "cv_noisy_0db": score.noisy}


@dataclass(frozen=True)
class Report:
    """What a training run chose and measured."""

    scores: list[Score]
    best: Score
    train_windows: int
    test_windows: int
    test_accuracy: float


def train_classifier(
    recordings: Sequence[Recording],
    *,
    configs: Sequence[Config],
    window: int,
    stride: int,
    folds: int,
    train_fraction: float,
    seed: int,
    source: str,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Model, Report, Windows]:
    """Select a configuration by cross-validation on the training parts, refit it on all of
    them, score the held-out parts once. Returns the model, the report and the test windows."""
    from edgewise import __version__
    from edgewise.bench._meta import run_metadata

    classes = sorted({r.label for r in recordings})
    blocks = train_folds(
        recordings,
        classes,
        train_fraction=train_fraction,
        folds=folds,
        window=window,
        stride=stride,
    )
    scores = cross_validate(blocks, classes=classes, configs=configs, seed=seed, progress=progress)
    best = max(scores, key=lambda score: score.objective)  # the first of equals: grid order
    train = train_folds(
        recordings, classes, train_fraction=train_fraction, folds=1, window=window, stride=stride
    )[0]
    test = held_out_windows(recordings, classes, train_fraction=train_fraction, window=window)
    lineage = {
        "source": source,
        "recordings": [
            {"name": r.name, "label": r.label, "samples": len(r.samples)} for r in recordings
        ],
        "split": {
            "train_fraction": train_fraction,
            "test": "the rest of each recording, non-overlapping windows",
        },
        "stride": stride,
        "cv": {"folds": folds, "scores": [_row(s) for s in scores]},
        "code_version": __version__,
        "commit": run_metadata()["commit"],
        "seed": seed,
    }
    rate = recordings[0].sample_rate
    model = fit_mlp(
        train.x,
        train.y,
        classes=classes,
        seed=seed,
        lineage=lineage,
        sample_rate=rate,
        **asdict(best.config),
    )
    accuracy = float(np.mean(model.predict(test.x) == test.y))
    metrics = {"test_accuracy": accuracy, "cv": _row(best)}
    model = model.with_manifest(lineage={**lineage, "metrics": metrics})
    report = Report(
        scores=scores,
        best=best,
        train_windows=len(train.x),
        test_windows=len(test.x),
        test_accuracy=accuracy,
    )
    return model, report, test
