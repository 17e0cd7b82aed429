"""Run a registered detector over the NAB corpus and score it under every profile."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...stream import Detector, create, parameters, registry
from ._corpus import Corpus, load_corpus
from ._halves import HALVES
from ._profiles import PROFILE_NAMES, load_profiles
from ._results import write_results
from ._scoring import score_corpus, score_detections
from ._threshold import optimize_threshold

__all__ = ["run_nab"]


def _scores(
    corpus: Corpus,
    scores: Mapping[str, NDArray[np.float64]],
    decisions: Mapping[str, Mapping[str, NDArray[np.bool_]]],
    data: Path | None,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Normalised scores at the given (else the optimised) thresholds, and of the detector's own
    decisions: its alarms (``scores_own_threshold``) and its abnormal rows (``scores_is_anomaly``).
    """
    profiles = load_profiles(data)
    if thresholds is None:
        best = {name: optimize_threshold(corpus, scores, profiles[name]) for name in PROFILE_NAMES}
        thresholds = {name: best[name].threshold for name in PROFILE_NAMES}
    return {
        "scores": {
            name: score_corpus(corpus, scores, profiles[name], thresholds[name]).normalised
            for name in PROFILE_NAMES
        },
        "thresholds": dict(thresholds),
        **{
            key: {
                name: score_detections(corpus, flags, profiles[name]).normalised
                for name in PROFILE_NAMES
            }
            for key, flags in decisions.items()
        },
    }


def run_nab(
    *,
    detector: str = "default",
    params: Mapping[str, Any] | None = None,
    data: Path | None = None,
    results_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Stream every NAB file through a fresh ``detector`` and score it, as NAB does.

    Each file's values go through a new instance of the registered detector as readings
    ``{"value": v}`` (its batch path, equal to the per-reading one), with no label and no
    knowledge of the file's length. The anomaly scores are scored at the threshold that is best
    over the corpus, and the detector's own decisions as they are: its alarms (the first reading
    of each episode, ``scores_own_threshold``) and its abnormal rows (``scores_is_anomaly``).
    Under ``halves`` (:data:`HALVES`), half A is scored at its own best thresholds and half B,
    held out, at half A's.

    Parameters
    ----------
    detector
        Registered name of the detector.
    params
        Its parameters; one configuration for the whole corpus. The report's ``params`` holds
        every parameter in effect, defaults included.
    data
        The NAB folder (by default ``NAB/`` in the datasets folder).
    results_dir
        When given, the scores are also written there in NAB's results layout.
    progress
        Called with ``(files done, files in all)`` after each file.

    Returns
    -------
    dict
        ``detector``, ``params``, ``scores`` / ``thresholds`` / ``scores_own_threshold`` /
        ``scores_is_anomaly`` by profile, the same per half under ``halves``, ``files`` and
        ``seconds``; JSON-ready.
    """
    start = time.perf_counter()
    corpus = load_corpus(data)
    scores: dict[str, NDArray[np.float64]] = {}
    alarms: dict[str, NDArray[np.bool_]] = {}
    abnormal: dict[str, NDArray[np.bool_]] = {}
    for done, file in enumerate(corpus, start=1):
        step = create(detector, params)
        if not isinstance(step, Detector):
            raise TypeError(f"step {detector!r} is not a detector")
        found = step.detect_many(file.values[:, None], ["value"])
        scores[file.name] = found.scores
        alarms[file.name] = found.alarm
        abnormal[file.name] = found.is_anomaly
        if progress is not None:
            progress(done, len(corpus))
    if results_dir is not None:
        write_results(results_dir, detector, corpus, scores)
    effective = {p.name: p.default for p in parameters(registry()[detector])}
    effective.update(params or {})
    report: dict[str, Any] = {"detector": detector, "params": effective}
    decisions = {"scores_own_threshold": alarms, "scores_is_anomaly": abnormal}
    report.update(_scores(corpus, scores, decisions, data))
    # Tune on half A only; half B is scored at A's thresholds, as a held-out set.
    tuned = _scores(corpus.subset(HALVES["A"]), scores, decisions, data)
    held_out = _scores(corpus.subset(HALVES["B"]), scores, decisions, data, tuned["thresholds"])
    report["halves"] = {"A": tuned, "B": held_out}
    report["files"] = len(corpus)
    report["seconds"] = time.perf_counter() - start
    return report
