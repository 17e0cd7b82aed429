"""NAB's results layout: ``<dir>/<detector>/<group>/<detector>_<file>.csv``, one file per series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ._corpus import Corpus, NabFile, parse_timestamps, read_columns
from ._scoring import Scores, file_scores, lookup

__all__ = ["read_results", "results_path", "write_results"]


def results_path(results_dir: Path, detector: str, file: NabFile) -> Path:
    """Where NAB keeps ``detector``'s results for ``file`` under ``results_dir``."""
    group, base = file.name.split("/", 1)
    return results_dir / detector / group / f"{detector}_{base}"


def write_results(results_dir: Path, detector: str, corpus: Corpus, scores: Scores) -> None:
    """Write ``detector``'s anomaly scores in NAB's results layout.

    Columns are ``timestamp,value,anomaly_score,label`` (``label`` is 1 inside a window); floats are
    written with the shortest representation that reads back to the same value.
    """
    for file in corpus:
        anomaly = file_scores(file, lookup(file, scores))
        times = np.datetime_as_string(file.timestamps, unit="s")
        lines = [
            f"{t.replace('T', ' ')},{v!r},{s!r},{int(label)}"
            for t, v, s, label in zip(
                times.tolist(),
                file.values.tolist(),
                anomaly.tolist(),
                file.labels.tolist(),
                strict=True,
            )
        ]
        path = results_path(results_dir, detector, file)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(["timestamp,value,anomaly_score,label", *lines]) + "\n")


def read_results(
    results_dir: Path, detector: str, corpus: Corpus
) -> dict[str, NDArray[np.float64]]:
    """Read ``detector``'s anomaly scores for every file of ``corpus`` from NAB's results layout.

    Extra columns (NAB's published files carry ``S(t)_<profile>`` columns) are ignored.

    Raises
    ------
    ValueError
        When a results file's timestamps are not those of its series.
    """
    scores: dict[str, NDArray[np.float64]] = {}
    for file in corpus:
        path = results_path(results_dir, detector, file)
        times, anomaly = read_columns(path, ("timestamp", "anomaly_score"))
        timestamps = parse_timestamps(times)
        if timestamps.shape != file.timestamps.shape or np.any(timestamps != file.timestamps):
            raise ValueError(f"{path}: timestamps differ from those of {file.name}")
        scores[file.name] = np.asarray(anomaly, dtype=np.float64)
    return scores
