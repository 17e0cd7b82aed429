"""What every command shares: the input-error type, terminal detection, progress bars, JSON out."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from edgewise.stream import Detector, SpecError, Transformer, parse_params, registry

__all__ = [
    "DEFAULT_DETECTOR",
    "InputError",
    "interactive",
    "jsonable",
    "make_detector",
    "progress_bar",
    "say",
    "show_help_if_bare",
    "step_kind",
    "write_json",
]

DEFAULT_DETECTOR = "default"
"""The detector ``detect`` and ``bench nab`` use unless told otherwise."""


class InputError(Exception):
    """Bad input from the user: reported as one line on stderr, exit code 2."""


def interactive() -> bool:
    """Whether both stdout and stderr are terminals (live views and progress bars only then)."""
    return sys.stdout.isatty() and sys.stderr.isatty()


def say(message: str) -> None:
    """One line of information for the user, on stderr (stdout may carry data)."""
    typer.echo(f"edgewise: {message}", err=True)


def show_help_if_bare(ctx: typer.Context) -> None:
    """Show a command group's help when it is called without a command (exit code 0)."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help(), nl=False)


def progress_bar() -> Progress:
    """A progress bar on stderr, silent when the output is not a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not interactive(),
    )


def make_detector(name: str, pairs: Sequence[str]) -> tuple[Detector, dict[str, Any]]:
    """The detector registered as ``name`` with ``KEY=VALUE`` parameters, and those parameters."""
    steps = registry()
    cls = steps.get(name)
    if cls is None:
        detectors = [n for n, c in steps.items() if issubclass(c, Detector)]
        raise InputError(f"no detector named {name!r}; known: {', '.join(detectors)}")
    if not issubclass(cls, Detector):
        raise InputError(f"{name!r} is a {step_kind(cls)}, not a detector")
    try:
        params = parse_params(cls, pairs)
        detector = cls(**params)
    except SpecError as error:
        raise InputError(f"detector {name}: {error}") from None
    return detector, params


def step_kind(cls: type) -> str:
    """``Detector``, ``Transformer`` or ``Step``: the most specific base class of a step."""
    if issubclass(cls, Detector):
        return "Detector"
    return "Transformer" if issubclass(cls, Transformer) else "Step"


def jsonable(value: Any) -> Any:
    """``value`` as strict JSON can hold it: non-finite floats and unknown objects as text."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return jsonable(value.item())
    return repr(value)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented strict JSON to ``path`` (``-`` for stdout)."""
    text = json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n"
    if str(path) == "-":
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")
