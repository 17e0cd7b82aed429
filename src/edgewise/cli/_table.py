"""Reading a CSV of readings for the command line: columns found, every cell checked, vectorised.

Every cell is read as text, so errors can quote it and name the line of the file it is on (the
header is line 1). Empty and ``NA``-like cells are missing values, not errors: they are imputed
later.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.tseries.api import guess_datetime_format

from edgewise.stream import Array

from ._common import InputError

__all__ = ["Table", "read_table"]

# A numeric column by one of these names (in any case) holds times, whatever their unit.
_TIME_NAMES = frozenset({"time", "timestamp", "ts", "date", "datetime", "epoch"})
# Epoch seconds of 2000-01-01 and of 2100-01-01 UTC: a number between them (or between a
# thousand times them) is taken for a time in seconds (milliseconds) in an unnamed column.
_EPOCH_2000, _EPOCH_2100 = 946_684_800, 4_102_444_800


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


def _row_lines(text: str, sep: str) -> Iterator[int]:
    """The line each row starts on (the header is line 1 and row -1), as pandas reads rows.

    pandas skips blank lines and reads a quoted field across line breaks; the csv module reads the
    same quoting and counts the lines it consumed.
    """
    lines = io.StringIO(text, newline="")  # \n, \r\n and \r end a line, as for pandas
    rows = csv.reader(lines, delimiter=sep, skipinitialspace=True)
    start, end = 1, 0
    for _ in rows:
        begin, end = end, lines.tell()
        if rows.line_num > start or text[begin:end].strip(" \t\r\n"):  # not a blank line
            yield start
        start = rows.line_num + 1


@dataclass(frozen=True, slots=True)
class _Source:
    """A CSV file read whole (and its name in messages), so that errors can name their line."""

    name: str
    data: bytes
    encoding: str
    sep: str

    def cell_error(self, row: int, column: str, message: str) -> InputError:
        """An error about the cell of data row ``row`` (from 0) in ``column``."""
        lines = _row_lines(self.data.decode(self.encoding), self.sep)
        line = next(islice(lines, row + 1, None))  # after the header
        return InputError(f"{self.name}: line {line}, column {column!r}: {message}")


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


def _load(source: str, sep: str, encoding: str) -> _Source:
    name = "stdin" if source == "-" else source
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as error:
        raise InputError(f"{name}: {error.strerror or error}") from None
    try:
        data.decode(encoding)  # here rather than in pandas, which cannot say on which line
    except UnicodeDecodeError as error:
        before = data[: error.start].decode(encoding, errors="replace")
        line = before.count("\n") + before.count("\r") - before.count("\r\n") + 1
        raise InputError(
            f"{name}: line {line} is not {encoding} text (byte {data[error.start]:#04x}); "
            "name the file's encoding with --encoding, such as latin-1 or cp1252"
        ) from None
    return _Source(name, data, encoding, sep)


def _read(source: _Source, decimal: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            io.BytesIO(source.data),
            encoding=source.encoding,
            sep=source.sep,
            decimal=decimal,
            dtype=str,
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        raise InputError(f"{source.name}: empty, not even a header line") from None
    except (pd.errors.ParserError, ValueError) as error:
        raise InputError(f"{source.name}: {' '.join(str(error).split())}") from None
    frame.columns = pd.Index([str(c).strip() for c in frame.columns])
    if frame.empty:
        raise InputError(f"{source.name}: no data rows")
    return frame


def _column(frame: pd.DataFrame, source: str, name: str) -> pd.Series:
    if name not in frame.columns:
        raise InputError(
            f"{source}: no column {name!r}; it has: {', '.join(map(str, frame.columns))}"
        )
    column: pd.Series = frame[name]
    return column


def _time_rank(name: str, first: str) -> int | None:
    """How surely a column holds times, from its name and first value (0 is surest; None: not)."""
    number = _number(first, ".")
    if number is None:
        return None if _time_format(first) is None else 0
    if name.lower() in _TIME_NAMES:
        return 1
    epoch = any(_EPOCH_2000 <= number / unit < _EPOCH_2100 for unit in (1, 1000))
    return 2 if epoch else None


def _find_timestamp(frame: pd.DataFrame, source: str, skip: set[str]) -> str:
    """The first column of text times, else of numbers named like times, else of epoch numbers."""
    found: dict[int, str] = {}
    for name in frame.columns:
        first = _first(frame[name])
        if name not in skip and first is not None:
            rank = _time_rank(str(name), first)
            if rank is not None:
                found.setdefault(rank, str(name))
    if not found:
        raise InputError(f"{source}: no column parses as a time; name it with --timestamp")
    return found[min(found)]


def _epoch_seconds(source: _Source, name: str, column: pd.Series) -> tuple[Array, bool]:
    """Every cell of ``column`` as epoch seconds (all times, or all numbers: epoch times), and
    whether they were written as numbers."""
    first = _first(column) or ""
    fmt = _time_format(first)
    numeric = fmt is None and _number(first, ".") is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if numeric:
            seconds = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
            if float(first) >= _EPOCH_2100 and _EPOCH_2000 <= float(first) / 1000 < _EPOCH_2100:
                seconds = seconds / 1000.0  # epoch milliseconds
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
        raise source.cell_error(row, name, what)
    return seconds, numeric


def _numbers(source: _Source, name: str, column: pd.Series, decimal: str) -> Array:
    text = column if decimal == "." else column.str.replace(decimal, ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = (np.isnan(numbers) & column.notna().to_numpy()) | np.isinf(numbers)
    if bad.any():
        row = int(np.argmax(bad))
        cell = column.iloc[row]
        what = "a finite number" if math.isinf(numbers[row]) else "a number"
        raise source.cell_error(row, name, f"{cell!r} is not {what}")
    return numbers


def read_table(
    source: str,
    *,
    sep: str = ",",
    decimal: str = ".",
    encoding: str = "utf-8",
    timestamp: str | None = None,
    columns: Sequence[str] | None = None,
    stream: str | None = None,
) -> Table:
    """Read and check a CSV of readings; ``source`` is a path or ``-`` for stdin.

    The timestamp column defaults to the first column of text times, else the first numeric column
    named like a time (``_TIME_NAMES``), else the first whose first value is epoch seconds or
    milliseconds of the years 2000 to 2100; the value columns to every other column whose first
    value is a number.
    """
    file = _load(source, sep, encoding)
    frame = _read(file, decimal)
    name = file.name
    streams = None
    if stream is not None:
        ids = _column(frame, name, stream)
        if ids.isna().any():
            raise file.cell_error(int(np.argmax(ids.isna().to_numpy())), stream, "no stream id")
        streams = ids.to_numpy(dtype=object)
    skip = {stream} if stream else set()
    timestamp = timestamp or _find_timestamp(frame, name, skip | set(columns or ()))
    times = _column(frame, name, timestamp)
    epoch, numeric_times = _epoch_seconds(file, timestamp, times)
    if columns is None:
        columns = [
            str(c)
            for c in frame.columns
            if c not in skip | {timestamp} and _number(_first(frame[c]) or "", decimal) is not None
        ]
        if not columns:
            raise InputError(f"{name}: no numeric column besides the timestamp {timestamp!r}")
    values = np.column_stack([_numbers(file, c, _column(frame, name, c), decimal) for c in columns])
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
