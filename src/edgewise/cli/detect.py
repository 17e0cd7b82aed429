"""``edgewise detect``: clean and score a CSV of readings, one model per stream."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import DEFAULT_DETECTOR, InputError

__all__ = ["detect"]


def _columns(value: str | None) -> str | None:
    """Check ``--columns``: at least one name, none twice."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise typer.BadParameter("empty; name one or more columns, comma-separated: temp,rpm")
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise typer.BadParameter(f"{', '.join(map(repr, twice))} named more than once")
    return value


def _separator(value: str) -> str:
    """Check ``--sep``: pandas would read a longer separator as a regular expression."""
    if value != "\\t" and (len(value) != 1 or value in '"\r\n'):
        raise typer.BadParameter(
            f"{value!r}: use one character other than a quote or a line break (such as ';' or "
            "'|'), or \\t for tab"
        )
    return value


def _encoding(value: str) -> str:
    """Check ``--encoding``: a text encoding Python knows."""
    try:
        "x".encode(value)  # base64 and the like are codecs, not text encodings: refused too
    except LookupError:
        raise typer.BadParameter(
            f"{value!r} is not a text encoding Python knows, such as utf-8, latin-1 or cp1252"
        ) from None
    return value


def _same_file(a: Path, b: Path) -> bool:
    # samefile also sees hard links; resolve covers a path that does not exist yet (--state).
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))


def _refuse_overwriting(output: str, read: dict[str, str | Path | None]) -> None:
    """Refuse an output that is one of the files read (``read``: what each is called)."""
    if output == "-":
        return
    for what, path in read.items():
        if path is not None and str(path) != "-" and _same_file(Path(output), Path(path)):
            raise InputError(
                f"-o {output} is the same file as {what} {path}; write the scores to another file"
            )


def detect(
    input: Annotated[str, typer.Argument(metavar="INPUT", help="CSV of readings, or - for stdin.")],
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="Where to write the scores (CSV), or - for stdout."),
    ],
    timestamp: Annotated[
        str | None,
        typer.Option(
            help="Timestamp column, echoed as written. Default: the first column of dates and "
            "times; else the first numeric column named time, timestamp, ts, date, datetime or "
            "epoch (any case); else the first whose first value is epoch seconds or milliseconds "
            "of the years 2000 to 2100."
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            callback=_columns,
            help="Value columns, comma-separated; several make one multivariate model. "
            "Default: every other numeric column.",
        ),
    ] = None,
    stream: Annotated[
        str | None,
        typer.Option(help="Stream id column of a long-format file: one model per stream."),
    ] = None,
    sep: Annotated[
        str,
        typer.Option(callback=_separator, help="Field separator: one character (\\t for tab)."),
    ] = ",",
    decimal: Annotated[str, typer.Option(help="Decimal mark of the numbers.")] = ".",
    encoding: Annotated[
        str,
        typer.Option(
            callback=_encoding,
            help="Text encoding of INPUT and --reference, such as latin-1 or cp1252.",
        ),
    ] = "utf-8",
    detector: Annotated[
        str | None,
        typer.Option(
            help="Registered detector (see `edgewise detectors`).", show_default=DEFAULT_DETECTOR
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            help="Detector parameter KEY=VALUE (VALUE read as YAML: 3, 0.5, true, null, [a, b]); "
            "repeat for several."
        ),
    ] = None,
    pipeline: Annotated[
        Path | None,
        typer.Option(
            help="Pipeline spec (YAML or JSON) to run instead of last-value imputation and "
            "--detector; it must end with a detector (see docs/cli.md)."
        ),
    ] = None,
    warmup: Annotated[
        int,
        typer.Option(
            min=0,
            help="First N rows of each stream: known normal, the detector's reference: "
            "learned from, scored, never flagged.",
        ),
    ] = 0,
    reference: Annotated[
        str | None,
        typer.Option(help="CSV of known-normal readings (same columns) learned before scoring."),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            help="State file (versioned .npz, never a pickle): loaded if it exists, to resume "
            "where the last run stopped, and saved at the end."
        ),
    ] = None,
    relearn: Annotated[
        bool,
        typer.Option(
            help="With --state: forget what every stream's detector learned; the rows that "
            "follow are the new normal (the first --warmup of them its reference)."
        ),
    ] = False,
) -> None:
    """Score every row of a CSV of sensor readings.

    Missing cells are imputed with the last value (and counted), then the detector scores each row;
    or every row streams through the pipeline of --pipeline. Output: one CSV row per detection
    (per input row, in order, unless the pipeline drops or makes readings), with columns
    timestamp, seq, score, is_anomaly (this row is abnormal), alarm (an episode starts here) and
    explanation, after the stream column of a long-format file.
    """
    _refuse_overwriting(output, {"INPUT": input, "--reference": reference, "--state": state})
    from ._csv_scoring import score_csv  # pandas loads only when a file is scored

    score_csv(
        input,
        output,
        timestamp=timestamp,
        columns=columns,
        stream=stream,
        sep=sep,
        decimal=decimal,
        encoding=encoding,
        detector=detector,
        param=param,
        pipeline=pipeline,
        warmup=warmup,
        reference=reference,
        state=state,
        relearn=relearn,
    )
