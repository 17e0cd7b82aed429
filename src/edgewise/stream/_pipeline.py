"""Pipelines: steps applied in order, each one's emissions feeding the next."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Self

from ._base import Step
from ._reading import Reading

__all__ = ["Pipeline"]


class Pipeline(Step):
    """Steps chained in order; also built with ``step_a | step_b``.

    Readings a step emits flow through every step after it, so steps that emit zero or several
    readings (de-duplication, resampling) and clock-driven steps compose like any other.

    Examples
    --------
    >>> from edgewise.stream import Reading
    >>> from edgewise.clean import RangeLimit
    >>> pipe = Pipeline(RangeLimit(low=0.0, high=100.0))
    >>> [r.values for r in pipe.update(Reading("s", 0.0, {"temp": 130.0}))]
    [{'temp': nan}]
    """

    def __init__(self, *steps: Step) -> None:
        flat: list[Step] = []
        for step in steps:
            flat.extend(step.steps if isinstance(step, Pipeline) else [step])
        self.steps: list[Step] = flat

    def _get_params(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def clone(self, **overrides: Any) -> Self:
        if overrides:
            raise TypeError("a Pipeline is cloned whole; clone its steps to change parameters")
        return type(self)(*(step.clone() for step in self.steps))

    def __repr__(self) -> str:
        return " | ".join(repr(step) for step in self.steps)

    def _run_from(self, first: int, readings: list[Reading]) -> list[Reading]:
        for step in self.steps[first:]:
            readings = [out for reading in readings for out in step.update(reading)]
        return readings

    def update(self, reading: Reading) -> list[Reading]:
        return self._run_from(0, [reading])

    def tick(self, now: float) -> list[Reading]:
        return self._drain(lambda step: step.tick(now))

    def flush(self) -> list[Reading]:
        return self._drain(lambda step: step.flush())

    def _drain(self, emit: Callable[[Step], list[Reading]]) -> list[Reading]:
        # What a step emits on its own (clock, end of stream) flows through the steps after it.
        emitted: list[Reading] = []
        for i, step in enumerate(self.steps):
            emitted.extend(self._run_from(i + 1, emit(step)))
        return emitted

    def run(self, readings: Iterable[Reading]) -> Iterator[Reading]:
        """Stream ``readings`` through the pipeline, then flush it."""
        for reading in readings:
            yield from self.update(reading)
        yield from self.flush()
