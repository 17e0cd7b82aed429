"""``edgewise detectors``: every registered step, its kind and its parameters."""

from __future__ import annotations

import inspect
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from edgewise.stream import param_model, parameters, registry

from ._common import jsonable, step_kind

__all__ = ["detectors", "step_catalogue"]


def step_catalogue() -> list[dict[str, Any]]:
    """Every registered step: name, kind, class, first docstring line, parameters and defaults,
    and the JSON schema of its ``params`` in a pipeline spec (``None`` if a spec cannot name it)."""
    catalogue = []
    for name, cls in registry().items():
        doc = inspect.getdoc(cls) or ""
        catalogue.append(
            {
                "name": name,
                "kind": step_kind(cls),
                "class": f"{cls.__module__}.{cls.__qualname__}",
                "summary": doc.splitlines()[0] if doc else "",
                "spec_schema": None
                if cls.spec_error
                else jsonable(param_model(cls).model_json_schema()),
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
    schema = step["spec_schema"] or {"properties": {}}
    lines = []
    for p in step["parameters"]:
        kind = _type(schema["properties"].get(p["name"], {}))
        typed = f"{p['name']}: {kind}" if kind else p["name"]
        lines.append(f"{typed} (required)" if p["required"] else f"{typed} = {p['default']!r}")
    return "\n".join(lines)


def _type(schema: dict[str, Any]) -> str:
    """A short name for the type a JSON schema describes (``integer``, ``number | null``...)."""
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    kind = str(schema.get("type", ""))
    items = schema.get("items", schema.get("prefixItems"))
    if kind == "array" and isinstance(items, dict):
        return f"list of {_type(items) or 'values'}"
    values = schema.get("additionalProperties")
    if kind == "object" and isinstance(values, dict):
        return f"map of {_type(values) or 'values'}"
    return kind


def detectors(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (a list of steps) instead of a table.")
    ] = False,
) -> None:
    """List every registered step (cleaning, imputation, fusion, features, detectors).

    Any name listed as a Detector can be given to `edgewise detect --detector NAME`, its
    parameters with `--param KEY=VALUE`; any step can be named in a pipeline spec
    (`edgewise detect --pipeline spec.yaml`), whose parameters take the types shown. With --json,
    each step's `spec_schema` is the JSON schema of its `params` in a spec.
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
