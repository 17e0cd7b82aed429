"""What ``edgewise detect`` does: run a checked CSV through a pipeline, one lane per stream.

The pipeline ends with a detector; the steps before it prepare the values (by default the
last-value imputer). When every step before the detector is one-in, one-out (a transformer),
each stream's rows run through the batch paths, which equal the per-reading path and are much
faster; otherwise every row becomes a :class:`~edgewise.stream.Reading` and streams through
the pipeline, and the output has one row per detection (a resampler may emit more readings than
it takes, a de-duplicator fewer).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from edgewise.stream import (
    Array,
    Detection,
    Detector,
    Pipeline,
    Reading,
    SpecError,
    StateError,
    Step,
    Transformer,
    load_state,
    number,
    save_state,
)

from ._common import DEFAULT_DETECTOR, InputError, make_detector, progress_bar, say
from ._table import Table, read_table

__all__ = ["score_csv"]

# Rows per batch call: few enough for a lively progress bar, enough to be fast.
_CHUNK = 65_536


@dataclass
class _Job:
    """A pipeline and what the command line keeps beside it in its state file."""

    pipeline: Pipeline
    columns: list[str]
    stream: str | None
    judged: dict[str, int] = field(default_factory=dict)  # rows each stream's detector has seen
    reference: bool = False  # whether a reference was learned

    def meta(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "stream": self.stream,
            "judged": self.judged,
            "reference": self.reference,
        }


@dataclass
class _Out:
    """The output rows: stream, timestamp as written, sequence number, and the detection."""

    streams: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    imputed: int = 0
    left_missing: int = 0


def _parts(pipeline: Pipeline) -> tuple[list[Step], Detector]:
    if not pipeline.steps or not isinstance(pipeline.steps[-1], Detector):
        raise InputError("the pipeline must end with a detector (see `edgewise detectors`)")
    return pipeline.steps[:-1], pipeline.steps[-1]


def _groups(table: Table) -> list[tuple[str, NDArray[np.intp]]]:
    """Row indices of each stream, streams in order of first appearance, rows in file order."""
    if table.streams is None:
        return [("", np.arange(len(table)))]
    codes, ids = pd.factorize(table.streams)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes, minlength=len(ids)))[:-1]
    return [(str(i), rows) for i, rows in zip(ids, np.split(order, bounds), strict=True)]


def _new_job(
    table: Table, detector: str | None, pairs: list[str], spec: Path | None, stream: str | None
) -> _Job:
    if spec is not None:
        if detector is not None or pairs:
            raise InputError("--pipeline names the detector and its parameters: drop --detector")
        try:
            pipeline = Pipeline.from_spec(spec)
        except SpecError as error:
            raise InputError(str(error)) from None
    else:
        from edgewise.impute import LastValue

        pipeline = Pipeline(LastValue(), make_detector(detector or DEFAULT_DETECTOR, pairs)[0])
    _parts(pipeline)
    return _Job(pipeline, table.columns, stream)


def _resume(
    path: Path, table: Table, detector: str | None, pairs: list[str], spec: Path | None
) -> _Job:
    try:
        step, meta = load_state(path)
    except StateError as error:
        raise InputError(str(error)) from None
    if not isinstance(step, Pipeline) or "columns" not in meta:
        raise InputError(f"{path}: not a state file of `edgewise detect`")
    if meta["columns"] != table.columns or meta["stream"] != table.stream:
        raise InputError(
            f"{path} was saved for columns {meta['columns']} (stream column {meta['stream']}); "
            f"this input has {table.columns} (stream column {table.stream})"
        )
    if detector is not None or pairs or spec is not None:
        wanted = _new_job(table, detector, pairs, spec, table.stream).pipeline.to_spec()
        if wanted != step.to_spec():
            raise InputError(f"{path} holds another pipeline: {step.to_spec()['steps']}")
    return _Job(step, meta["columns"], meta["stream"], dict(meta["judged"]), meta["reference"])


def _check_state_path(path: Path) -> None:
    """Fail before any work when the state cannot be written where asked."""
    if not path.parent.is_dir():
        raise InputError(f"--state {path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise InputError(f"--state {path}: a folder, not a file")


def _prepared(steps: Sequence[Step], X: Array, columns: list[str]) -> Array:
    for step in steps:
        assert isinstance(step, Transformer)
        X = step.learn_transform_many(X, columns)
    return X


def _batchable(steps: Sequence[Step]) -> bool:
    return all(isinstance(step, Transformer) for step in steps)


def _readings(table: Table, rows: NDArray[np.intp] | None = None) -> Iterator[Reading]:
    where = np.arange(len(table)) if rows is None else rows
    for i in where.tolist():
        key = "" if table.streams is None else str(table.streams[i])
        values = dict(zip(table.columns, table.values[i].tolist(), strict=True))
        yield Reading(key, float(table.epoch[i]), values)


def _commission(job: _Job, reference: Table) -> None:
    """Teach each stream's lane the known-normal reference rows of that stream."""
    steps, _ = _parts(job.pipeline)
    for key, rows in _groups(reference):
        lane = job.pipeline.lane(key)
        *prep, detector = lane.steps
        assert isinstance(detector, Detector)
        if _batchable(steps):
            detector.commission(_prepared(prep, reference.values[rows], job.columns), job.columns)
            continue
        for reading in _readings(reference, rows):
            for out in _through(prep, lane._numbered(reading)):
                detector.learn_one(out.values)
    job.reference = True


def _through(steps: Sequence[Step], reading: Reading) -> list[Reading]:
    readings = [reading]
    for step in steps:
        readings = [out for r in readings for out in step._update(r)]
    return readings


def _keep_reference(detector: Detector, columns: list[str]) -> None:
    """The warm-up rows learned were known normal: the detector keeps them as its reference."""
    detector.commission(np.empty((0, len(columns))), columns)


def _judge(detector: Detector, job: _Job, key: str, reading: Reading, warmup: int) -> Detection:
    seen = job.judged.get(key, 0)
    job.judged[key] = seen + 1
    if seen < warmup:  # learned from, scored, never flagged
        score = detector.score_one(reading.values)
        detector.learn_one(reading.values)
        if seen + 1 == warmup:
            _keep_reference(detector, list(reading.values))
        name, version = detector._identity()
        return Detection(
            reading.stream,
            reading.seq,
            reading.timestamp,
            score,
            False,
            False,
            None,
            name,
            version,
            detector.take_events(),
        )
    [out] = detector._update(reading)
    return out.detections[-1]


def _score_batches(job: _Job, table: Table, warmup: int) -> _Out:
    n = len(table)
    scores, flags, alarms = np.zeros(n), np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_)
    explanations: list[Any] = [None] * n
    events: list[tuple[str, ...]] = [()] * n
    seqs = np.zeros(n, dtype=np.int64)
    out = _Out()
    columns = job.columns
    with progress_bar() as progress:
        task = progress.add_task("scoring", total=n)
        for key, rows in _groups(table):
            lane = job.pipeline.lane(key)
            *prep, detector = lane.steps
            assert isinstance(detector, Detector)
            raw = table.values[rows]
            values = _prepared(prep, raw, columns)
            out.imputed += int((np.isnan(raw) & ~np.isnan(values)).sum())
            out.left_missing += int(np.isnan(values).sum())
            seqs[rows] = lane.next_seq_ + np.arange(len(rows))
            lane.next_seq_ += len(rows)
            if len(rows):
                events[rows[0]] = detector.take_events()
            seen = job.judged.get(key, 0)
            learn = min(max(warmup - seen, 0), len(rows))
            for i, row in zip(rows[:learn].tolist(), values[:learn], strict=True):
                x = dict(zip(columns, row.tolist(), strict=True))
                scores[i] = detector.score_one(x)
                detector.learn_one(x)
            if learn and seen + learn == warmup:
                _keep_reference(detector, columns)
            progress.advance(task, learn)
            for start in range(learn, len(rows), _CHUNK):
                where = rows[start : start + _CHUNK]
                found = detector.detect_many(values[start : start + _CHUNK], columns)
                scores[where] = found.scores
                flags[where] = found.is_anomaly
                alarms[where] = found.alarm
                for i, explanation, happened in zip(
                    where.tolist(), found.explanations, found.events, strict=True
                ):
                    explanations[i] = explanation
                    events[i] += happened
                progress.advance(task, len(where))
            job.judged[key] = seen + len(rows)
    name, version = _parts(job.pipeline)[1]._identity()
    for i in range(n):
        key = "" if table.streams is None else str(table.streams[i])
        out.streams.append(key)
        out.times.append(str(table.times[i]))
        out.detections.append(
            Detection(
                key,
                int(seqs[i]),
                float(table.epoch[i]),
                float(scores[i]),
                bool(flags[i]),
                bool(alarms[i]),
                explanations[i],
                name,
                version,
                events[i],
            )
        )
    return out


def _score_readings(job: _Job, table: Table, warmup: int) -> _Out:
    out = _Out()
    keys = [""] * len(table) if table.streams is None else [str(s) for s in table.streams]
    written = {
        (key, t): str(text)
        for key, t, text in zip(keys, table.epoch.tolist(), table.times, strict=True)
    }

    def emit(readings: list[Reading]) -> None:
        for reading in readings:
            detector = job.pipeline.lane(reading.stream).steps[-1]
            assert isinstance(detector, Detector)
            found = _judge(detector, job, reading.stream, reading, warmup)
            out.streams.append(reading.stream)
            out.times.append(_written(written, reading, table.numeric_times))
            out.detections.append(found)

    with progress_bar() as progress:
        task = progress.add_task("scoring", total=len(table))
        for reading in _readings(table):
            lane = job.pipeline.lane(reading.stream)
            *prep, _ = lane.steps
            emit(_through(prep, lane._numbered(reading)))
            progress.advance(task)
        for key in job.pipeline.streams:
            lane = job.pipeline.lane(key)
            *prep, _ = lane.steps
            emit(Pipeline(*prep)._flush() if prep else [])
    return out


def _written(written: dict[tuple[str, float], str], reading: Reading, numeric: bool) -> str:
    """A reading's time as the input wrote it; a time the pipeline made, in the input's style."""
    text = written.get((reading.stream, reading.timestamp))
    if text is not None:
        return text
    if numeric:
        return number(reading.timestamp)
    return pd.Timestamp(reading.timestamp, unit="s", tz="UTC").isoformat()


def _write(output: str, table: Table, out: _Out) -> None:
    frame: dict[str, Any] = {}
    if table.stream is not None:
        frame[table.stream] = out.streams
    frame["timestamp"] = out.times
    frame["seq"] = [d.seq for d in out.detections]
    frame["score"] = [d.score for d in out.detections]
    frame["is_anomaly"] = ["true" if d.is_anomaly else "false" for d in out.detections]
    frame["alarm"] = ["true" if d.alarm else "false" for d in out.detections]
    frame["explanation"] = [str(d.explanation or "") for d in out.detections]
    frame["events"] = [" ".join(d.events) for d in out.detections]
    target: Any = sys.stdout if output == "-" else output
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
    pipeline: Path | None,
    warmup: int,
    reference: str | None,
    state: Path | None,
    relearn: bool = False,
) -> None:
    """Run ``edgewise detect`` (see its help for the meaning of each option)."""
    if state is not None:
        _check_state_path(state)
    if relearn and (state is None or not state.exists()):
        raise InputError("--relearn needs the --state file of an earlier run: nothing to forget")
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
        job = _resume(state, table, detector, pairs, pipeline)
        say(f"resuming from {state}")
    else:
        job = _new_job(table, detector, pairs, pipeline, stream)
    steps, final = _parts(job.pipeline)
    if relearn:
        for key in job.pipeline.streams:
            forgetting = job.pipeline.lane(key).steps[-1]
            assert isinstance(forgetting, Detector)
            forgetting.relearn()
            job.judged[key] = 0
        job.reference = False
        say(f"relearning: {len(job.pipeline.streams)} stream(s) start afresh")
    try:
        if reference is not None and job.reference:
            say("the state holds the reference learned at the start; not learning it again")
        elif reference is not None:
            _commission(job, read_table(reference, columns=table.columns, **options))
        scored = (_score_batches if _batchable(steps) else _score_readings)(job, table, warmup)
    except ValueError as error:  # parameters are validated when a step first learns
        raise InputError(f"{type(final).__name__}: {error}") from error
    _write(output, table, scored)
    if state is not None:
        save_state(job.pipeline, state, meta=job.meta())
    n_streams = 1 if table.streams is None else len(pd.unique(table.streams))
    flagged = sum(d.is_anomaly for d in scored.detections)
    alarms = sum(d.alarm for d in scored.detections)
    left = scored.left_missing
    say(
        f"{len(table):,} rows, {n_streams} stream(s), columns {', '.join(table.columns)}: "
        f"{flagged:,} abnormal rows, {alarms:,} alarms; {scored.imputed:,} missing cells imputed"
        + (f", {left:,} left missing (no earlier value)" if left else "")
    )
