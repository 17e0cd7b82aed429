"""The NAB corpus: 58 labelled series, their anomaly windows and probationary periods."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from edgewise._datadir import DATA_ENV, data_dir

__all__ = ["Corpus", "NabFile", "load_corpus", "nab_dir", "probation_rows"]

Timestamps = NDArray[np.datetime64]

PROBATION_FRACTION = 0.15
PROBATION_CAP_ROWS = 5000


def probation_rows(n_rows: int) -> int:
    """Rows at the start of a series that are never scored.

    ``min(floor(0.15 * n), 0.15 * 5000)``, evaluated in floating point exactly as NAB does.

    Examples
    --------
    >>> probation_rows(4032), probation_rows(22695)
    (604, 750)
    """
    return min(
        math.floor(PROBATION_FRACTION * n_rows), int(PROBATION_FRACTION * PROBATION_CAP_ROWS)
    )


@dataclass(frozen=True, eq=False)
class NabFile:
    """One series of the corpus and its labels.

    Parameters
    ----------
    name
        Path relative to NAB's ``data/`` folder, e.g. ``"realKnownCause/nyc_taxi.csv"``.
    timestamps
        ``datetime64[s]`` timestamps, one per row, as in the file (a few NAB series repeat a
        timestamp, and one steps back once).
    values
        The series, ``float64``, one per row.
    windows
        Anomaly windows as inclusive ``(first_row, last_row)`` pairs, sorted and disjoint.
    probation
        Number of leading rows that are not scored, usually :func:`probation_rows` of the length.
    """

    name: str
    timestamps: Timestamps = field(repr=False)
    values: NDArray[np.float64] = field(repr=False)
    windows: tuple[tuple[int, int], ...]
    probation: int

    def __post_init__(self) -> None:
        n = len(self.timestamps)
        if len(self.values) != n:
            raise ValueError(f"{self.name}: {n} timestamps but {len(self.values)} values")
        previous_end = -1
        for start, end in self.windows:
            if not previous_end < start <= end < n:
                raise ValueError(f"{self.name}: window {(start, end)} is unsorted or out of range")
            previous_end = end

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def group(self) -> str:
        """The corpus folder the series belongs to, e.g. ``"realKnownCause"``."""
        return self.name.split("/", 1)[0]

    @property
    def labels(self) -> NDArray[np.bool_]:
        """``True`` on rows inside an anomaly window."""
        inside = np.zeros(len(self), dtype=np.bool_)
        for start, end in self.windows:
            inside[start : end + 1] = True
        return inside


@dataclass(frozen=True, eq=False)
class Corpus:
    """An ordered collection of :class:`NabFile` with unique names; scoring covers all of them."""

    files: tuple[NabFile, ...]

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.files):
            raise ValueError("file names in a corpus must be unique")

    def __iter__(self) -> Iterator[NabFile]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, name: str) -> NabFile:
        for file in self.files:
            if file.name == name:
                return file
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        """The file names, in corpus order."""
        return tuple(file.name for file in self.files)

    @property
    def n_windows(self) -> int:
        """The number of anomaly windows over all files."""
        return sum(len(file.windows) for file in self.files)

    def subset(self, names: Iterable[str]) -> Corpus:
        """The files named in ``names``, in corpus order; unknown names raise ``KeyError``."""
        wanted = set(names)
        unknown = wanted.difference(self.names)
        if unknown:
            raise KeyError(f"not in the corpus: {sorted(unknown)}")
        return Corpus(tuple(file for file in self.files if file.name in wanted))


def nab_dir(data: Path | None = None) -> Path:
    """The NAB folder, holding ``data/``, ``labels/`` and ``config/``.

    ``data`` when given (the NAB folder itself, or a datasets folder holding ``NAB/``, as the other
    benchmarks take), else ``NAB/`` in the datasets folder (``edgewise._datadir.data_dir``).

    Raises
    ------
    FileNotFoundError
        When the folder does not hold ``labels/combined_windows.json``.
    """
    if data is None:
        root = data_dir() / "NAB"
    elif (data / "NAB" / "labels").is_dir():
        root = data / "NAB"
    else:
        root = data
    if not (root / "labels" / "combined_windows.json").is_file():
        raise FileNotFoundError(
            f"no NAB corpus at {root} (labels/combined_windows.json missing); the datasets folder"
            f" comes from {DATA_ENV} and its NAB/ holds a copy of numenta/NAB's data/, labels/,"
            " config/ and results/"
        )
    return root


def read_columns(path: Path, names: Sequence[str]) -> list[list[str]]:
    """The named columns of a CSV file with a header row, as lists of strings."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        missing = [name for name in names if name not in header]
        if missing:
            raise ValueError(f"{path}: no column {missing} in header {header}")
        positions = [header.index(name) for name in names]
        rows = list(reader)
    return [[row[j] for row in rows] for j in positions]


def parse_timestamps(texts: Sequence[str]) -> Timestamps:
    """NAB timestamps (``YYYY-mm-dd HH:MM:SS[.ffffff]``) as ``datetime64[s]``."""
    return np.asarray(texts, dtype="datetime64[us]").astype("datetime64[s]")


def _row_of(name: str, timestamps: Timestamps, text: str) -> int:
    # Window limits sit on existing timestamps; like NAB, take a repeated one's first row.
    rows = np.flatnonzero(timestamps == parse_timestamps([text])[0])
    if not rows.size:
        raise ValueError(f"{name}: window limit {text} is not one of the series' timestamps")
    return int(rows[0])


def _load_file(root: Path, name: str, limits: Sequence[Sequence[str]]) -> NabFile:
    times, values = read_columns(root / "data" / name, ("timestamp", "value"))
    timestamps = parse_timestamps(times)
    windows = tuple((_row_of(name, timestamps, a), _row_of(name, timestamps, b)) for a, b in limits)
    return NabFile(
        name=name,
        timestamps=timestamps,
        values=np.asarray(values, dtype=np.float64),
        windows=windows,
        probation=probation_rows(len(timestamps)),
    )


def load_corpus(data: Path | None = None) -> Corpus:
    """Load the NAB corpus: every file listed in ``labels/combined_windows.json``, sorted by name.

    Parameters
    ----------
    data
        The NAB folder; by default ``NAB/`` in the datasets folder (see :func:`nab_dir`).
    """
    root = nab_dir(data)
    with (root / "labels" / "combined_windows.json").open() as handle:
        labels: dict[str, list[list[str]]] = json.load(handle)
    return Corpus(tuple(_load_file(root, name, labels[name]) for name in sorted(labels)))
