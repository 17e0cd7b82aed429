"""Scoring anomaly scores at a fixed threshold, per file and over a corpus, raw and normalised."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._corpus import Corpus, NabFile
from ._profiles import Profile
from ._rules import row_rewards

__all__ = [
    "CorpusScore",
    "FileScore",
    "Scores",
    "score_corpus",
    "score_detections",
    "score_file",
    "scored_windows",
]

Scores = Mapping[str, ArrayLike]
"""Anomaly scores per file name, one per row of the file (``nan`` never detects)."""


@dataclass(frozen=True, slots=True)
class FileScore:
    """The score of one file.

    Parameters
    ----------
    name
        The file's name in the corpus.
    raw
        Sum of true-positive rewards, false-positive costs and missed-window costs.
    detected
        Windows with at least one detection.
    missed
        Windows without a detection.
    false_positives
        Detections outside every window (after the probationary period).
    """

    name: str
    raw: float
    detected: int
    missed: int
    false_positives: int


@dataclass(frozen=True, slots=True)
class CorpusScore:
    """The score of a corpus under one profile and threshold.

    Parameters
    ----------
    profile
        The cost profile used.
    threshold
        Scores at or above it were detections.
    raw
        Sum of the files' raw scores.
    null
        Raw score of a detector that never fires: ``-fn_weight`` per window.
    perfect
        Raw score of a detector that fires on each window's first row only: ``tp_weight`` per
        window (as NAB normalises).
    files
        The per-file scores, in corpus order.
    """

    profile: Profile
    threshold: float
    raw: float
    null: float
    perfect: float
    files: tuple[FileScore, ...]

    @property
    def normalised(self) -> float:
        """``100 * (raw - null) / (perfect - null)``: 0 when never firing, 100 when perfect.

        Raises
        ------
        ValueError
            When the corpus has no window to normalise by.
        """
        if self.perfect == self.null:
            raise ValueError("the corpus has no anomaly window: the normalised score is undefined")
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def scored_windows(file: NabFile) -> tuple[tuple[int, int], ...]:
    """The windows that count: those reaching past the probationary period."""
    return tuple(window for window in file.windows if window[1] >= file.probation)


def lookup(file: NabFile, per_file: Mapping[str, ArrayLike]) -> ArrayLike:
    """The entry of ``file`` in a mapping by file name, with a clear error when it is missing."""
    try:
        return per_file[file.name]
    except KeyError:
        raise KeyError(f"no entry for {file.name}") from None


def file_scores(file: NabFile, scores: ArrayLike) -> NDArray[np.float64]:
    """``scores`` as ``float64``, checked to hold one value per row of ``file``."""
    values = np.asarray(scores, dtype=np.float64)
    if values.shape != (len(file),):
        raise ValueError(f"{file.name}: {len(file)} rows but scores of shape {values.shape}")
    return values


def score_file(file: NabFile, scores: ArrayLike, profile: Profile, threshold: float) -> FileScore:
    """Score one file: rows with ``scores >= threshold`` after the probationary period detect.

    Only the first detection in a window earns its reward; a window without one costs
    ``fn_weight``; every detection outside the windows costs its false-positive cost.
    """
    rewards = row_rewards(file, profile)
    fires = file_scores(file, scores) >= threshold
    fires[: file.probation] = False
    false_alarms = fires & ~file.labels
    raw = float(rewards[false_alarms].sum())
    detected = missed = 0
    for start, end in scored_windows(file):
        hits = np.flatnonzero(fires[start : end + 1])
        if hits.size:
            raw += float(rewards[start + hits[0]])
            detected += 1
        else:
            raw -= profile.fn_weight
            missed += 1
    return FileScore(file.name, raw, detected, missed, int(false_alarms.sum()))


def score_corpus(corpus: Corpus, scores: Scores, profile: Profile, threshold: float) -> CorpusScore:
    """Score every file of ``corpus`` at one threshold; normalisation is over this corpus only.

    Parameters
    ----------
    corpus
        The files to score (e.g. ``corpus.subset(HALVES["A"])``).
    scores
        Anomaly scores of every file in ``corpus``, by name; other entries are ignored.
    profile
        The cost profile.
    threshold
        Scores at or above it are detections.
    """
    files = tuple(score_file(f, lookup(f, scores), profile, threshold) for f in corpus)
    n_windows = sum(len(scored_windows(f)) for f in corpus)
    return CorpusScore(
        profile=profile,
        threshold=threshold,
        raw=sum(f.raw for f in files),
        null=-profile.fn_weight * n_windows,
        perfect=profile.tp_weight * n_windows,
        files=files,
    )


def score_detections(
    corpus: Corpus, detections: Mapping[str, ArrayLike], profile: Profile
) -> CorpusScore:
    """Score a detector's own yes/no decisions (e.g. its ``is_anomaly``), one per row."""
    as_scores = {
        f.name: np.asarray(lookup(f, detections), dtype=np.bool_).astype(np.float64) for f in corpus
    }
    return score_corpus(corpus, as_scores, profile, threshold=0.5)
