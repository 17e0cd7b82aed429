"""Helpers for the release tests: tiny models, a repository, and a hub stand-in that serves it
(or an attacker's version of it) through httpx's transport seam."""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from edgewise.agent import HubFetcher, ModelUpdater
from edgewise.models import fit_mlp
from edgewise.releases import Repository

HUB = "https://hub.test"
DEVICE = "pump-1"
WINDOW = 64

Tamper = Callable[[str, bytes], bytes]
"""(path under the repository, its bytes) -> the bytes served instead."""


def tiny_model(path: Path, *, seed: int = 0, **manifest: object) -> Path:
    """A two-class model of 64-sample windows (slow vs fast tones), saved to ``path``."""
    path.write_bytes(_model_bytes(seed, json.dumps(manifest, sort_keys=True)))
    return path


@functools.cache
def _model_bytes(seed: int, manifest: str) -> bytes:
    # Fitted once per seed and process: the fit, not the signing, is what takes time here.
    rng = np.random.default_rng(seed)
    t = np.arange(WINDOW) / WINDOW
    x = np.concatenate(
        [np.sin(2 * np.pi * f * t + rng.uniform(0, 6, (30, 1))) for f in (4, 24)]
    ) + 0.1 * rng.normal(size=(60, WINDOW))
    model = fit_mlp(
        x, np.repeat([0, 1], 30), classes=["slow", "fast"], bands=4, hidden=4, alpha=1e-3, seed=seed
    )
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "model.ewm"
        model.with_manifest(**json.loads(manifest)).save(saved)
        return saved.read_bytes()


def serving(repo: Path, tamper: Tamper | None = None) -> httpx.MockTransport:
    """The hub's release routes over ``repo``: 404 for what is not there, like the hub."""

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for prefix, folder in (
            ("/api/v1/releases/metadata/", "metadata/"),
            ("/api/v1/releases/targets/", "targets/"),
        ):
            if path.startswith(prefix):
                relative = folder + path.removeprefix(prefix)
                break
        else:
            return httpx.Response(404)
        file = repo / relative
        if not file.is_file():
            return httpx.Response(404)
        data = file.read_bytes()
        return httpx.Response(200, content=tamper(relative, data) if tamper else data)

    return httpx.MockTransport(handle)


@dataclass
class Release:
    """A repository with two published models and ``pump-1`` assigned the first."""

    repo: Repository
    offline: Path
    agent_dir: Path
    root: bytes
    first: str
    second: str

    def updater(self, tamper: Tamper | None = None, *, device: str = DEVICE) -> ModelUpdater:
        return ModelUpdater(
            folder=self.agent_dir,
            device=device,
            hub_url=HUB,
            root=self.root,
            fetcher=HubFetcher(token="t", transport=serving(self.repo.folder, tamper)),
        )


def make_release(base: Path, *, targets_keys: int = 1, targets_threshold: int = 1) -> Release:
    offline = base / "offline"
    repo = Repository.create(
        base / "repo",
        offline_keys=offline,
        targets_keys=targets_keys,
        targets_threshold=targets_threshold,
    )
    first = repo.publish(tiny_model(base / "bearing-1.ewm", seed=0), offline_keys=offline)
    second = repo.publish(tiny_model(base / "bearing-2.ewm", seed=1), offline_keys=offline)
    repo.assign(DEVICE, first)
    root = (repo.metadata / "1.root.json").read_bytes()
    return Release(repo, offline, base / "agent", root, first, second)
