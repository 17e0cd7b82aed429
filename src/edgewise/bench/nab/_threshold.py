"""The corpus-wide threshold that maximises a detector's score under a profile."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from ._corpus import Corpus, NabFile
from ._profiles import Profile
from ._rules import row_rewards
from ._scoring import Scores, file_scores, lookup, score_corpus, scored_windows

__all__ = ["ThresholdChoice", "optimize_threshold"]

_Events = tuple[NDArray[np.float64], NDArray[np.float64]]


class ThresholdChoice(NamedTuple):
    """The best threshold and the normalised score it earns."""

    threshold: float
    score: float


def _score_changes(file: NabFile, scores: NDArray[np.float64], profile: Profile) -> _Events:
    """Each scored row's anomaly score and what lowering the threshold to it adds to the raw score.

    A false positive adds its cost. In a window, a row adds the amount by which it raises the
    window's best reward so far (the first such row also cancels the ``fn_weight`` of a miss):
    rewards fall along a window, so the best reward among detected rows is the first row's.
    """
    rewards = row_rewards(file, profile)
    outside = ~file.labels
    outside[: file.probation] = False
    parts_scores = [scores[outside]]
    parts_changes = [rewards[outside]]
    for start, end in scored_windows(file):
        rows = slice(max(start, file.probation), end + 1)
        order = np.argsort(-scores[rows], kind="stable")
        best = np.maximum.accumulate(rewards[rows][order])
        parts_scores.append(scores[rows][order])
        parts_changes.append(np.diff(best, prepend=-profile.fn_weight))
    return np.concatenate(parts_scores), np.concatenate(parts_changes)


def optimize_threshold(corpus: Corpus, scores: Scores, profile: Profile) -> ThresholdChoice:
    """The threshold, shared by all files, with the best normalised score over ``corpus``.

    Every distinct anomaly score is a candidate (a detection is ``score >= threshold``): sorting
    all rows once by score and summing the score changes cumulatively gives every candidate's
    score in one pass. Among equal scores the highest threshold wins. When no threshold beats never
    firing, the threshold is ``inf``.

    Parameters
    ----------
    corpus
        The files to optimise over (e.g. ``corpus.subset(HALVES["A"])``).
    scores
        Anomaly scores of every file in ``corpus``, by name; ``nan`` never detects.
    profile
        The cost profile.
    """
    events = [_score_changes(f, file_scores(f, lookup(f, scores)), profile) for f in corpus]
    candidates = np.concatenate([e[0] for e in events])
    changes = np.concatenate([e[1] for e in events])
    keep = ~np.isnan(candidates)
    candidates, changes = candidates[keep], changes[keep]

    order = np.argsort(-candidates, kind="stable")
    candidates = candidates[order]
    gains = np.cumsum(changes[order])
    # A threshold's score includes every row scored at or above it: the last row of its run.
    last_of_run = np.flatnonzero(np.append(candidates[1:] != candidates[:-1], True))
    threshold = math.inf
    if last_of_run.size:
        best = last_of_run[np.argmax(gains[last_of_run])]
        if gains[best] > 0.0:
            threshold = float(candidates[best])
    return ThresholdChoice(threshold, score_corpus(corpus, scores, profile, threshold).normalised)
