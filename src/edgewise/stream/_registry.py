"""A registry of steps by name, so configs and the command line can name them with parameters."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ._base import Step

__all__ = ["Parameter", "create", "parameters", "parse_params", "register", "registry"]

S = TypeVar("S", bound=type[Step])

_STEPS: dict[str, type[Step]] = {}
# Modules whose import registers the built-in steps; imported on first use of the registry.
_BUILTIN_MODULES = (
    "edgewise.clean",
    "edgewise.impute",
    "edgewise.fuse",
    "edgewise.features",
    "edgewise.detect",
)


def register(name: str) -> Callable[[S], S]:
    """Class decorator: make a step available by ``name``."""

    def decorate(cls: S) -> S:
        if name in _STEPS and _STEPS[name] is not cls:
            raise ValueError(f"step name {name!r} is already registered to {_STEPS[name]}")
        _STEPS[name] = cls
        return cls

    return decorate


def registry() -> Mapping[str, type[Step]]:
    """Every registered step by name, built-in ones included."""
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    return dict(sorted(_STEPS.items()))


@dataclass(frozen=True, slots=True)
class Parameter:
    """One constructor parameter of a step."""

    name: str
    default: Any
    annotation: str

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


def parameters(cls: type[Step]) -> list[Parameter]:
    """The keyword-only parameters of a step class, with defaults and types."""
    signature = inspect.signature(cls.__init__)
    return [
        Parameter(p.name, p.default, str(p.annotation))
        for p in signature.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]


def _coerce(text: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = text.lower()
        if lowered not in {"true", "false", "1", "0", "yes", "no"}:
            raise ValueError(f"expected true or false, got {text!r}")
        return lowered in {"true", "1", "yes"}
    if isinstance(default, int) and not isinstance(default, bool):
        return int(text)
    if isinstance(default, float):
        return float(text)
    if isinstance(default, str):
        return text
    # No typed default (None or required): take the most specific literal that parses.
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    if text.lower() == "none":
        return None
    return text


def parse_params(cls: type[Step], pairs: Sequence[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings into typed parameters of ``cls``, with clear errors."""
    known = {p.name: p for p in parameters(cls)}
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"parameter {pair!r} is not of the form KEY=VALUE")
        if key not in known:
            raise ValueError(
                f"{cls.__name__} has no parameter {key!r}; it takes: {', '.join(known) or 'none'}"
            )
        try:
            parsed[key] = _coerce(value.strip(), known[key].default)
        except ValueError as error:
            raise ValueError(f"parameter {key}: {error}") from None
    return parsed


def create(name: str, params: Mapping[str, Any] | None = None) -> Step:
    """Instantiate the step registered as ``name``."""
    steps = registry()
    if name not in steps:
        raise KeyError(f"no step named {name!r}; known: {', '.join(steps)}")
    return steps[name](**(params or {}))
