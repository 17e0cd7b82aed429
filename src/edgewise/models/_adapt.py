"""On-device adaptation in numpy: a frozen float MLP adapted to a few labelled rows by low-rank
adapters, by fine-tuning its last layer, or by fine-tuning all of it (full-batch Adam, softmax
cross-entropy), with the training memory each method needs.

Training memory is counted, not sampled: the trainable tensors four times (values, gradients,
Adam's two moments) plus the activations kept for the backward pass. Frozen weights are not
counted: they are read-only (flash on a microcontroller) and inference needs them anyway; full
fine-tuning needs writable copies of all of them, which is its cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ._artifact import Artifact
from ._lowrank import Adapter
from ._runtime import Model

__all__ = ["Adaptation", "Method", "adapt", "adapter_parameters"]

Method = Literal["lowrank", "last", "full"]
_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


@dataclass(frozen=True)
class Adaptation:
    """An adapted model, its adapter (method ``lowrank``) and what the training held."""

    model: Model
    adapter: Adapter | None
    trainable_parameters: int
    train_memory_bytes: int


def adapter_parameters(model: Model, *, rank: int) -> int:
    """Parameters of a rank-``rank`` adapter on every dense layer of ``model``."""
    sizes = [model.artifact.tensors[f"layer{i}.weight"].shape for i in range(len(model.layers))]
    return sum(rank * (rows + cols) for rows, cols in sizes)


def adapt(
    model: Model,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    method: Method,
    lr: float,
    epochs: int,
    rank: int = 1,
    seed: int = 0,
) -> Adaptation:
    """Adapt the float ``model`` to rows ``x`` (its inputs) labelled ``y`` (class indices).

    ``lowrank``: ``W + A @ B`` on every dense layer, ``A`` random, ``B`` zero at the start (so
    training starts from the base model); ``last``: the last layer's weights and bias;
    ``full``: every weight and bias.

    >>> rng = np.random.default_rng(0)
    >>> from edgewise.models import fit_feature_mlp
    >>> x = np.concatenate([rng.normal(0, 1, (40, 4)), rng.normal(2, 1, (40, 4))])
    >>> y = np.repeat([0, 1], 40)
    >>> base = fit_feature_mlp(x, y, classes=["a", "b"], features=list("fghi"), hidden=[8, 8],
    ...                        alpha=1e-3, seed=0)
    >>> moved = x + 1.5  # a new device sees shifted features
    >>> tuned = adapt(base, moved[::4], y[::4], method="lowrank", lr=1e-2, epochs=200)
    >>> bool(np.mean(tuned.model.predict(moved) == y) > np.mean(base.predict(moved) == y))
    True
    >>> tuned.trainable_parameters, tuned.adapter.rank
    (38, 1)
    """
    if model.precision != "float32" or model.adapter is not None:
        raise ValueError(
            "adaptation trains on a bare float model (apply the adapter to int8 later)"
        )
    labels = np.asarray(y, dtype=np.int64)
    h = model.network_input(x)
    tensors = model.artifact.tensors
    weights = [tensors[f"layer{i}.weight"] for i in range(len(model.layers))]
    biases = [tensors[f"layer{i}.bias"] for i in range(len(model.layers))]
    last = len(weights) - 1
    params = _initial(method, weights, biases, rank, seed)
    first = last if method == "last" else 0
    for i in range(first):  # frozen layers below the trained ones run once
        h = np.maximum(h @ weights[i] + biases[i], np.float32(0))
    target = np.eye(len(model.classes), dtype=np.float32)[labels]
    moments = {name: (np.zeros_like(p), np.zeros_like(p)) for name, p in params.items()}
    kept = 0
    for step in range(1, epochs + 1):
        grads, kept = _gradients(params, weights, biases, h, target, first)
        for name, grad in grads.items():
            m, v = moments[name]
            m[:] = _BETA1 * m + (1 - _BETA1) * grad
            v[:] = _BETA2 * v + (1 - _BETA2) * grad**2
            m_hat, v_hat = m / (1 - _BETA1**step), v / (1 - _BETA2**step)
            params[name] -= np.float32(lr) * m_hat / (np.sqrt(v_hat) + np.float32(_EPS))
    trainable = sum(int(p.size) for p in params.values())
    memory = 4 * sum(int(p.nbytes) for p in params.values()) + kept
    training = {"method": method, "lr": lr, "epochs": epochs, "rows": len(labels)}
    if method == "lowrank":
        adapter = Adapter.from_tensors(
            params,
            rank=rank,
            scale=1.0,
            base=model.fingerprint(),
            training={**training, "seed": seed},
        )
        return Adaptation(model.with_adapter(adapter), adapter, trainable, memory)
    manifest = {**model.artifact.manifest, "adaptation": training}
    tuned = Model(Artifact(manifest=manifest, tensors={**tensors, **params}))
    return Adaptation(tuned, None, trainable, memory)


def _initial(
    method: Method,
    weights: list[npt.NDArray[np.float32]],
    biases: list[npt.NDArray[np.float32]],
    rank: int,
    seed: int,
) -> dict[str, npt.NDArray[np.float32]]:
    if method == "lowrank":
        rng = np.random.default_rng(seed)
        params = {}
        for i, w in enumerate(weights):
            scale = 1 / np.sqrt(w.shape[0])
            params[f"layer{i}.a"] = (rng.normal(size=(w.shape[0], rank)) * scale).astype(np.float32)
            params[f"layer{i}.b"] = np.zeros((rank, w.shape[1]), dtype=np.float32)
        return params
    if method not in ("last", "full"):
        raise ValueError(f"unknown adaptation method {method!r} (lowrank, last or full)")
    layers = [len(weights) - 1] if method == "last" else range(len(weights))
    return {
        name: tensor.copy()
        for i in layers
        for name, tensor in ((f"layer{i}.weight", weights[i]), (f"layer{i}.bias", biases[i]))
    }


def _gradients(
    params: dict[str, npt.NDArray[np.float32]],
    weights: list[npt.NDArray[np.float32]],
    biases: list[npt.NDArray[np.float32]],
    h: npt.NDArray[np.float32],
    target: npt.NDArray[np.float32],
    first: int,
) -> tuple[dict[str, npt.NDArray[np.float32]], int]:
    """Cross-entropy gradients of the trainable tensors, and the bytes of activations kept."""
    inputs, low = [h], {}
    for i in range(first, len(weights)):
        w = params.get(f"layer{i}.weight", weights[i])
        z = inputs[-1] @ w + params.get(f"layer{i}.bias", biases[i])
        if f"layer{i}.a" in params:
            low[i] = inputs[-1] @ params[f"layer{i}.a"]
            z = z + low[i] @ params[f"layer{i}.b"]
        if i < len(weights) - 1:
            inputs.append(np.maximum(z, np.float32(0)))
    z = z - z.max(axis=1, keepdims=True)
    prob = np.exp(z)
    delta = (prob / prob.sum(axis=1, keepdims=True) - target) / np.float32(len(target))
    kept: list[npt.NDArray[Any]] = [*inputs, *low.values(), delta]
    grads = {}
    for i in reversed(range(first, len(weights))):
        x = inputs[i - first]
        w = params.get(f"layer{i}.weight", weights[i])
        if f"layer{i}.weight" in params:
            grads[f"layer{i}.weight"] = x.T @ delta
            grads[f"layer{i}.bias"] = delta.sum(axis=0)
        back = delta @ w.T if i > first else None
        if f"layer{i}.a" in params:
            a, b = params[f"layer{i}.a"], params[f"layer{i}.b"]
            through_b = delta @ b.T
            grads[f"layer{i}.a"] = x.T @ through_b
            grads[f"layer{i}.b"] = low[i].T @ delta
            if back is not None:
                back = back + through_b @ a.T
        if back is not None:
            delta = back * (x > 0)
    return grads, sum(int(t.nbytes) for t in kept)
