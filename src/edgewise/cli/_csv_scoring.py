"""What ``edgewise detect`` does: impute and score a checked CSV, one model per stream."""

from __future__ import annotations

import os
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from edgewise.impute import LastValue
from edgewise.stream import Array, Detector, Explanation

from ._common import DEFAULT_DETECTOR, InputError, make_detector, progress_bar, say
from ._table import Table, read_table

__all__ = ["score_csv"]

_STATE_FORMAT = "edgewise-detect-state/1"
# Rows per batch call: few enough for a lively progress bar, enough to be fast.
_CHUNK = 65_536


@dataclass
class _Model:
    """Everything learned about one stream: its imputer, its detector, how many rows it has seen."""

    imputer: LastValue
    detector: Detector
    seen: int = 0


@dataclass
class _State:
    """What ``--state`` saves: the detector's configuration and one model per stream."""

    detector: str
    params: dict[str, Any]
    prototype: Detector  # unfitted: each new stream's detector is a clone of it
    columns: list[str]
    stream: str | None
    models: dict[str, _Model] = field(default_factory=dict)
    format: str = _STATE_FORMAT


@dataclass
class _Results:
    scores: Array
    flags: NDArray[np.bool_]
    explanations: list[Explanation | None]
    imputed: int = 0
    left_missing: int = 0


def _groups(table: Table) -> list[tuple[str, NDArray[np.intp]]]:
    """Row indices of each stream, streams in order of first appearance, rows in file order."""
    if table.streams is None:
        return [("", np.arange(len(table)))]
    codes, ids = pd.factorize(table.streams)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes, minlength=len(ids)))[:-1]
    return [(str(i), rows) for i, rows in zip(ids, np.split(order, bounds), strict=True)]


def _load_state(path: Path) -> _State:
    try:
        with path.open("rb") as handle:
            state = pickle.load(handle)  # trusted input: documented in --help
    except Exception as error:  # a truncated or foreign file fails in many ways
        raise InputError(f"{path}: not a readable edgewise state file ({error})") from None
    if not isinstance(state, _State) or state.format != _STATE_FORMAT:
        raise InputError(f"{path}: not an edgewise detect state file")
    return state


def _save_state(path: Path, state: _State) -> None:
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)  # never leave a half-written state behind


def _resume(path: Path, table: Table, detector: str | None, params: list[str]) -> _State:
    state = _load_state(path)
    if state.columns != table.columns or state.stream != table.stream:
        raise InputError(
            f"{path} was saved for columns {state.columns} (stream column {state.stream}); "
            f"this input has {table.columns} (stream column {table.stream})"
        )
    if detector is not None and detector != state.detector:
        raise InputError(f"{path} holds detector {state.detector!r}, not {detector!r}")
    if params and make_detector(state.detector, params)[1] != state.params:
        raise InputError(f"{path} holds {state.detector} with parameters {state.params}")
    return state


def _model(state: _State, key: str) -> _Model:
    if key not in state.models:
        state.models[key] = _Model(LastValue(), state.prototype.clone())
    return state.models[key]


def _commission(state: _State, reference: Table) -> None:
    """Teach each stream's detector the known-normal reference rows of that stream."""
    for key, rows in _groups(reference):
        values = LastValue().learn_transform_many(reference.values[rows], reference.columns)
        _model(state, key).detector.commission(values, reference.columns)


def _score(state: _State, table: Table, warmup: int) -> _Results:
    n = len(table)
    results = _Results(np.empty(n), np.zeros(n, dtype=np.bool_), [None] * n)
    columns = table.columns
    with progress_bar() as progress:
        task = progress.add_task("scoring", total=n)
        for key, rows in _groups(table):
            model = _model(state, key)
            raw = table.values[rows]
            values = model.imputer.learn_transform_many(raw, columns)
            results.imputed += int((np.isnan(raw) & ~np.isnan(values)).sum())
            results.left_missing += int(np.isnan(values).sum())
            # Warm-up rows are scored against what came before, then learned from, never flagged.
            learn = min(max(warmup - model.seen, 0), len(rows))
            for i, row in zip(rows[:learn], values[:learn], strict=True):
                x = dict(zip(columns, row.tolist(), strict=True))
                results.scores[i] = model.detector.score_one(x)
                model.detector.learn_one(x)
            progress.advance(task, learn)
            for start in range(learn, len(rows), _CHUNK):
                where = rows[start : start + _CHUNK]
                found = model.detector.detect_many(values[start : start + _CHUNK], columns)
                results.scores[where] = found.scores
                results.flags[where] = found.is_anomaly
                for i, explanation in zip(where.tolist(), found.explanations, strict=True):
                    results.explanations[i] = explanation
                progress.advance(task, len(where))
            model.seen += len(rows)
    return results


def _write(output: str, table: Table, results: _Results) -> None:
    frame: dict[str, Any] = {}
    if table.stream is not None:
        frame[table.stream] = table.streams
    frame["timestamp"] = table.times
    frame["score"] = results.scores
    frame["is_anomaly"] = np.where(results.flags, "true", "false")
    frame["explanation"] = ["" if e is None else str(e) for e in results.explanations]
    target = sys.stdout if output == "-" else output
    try:
        pd.DataFrame(frame).to_csv(target, index=False, float_format="%.6g", lineterminator="\n")
    except BrokenPipeError:
        raise  # the reader went away (`| head`): handled like any click program, exit code 1
    except OSError as error:
        raise InputError(f"{output}: {error.strerror or error}") from None


def score_csv(
    input: str,
    output: str,
    *,
    timestamp: str | None,
    columns: str | None,
    stream: str | None,
    sep: str,
    decimal: str,
    encoding: str,
    detector: str | None,
    param: list[str] | None,
    warmup: int,
    reference: str | None,
    state: Path | None,
) -> None:
    """Run ``edgewise detect`` (see its help for the meaning of each option)."""
    names = None if columns is None else [c.strip() for c in columns.split(",") if c.strip()]
    options: dict[str, Any] = {
        "sep": "\t" if sep == "\\t" else sep,
        "decimal": decimal,
        "encoding": encoding,
        "timestamp": timestamp,
        "stream": stream,
    }
    table = read_table(input, columns=names, **options)
    pairs = list(param or [])
    if state is not None and state.exists():
        saved = _resume(state, table, detector, pairs)
        say(f"resuming from {state}")
    else:
        name = detector or DEFAULT_DETECTOR
        prototype, params = make_detector(name, pairs)
        saved = _State(name, params, prototype, table.columns, stream)
    try:
        if reference is not None:
            _commission(saved, read_table(reference, columns=table.columns, **options))
        results = _score(saved, table, warmup)
    except ValueError as error:  # parameters are validated when the detector first learns
        raise InputError(f"detector {saved.detector}: {error}") from error
    _write(output, table, results)
    if state is not None:
        _save_state(state, saved)
    n_streams = 1 if table.streams is None else len(pd.unique(table.streams))
    left = results.left_missing
    say(
        f"{len(table):,} rows, {n_streams} stream(s), columns {', '.join(table.columns)}: "
        f"{int(results.flags.sum()):,} anomalies; {results.imputed:,} missing cells imputed"
        + (f", {left:,} left missing (no earlier value)" if left else "")
    )
