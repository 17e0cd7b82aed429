"""Pipeline specs: a pipeline as data (YAML or JSON), validated with errors that name the culprit.

A spec names registered steps and their parameters::

    version: 1
    steps:
      - step: range_limit
        params: {low: -40, high: 125}
      - step: hampel
      - step: default
        params: {threshold: 0.6}

Each step's parameters are checked against the types of its constructor (pydantic), so an error
names the step and the parameter. :meth:`Step.to_spec` writes the parameters that differ from
their defaults, so ``Pipeline.from_spec(s).to_spec() == s`` for every spec written that way.
The agent's configuration and the hub's pushed configurations use exactly this format.
"""

from __future__ import annotations

import functools
import inspect
import math
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ._base import Step
from ._reading import Reading
from ._registry import name_of, registry

__all__ = [
    "SPEC_VERSION",
    "PipelineSpec",
    "SpecError",
    "StepSpec",
    "build",
    "load_spec",
    "param_model",
    "parse_params",
    "plain",
    "step_spec",
    "validate_params",
]

SPEC_VERSION = 1


class SpecError(ValueError):
    """A spec, or a parameter, that cannot be used; the message is one line naming the culprit."""


class StepSpec(BaseModel):
    """One step of a spec: its registered name and its parameters."""

    model_config = ConfigDict(extra="forbid")

    step: str = Field(description="Registered name of the step (see `edgewise detectors`).")
    params: dict[str, Any] = Field(default_factory=dict, description="Its parameters.")


class PipelineSpec(BaseModel):
    """A pipeline: its steps in order."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = Field(description="Version of the spec format.")
    steps: list[StepSpec] = Field(min_length=1, description="The steps, in order.")


def plain(value: Any) -> Any:
    """``value`` as JSON or YAML holds it: tuples as lists, mappings as dicts, plain numbers."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return plain(value.item())
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


@functools.cache
def param_model(cls: type[Step]) -> type[BaseModel]:
    """A pydantic model of ``cls``'s keyword-only parameters, typed from its constructor."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):
        hints = {}
    fields: dict[str, Any] = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hints.get(p.name, Any), default)
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    model: type[BaseModel] = create_model(f"{cls.__name__}Params", __config__=config, **fields)
    return model


def _message(cls: type[Step], error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        known = ", ".join(param_model(cls).model_fields) or "none"
        return f"unknown parameter {where!r}; it takes: {known}"
    if first["type"] == "missing":
        return f"parameter {where!r} is required"
    return f"parameter {where!r}: {first['msg']} (got {first['input']!r})"


def validate_params(cls: type[Step], params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked against ``cls``'s parameter types; raises :class:`SpecError`."""
    if cls.spec_error is not None:
        raise SpecError(cls.spec_error)
    if not isinstance(params, Mapping):
        raise SpecError(f"params must be a mapping of names to values, got {params!r}")
    try:
        checked = param_model(cls).model_validate(dict(params))
    except ValidationError as error:
        raise SpecError(_message(cls, error)) from None
    return {name: getattr(checked, name) for name in params}


def _create(name: str, params: Mapping[str, Any], where: str, *, try_reading: bool) -> Step:
    steps = registry()
    cls = steps.get(name)
    if cls is None:
        raise SpecError(f"{where}: no step named {name!r}; known: {', '.join(steps)}")
    try:
        step = cls(**validate_params(cls, params))
        # Steps check their values at their first reading (scikit-learn's way): a throwaway
        # copy sees one, so a bad value is reported now, not when the first real reading comes.
        if try_reading:
            step.clone().update(Reading("spec check", 0.0, {"x": 0.0}))
    except SpecError as error:
        raise SpecError(f"{where} ({name}): {error}") from None
    except (TypeError, ValueError) as error:
        raise SpecError(f"{where} ({name}): {error}") from None
    return step


def _model_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = " ".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def build(spec: Any, *, try_reading: bool = True) -> Step:
    """The step (``{"step": ..., "params": ...}``) or pipeline (``{"version": 1, "steps": ...}``)
    that ``spec`` describes; raises :class:`SpecError` naming the step and parameter at fault.

    Values a step checks only when it sees data are checked on a throwaway copy given one
    reading, unless ``try_reading`` is false (the spec's names and types are still checked): that
    reading compiles the step's kernels, which a spec nothing uses yet need not pay for.
    """
    from ._pipeline import Pipeline

    if not isinstance(spec, Mapping):
        raise SpecError(f"a spec is a mapping, got {type(spec).__name__}")
    if "steps" not in spec:
        try:
            one = StepSpec.model_validate(dict(spec))
        except ValidationError as error:
            raise SpecError(f"step spec: {_model_error(error)}") from None
        return _create(one.step, one.params, "step", try_reading=try_reading)
    try:
        checked = PipelineSpec.model_validate(dict(spec))
    except ValidationError as error:
        raise SpecError(f"pipeline spec: {_model_error(error)}") from None
    return Pipeline(
        *(
            _create(s.step, s.params, f"step {i}", try_reading=try_reading)
            for i, s in enumerate(checked.steps, start=1)
        )
    )


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read a spec file (YAML or JSON); raises :class:`SpecError` with the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(f"{path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise SpecError(f"{path}: not UTF-8 text ({error.reason})") from None
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise SpecError(f"{path}{where}: not valid YAML or JSON ({problem})") from None
    if not isinstance(spec, dict):
        raise SpecError(f"{path}: a spec is a mapping with 'version' and 'steps'")
    return spec


def step_spec(step: Step) -> dict[str, Any]:
    """``step`` as ``{"step": name, "params": {...}}``, params differing from their defaults."""
    cls = type(step)
    if cls.spec_error is not None:
        raise SpecError(cls.spec_error)
    name = name_of(cls)
    if registry().get(name) is not cls:
        raise SpecError(f"{cls.__name__} is not a registered step: a spec cannot name it")
    defaults = {
        p.name: p.default
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    params = {
        name: plain(value)
        for name, value in step._get_params().items()
        if defaults[name] is inspect.Parameter.empty
        or not _same(plain(value), plain(defaults[name]))
    }
    return {"step": name, "params": params}


def _literal(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_params(cls: type[Step], pairs: Sequence[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings into checked parameters of ``cls`` (values read as YAML:
    ``3``, ``0.5``, ``true``, ``null``, ``[a, b]``, ``{x: 1}``); raises :class:`SpecError`."""
    raw: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpecError(f"parameter {pair!r} is not of the form KEY=VALUE")
        raw[key] = value.strip()
    parsed: dict[str, Any] = {}
    for key, text in raw.items():
        try:
            parsed.update(validate_params(cls, {key: _literal(text)}))
        except SpecError as error:
            try:  # a text parameter whose value YAML reads as something else ("yes", "1.0")
                parsed.update(validate_params(cls, {key: text}))
            except SpecError:
                raise error from None
    return parsed
