"""Reading a CSV of readings for the command line: columns found, every cell checked, vectorised.

Every cell is read as text, so errors can quote it and name its line (the header is line 1). Empty
and ``NA``-like cells are missing values, not errors: they are imputed later.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.tseries.api import guess_datetime_format

from edgewise.stream import Array

from ._common import InputError

__all__ = ["Table", "read_table"]


@dataclass(frozen=True, slots=True)
class Table:
    """A checked CSV: the raw timestamps (echoed in the output) and the same in epoch seconds,
    numeric values, stream ids."""

    source: str
    timestamp: str
    columns: list[str]
    stream: str | None
    times: NDArray[np.object_]
    epoch: Array
    numeric_times: bool
    values: Array
    streams: NDArray[np.object_] | None

    def __len__(self) -> int:
        return len(self.times)


def _cell_error(source: str, row: int, column: str, message: str) -> InputError:
    return InputError(f"{source}: line {row + 2}, column {column!r}: {message}")


def _number(text: str, decimal: str) -> float | None:
    try:
        return float(text.replace(decimal, "."))
    except ValueError:
        return None


def _time_format(text: str) -> str | None:
    """The datetime format ``text`` is written in, or None (numbers are not times here)."""
    if _number(text, ".") is not None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return guess_datetime_format(text)


def _first(column: pd.Series) -> str | None:
    where = column.first_valid_index()
    return None if where is None else str(column[where])


def _read(source: str, sep: str, decimal: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            sys.stdin if source == "-" else source,
            sep=sep,
            decimal=decimal,
            dtype=str,
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        raise InputError(f"{source}: empty, not even a header line") from None
    except OSError as error:
        raise InputError(f"{source}: {error.strerror or error}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"{source}: {' '.join(str(error).split())}") from None
    frame.columns = pd.Index([str(c).strip() for c in frame.columns])
    if frame.empty:
        raise InputError(f"{source}: no data rows")
    return frame


def _column(frame: pd.DataFrame, source: str, name: str) -> pd.Series:
    if name not in frame.columns:
        raise InputError(
            f"{source}: no column {name!r}; it has: {', '.join(map(str, frame.columns))}"
        )
    column: pd.Series = frame[name]
    return column


def _find_timestamp(frame: pd.DataFrame, source: str, skip: set[str]) -> str:
    for name in frame.columns:
        first = _first(frame[name])
        if name not in skip and first is not None and _time_format(first) is not None:
            return str(name)
    raise InputError(f"{source}: no column parses as a time; name it with --timestamp")


def _epoch_seconds(source: str, name: str, column: pd.Series) -> tuple[Array, bool]:
    """Every cell of ``column`` as epoch seconds (all times, or all epoch seconds), and whether
    they were written as numbers."""
    first = _first(column) or ""
    fmt = _time_format(first)
    numeric = fmt is None and _number(first, ".") is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if numeric:
            seconds = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        else:
            times = pd.to_datetime(column, format=fmt or "mixed", errors="coerce", utc=True)
            bad = times.isna().to_numpy()
            if fmt is not None and bad.any():  # same data, another spelling: still a time
                again = pd.to_datetime(column[bad], format="mixed", errors="coerce", utc=True)
                times = times.where(~bad, again)
            nanoseconds = times.to_numpy(dtype="datetime64[ns]").astype(np.int64)
            seconds = np.where(times.isna().to_numpy(), np.nan, nanoseconds / 1e9)
    bad = np.isnan(seconds)
    if bad.any():
        row = int(np.argmax(bad))
        cell = column.iloc[row]
        what = "missing time" if pd.isna(cell) else f"{cell!r} is not a time"
        raise _cell_error(source, row, name, what)
    return seconds, numeric


def _numbers(source: str, name: str, column: pd.Series, decimal: str) -> Array:
    text = column if decimal == "." else column.str.replace(decimal, ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = (np.isnan(numbers) & column.notna().to_numpy()) | np.isinf(numbers)
    if bad.any():
        row = int(np.argmax(bad))
        cell = column.iloc[row]
        what = "a finite number" if math.isinf(numbers[row]) else "a number"
        raise _cell_error(source, row, name, f"{cell!r} is not {what}")
    return numbers


def read_table(
    source: str,
    *,
    sep: str = ",",
    decimal: str = ".",
    timestamp: str | None = None,
    columns: Sequence[str] | None = None,
    stream: str | None = None,
) -> Table:
    """Read and check a CSV of readings; ``source`` is a path or ``-`` for stdin.

    The timestamp column defaults to the first column that parses as a time; the value columns to
    every other column whose first value is a number.
    """
    frame = _read(source, sep, decimal)
    name = "stdin" if source == "-" else source
    streams = None
    if stream is not None:
        ids = _column(frame, name, stream)
        if ids.isna().any():
            raise _cell_error(name, int(np.argmax(ids.isna().to_numpy())), stream, "no stream id")
        streams = ids.to_numpy(dtype=object)
    skip = {stream} if stream else set()
    timestamp = timestamp or _find_timestamp(frame, name, skip)
    times = _column(frame, name, timestamp)
    epoch, numeric_times = _epoch_seconds(name, timestamp, times)
    if columns is None:
        columns = [
            str(c)
            for c in frame.columns
            if c not in skip | {timestamp} and _number(_first(frame[c]) or "", decimal) is not None
        ]
        if not columns:
            raise InputError(f"{name}: no numeric column besides the timestamp {timestamp!r}")
    values = np.column_stack([_numbers(name, c, _column(frame, name, c), decimal) for c in columns])
    return Table(
        name,
        timestamp,
        list(columns),
        stream,
        times.to_numpy(dtype=object),
        epoch,
        numeric_times,
        values,
        streams,
    )
