"""WISDM on-device adaptation: a fleet MLP trained on other users, then for each held-out user
low-rank adapters, last-layer fine-tuning and full fine-tuning on the first few labelled windows
of each of that user's activities, scored on the rest of that user's windows.

Users are dealt into ``FOLDS`` groups (seeded); group 0 is the tuning users, on which every
configuration is chosen; the other groups are the test users, scored once with the choice.
Each group's fleet model is trained on all users outside the group.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgewise._datadir import data_dir
from edgewise.models import (
    FeatureTable,
    Method,
    Model,
    adapt,
    adapter_parameters,
    few_shot,
    fit_feature_mlp,
    load_wisdm,
    quantize_int8,
    user_folds,
)

__all__ = ["FLEET_ALPHAS", "HIDDEN", "SHOTS", "Setting", "run_adaptation", "settings"]

HIDDEN = (128, 128)
"""The fleet MLP's hidden layers (fixed before tuning)."""
FLEET_ALPHAS = (1e-4, 1e-3, 1e-2)
"""L2 penalties of the fleet model tried on the tuning users."""
SHOTS = 5
"""Labelled windows per activity that adapt (the first ones of the user's recording)."""
FOLDS, SEED, MAX_ADAPTER_SHARE = 6, 0, 0.05


@dataclass(frozen=True)
class Setting:
    """One adaptation configuration."""

    method: Method
    lr: float
    epochs: int
    rank: int = 0


def settings(model: Model) -> list[Setting]:
    """Every configuration tried on the tuning users, in a fixed order (ranks within budget)."""
    total = sum(
        int(t.size) for name, t in model.artifact.tensors.items() if name.startswith("layer")
    )
    ranks = [r for r in (1, 2, 4) if adapter_parameters(model, rank=r) <= MAX_ADAPTER_SHARE * total]
    grid = [(lr, epochs) for lr in (1e-3, 3e-3, 1e-2) for epochs in (25, 100, 400)]
    return [
        *(Setting("lowrank", lr, epochs, r) for r in ranks for lr, epochs in grid),
        *(Setting("last", lr, epochs) for lr, epochs in grid),
        *(Setting("full", lr, epochs) for lr, epochs in grid),
    ]


@dataclass(frozen=True)
class _User:
    user: int
    adapt_x: np.ndarray[Any, Any]
    adapt_y: np.ndarray[Any, Any]
    test_x: np.ndarray[Any, Any]
    test_y: np.ndarray[Any, Any]


def _users(table: FeatureTable, users: Sequence[int]) -> Iterator[_User]:
    for user in users:
        rows = table.user == user
        x, y = table.x[rows], table.y[rows]
        shots = few_shot(y, k=SHOTS)
        yield _User(user, x[shots], y[shots], x[~shots], y[~shots])


def _fleet(
    table: FeatureTable, held: Sequence[int], alpha: float
) -> tuple[Model, np.ndarray[Any, Any]]:
    train = ~np.isin(table.user, held)
    model = fit_feature_mlp(
        table.x[train],
        table.y[train],
        classes=table.classes,
        features=table.features,
        hidden=HIDDEN,
        alpha=alpha,
        seed=SEED,
        lineage={"source": "WISDM", "held_out_users": list(held), "seed": SEED},
    )
    return model, table.x[train]


def _accuracy(model: Model, user: _User) -> tuple[int, int]:
    return int(np.sum(model.predict(user.test_x) == user.test_y)), len(user.test_y)


def _pooled(counts: Sequence[tuple[int, int]]) -> float:
    return sum(c for c, _ in counts) / sum(n for _, n in counts)


def _adapted(fleet: Model, user: _User, setting: Setting) -> Any:
    return adapt(
        fleet,
        user.adapt_x,
        user.adapt_y,
        method=setting.method,
        lr=setting.lr,
        epochs=setting.epochs,
        rank=max(setting.rank, 1),
        seed=SEED + user.user,
    )


def _peak_bytes(fleet: Model, user: _User, setting: Setting) -> int:
    """tracemalloc's peak while adapting (numpy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        _adapted(fleet, user, setting)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run_adaptation(
    *, data: Path | None = None, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Choose the fleet's penalty and each method's configuration on the tuning users, then
    score every test user once."""
    table = load_wisdm((data or data_dir()) / "WISDM")
    groups = user_folds(table.user, folds=FOLDS, seed=SEED)
    tuning, tests = groups[0], groups[1:]
    tuning_users = list(_users(table, tuning))
    fleets = {alpha: _fleet(table, tuning, alpha)[0] for alpha in FLEET_ALPHAS}
    fleet_scores = {
        alpha: _pooled([_accuracy(m, u) for u in tuning_users]) for alpha, m in fleets.items()
    }
    alpha = max(FLEET_ALPHAS, key=lambda a: fleet_scores[a])  # the first of equals
    fleet = fleets[alpha]
    grid = settings(fleet)
    tuned = []
    for n, setting in enumerate(grid, 1):
        score = _pooled([_accuracy(_adapted(fleet, u, setting).model, u) for u in tuning_users])
        tuned.append((setting, score))
        if progress is not None:
            progress(n, len(grid) + len(tests))
    best = {
        method: max((t for t in tuned if t[0].method == method), key=lambda t: t[1])[0]
        for method in ("lowrank", "last", "full")
    }
    counts: dict[str, list[tuple[int, int]]] = {
        key: [] for key in ("fleet", "fleet_int8", "lowrank", "lowrank_int8", "last", "full")
    }
    per_user, memory = [], []
    for n, held in enumerate(tests, len(grid) + 1):
        fleet, calibration = _fleet(table, held, alpha)
        small = quantize_int8(fleet, calibration=calibration)
        for user in _users(table, held):
            runs = {method: _adapted(fleet, user, best[method]) for method in best}
            scores = {
                "fleet": _accuracy(fleet, user),
                "fleet_int8": _accuracy(small, user),
                "lowrank_int8": _accuracy(small.with_adapter(runs["lowrank"].adapter), user),
                **{method: _accuracy(run.model, user) for method, run in runs.items()},
            }
            for key, value in scores.items():
                counts[key].append(value)
            per_user.append(
                {"user": user.user, "adapt_rows": len(user.adapt_y), "test_rows": len(user.test_y)}
                | {key: c / total for key, (c, total) in scores.items()}
            )
            memory.append(runs["lowrank"].train_memory_bytes / runs["full"].train_memory_bytes)
        if progress is not None:
            progress(n, len(grid) + len(tests))
    first = next(_users(table, tests[0]))
    lowrank_run = _adapted(fleet, first, best["lowrank"])
    total = sum(int(t.size) for k, t in fleet.artifact.tensors.items() if k.startswith("layer"))
    return {
        "wisdm_fleet_acc": _pooled(counts["fleet"]),
        "wisdm_adapted_acc": _pooled(counts["lowrank"]),
        "wisdm_lastlayer_acc": _pooled(counts["last"]),
        "wisdm_full_finetune_acc": _pooled(counts["full"]),
        "wisdm_fleet_int8_acc": _pooled(counts["fleet_int8"]),
        "wisdm_adapted_int8_acc": _pooled(counts["lowrank_int8"]),
        "wisdm_users_mean": {key: float(np.mean([u[key] for u in per_user])) for key in counts},
        "wisdm_test_users": len(per_user),
        "wisdm_test_rows": sum(n for _, n in counts["fleet"]),
        "adapter_param_share": lowrank_run.trainable_parameters / total,
        "adapter_train_mem_ratio": float(max(memory)),
        "adapter_train_peak_ratio": _peak_bytes(fleet, first, best["lowrank"])
        / _peak_bytes(fleet, first, best["full"]),
        "adapter_bytes": lowrank_run.adapter.artifact.size_bytes() if lowrank_run.adapter else 0,
        "wisdm_split": {
            "tuning_users": tuning,
            "test_users": [u for group in tests for u in group],
            "shots_per_activity": SHOTS,
            "fleet": "all users outside the scored group",
        },
        "wisdm_chosen": {"fleet_alpha": alpha} | {m: asdict(s) for m, s in best.items()},
        "wisdm_tuning": {
            "fleet": [{"alpha": a, "acc": s} for a, s in fleet_scores.items()],
            "adaptation": [asdict(s) | {"acc": score} for s, score in tuned],
        },
        "wisdm_per_user": per_user,
    }
