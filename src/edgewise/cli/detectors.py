"""``edgewise detectors``: every registered step, its kind and its parameters."""

from __future__ import annotations

import inspect
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from edgewise.stream import parameters, registry

from ._common import jsonable, step_kind

__all__ = ["detectors", "step_catalogue"]


def step_catalogue() -> list[dict[str, Any]]:
    """Every registered step: name, kind, class, first docstring line, parameters and defaults."""
    catalogue = []
    for name, cls in registry().items():
        doc = inspect.getdoc(cls) or ""
        catalogue.append(
            {
                "name": name,
                "kind": step_kind(cls),
                "class": f"{cls.__module__}.{cls.__qualname__}",
                "summary": doc.splitlines()[0] if doc else "",
                "parameters": [
                    {
                        "name": p.name,
                        "default": None if p.required else jsonable(p.default),
                        "required": p.required,
                        "type": p.annotation,
                    }
                    for p in parameters(cls)
                ],
            }
        )
    return catalogue


def _signature(step: dict[str, Any]) -> str:
    return "\n".join(
        f"{p['name']} (required)" if p["required"] else f"{p['name']}={p['default']!r}"
        for p in step["parameters"]
    )


def detectors(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (a list of steps) instead of a table.")
    ] = False,
) -> None:
    """List every registered step (cleaning, imputation, fusion, features, detectors).

    Any name listed as a Detector can be given to `edgewise detect --detector NAME`, its
    parameters with `--param KEY=VALUE`.
    """
    catalogue = step_catalogue()
    if as_json:
        typer.echo(json.dumps(catalogue, indent=2, allow_nan=False))
        return
    table = Table(title="Registered steps", show_lines=True)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("parameters", overflow="fold")
    table.add_column("what it does")
    for step in catalogue:
        table.add_row(step["name"], step["kind"], _signature(step), step["summary"])
    Console().print(table)
