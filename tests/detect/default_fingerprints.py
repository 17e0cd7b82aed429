"""Fingerprints of the default detector on NAB: SHA-256 of the exact bytes it outputs, per file.

Equal hashes mean equal bytes (``np.array_equal`` down to the last bit), so a refactoring of the
kernel that keeps every fingerprint keeps the behaviour. Regenerate the fixture only when a change
of behaviour is intended, and say so in the commit::

    PYTHONPATH=src python tests/detect/default_fingerprints.py

The ``nab`` part runs every file as ``edgewise.bench.nab.run_nab`` does (a fresh detector per file,
``detect_many`` on one column named ``value``). The other parts run a few files through the paths
and parameters the defaults leave out: other parameter sets, and a detector commissioned on the
first half of a file (the kernel's LEARN mode), then scoring (SCORE) and detecting (DETECT) the
second half.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgewise.bench.nab import Corpus, load_corpus
from edgewise.detect.default import DefaultDetector
from edgewise.stream import Verdicts

FIXTURE = Path(__file__).with_name("default_fingerprints.json")
# A short file, a seasonal one (its anomaly is found by the seasonal view), the longest one and a
# spiky one.
FILES = (
    "realKnownCause/rogue_agent_key_hold.csv",
    "artificialWithAnomaly/art_daily_nojump.csv",
    "realKnownCause/machine_temperature_system_failure.csv",
    "realTweets/Twitter_volume_AAPL.csv",
)
# Parameter sets beyond the defaults: no seasonal view; learning anomalies with no excluded
# windows; small blocks, windows and memory (the memory fills and wraps).
VARIANTS: tuple[dict[str, Any], ...] = (
    {"season_lags": 0},
    {"learn_anomalies": True, "exclude": 0, "level_window": 5},
    {"warmup": 50, "block": 2, "window": 4, "memory": 50, "recover": 10, "season_lags": 20},
)

Fingerprint = dict[str, int | str]


def sha256(array: NDArray[Any]) -> str:
    """SHA-256 of an array's bytes."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def fingerprint(found: Verdicts) -> Fingerprint:
    """Rows, and the hashes of the scores, the flags and the flags' explanations."""
    explained = [(e.expected, e.deviation) for e in found.explanations if e is not None]
    return {
        "rows": len(found.scores),
        "scores": sha256(np.asarray(found.scores, dtype=np.float64)),
        "is_anomaly": sha256(found.is_anomaly),
        "explanations": sha256(np.array(explained, dtype=np.float64)),
    }


def detect(values: NDArray[np.float64], **params: Any) -> Verdicts:
    """A fresh detector over one file's values, as the NAB runner runs it."""
    return DefaultDetector(**params).detect_many(values[:, None], ["value"])


def commissioned(values: NDArray[np.float64]) -> dict[str, Fingerprint | str]:
    """Learn the first half, then score the second half and detect on it."""
    half = len(values) // 2
    detector = DefaultDetector().commission(values[:half, None], ["value"])
    scores = detector.score_many(values[half:, None], ["value"])
    found = detector.detect_many(values[half:, None], ["value"])
    return {"score_many": sha256(scores), "detect_many": fingerprint(found)}


def variant_key(params: dict[str, Any]) -> str:
    """A parameter set as part of the fixture's key (after the file name)."""
    return json.dumps(params, sort_keys=True)


# Each part of the fixture, computed from the corpus.
PARTS: dict[str, Callable[[Corpus], dict[str, Any]]] = {
    "nab": lambda corpus: {file.name: fingerprint(detect(file.values)) for file in corpus},
    "variants": lambda corpus: {
        f"{name} {variant_key(params)}": fingerprint(detect(corpus[name].values, **params))
        for name in FILES
        for params in VARIANTS
    },
    "commissioned": lambda corpus: {name: commissioned(corpus[name].values) for name in FILES},
}


if __name__ == "__main__":
    corpus = load_corpus()
    fixture = {part: compute(corpus) for part, compute in PARTS.items()}
    FIXTURE.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}")
