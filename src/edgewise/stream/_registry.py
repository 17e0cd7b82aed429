"""A registry of steps by name, so configs and the command line can name them with parameters."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ._base import Step

__all__ = ["Parameter", "create", "name_of", "parameters", "register", "registry"]

S = TypeVar("S", bound=type[Step])

_STEPS: dict[str, type[Step]] = {}
_NAMES: dict[type[Step], str] = {}
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
        _NAMES[cls] = name
        return cls

    return decorate


def registry() -> Mapping[str, type[Step]]:
    """Every registered step by name, built-in ones included."""
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    return dict(sorted(_STEPS.items()))


def name_of(cls: type[Step]) -> str:
    """The name ``cls`` is registered under (its class name if it is not registered)."""
    return _NAMES.get(cls, cls.__name__)


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


def create(name: str, params: Mapping[str, Any] | None = None) -> Step:
    """Instantiate the step registered as ``name``."""
    steps = registry()
    if name not in steps:
        raise KeyError(f"no step named {name!r}; known: {', '.join(steps)}")
    return steps[name](**(params or {}))
