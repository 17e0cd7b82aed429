"""Pipelines: steps applied in order, each one's emissions feeding the next, per stream."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Self

from ._base import Step
from ._reading import Detection, Reading

__all__ = ["Pipeline"]


class Pipeline(Step):
    """Steps chained in order; also built with ``step_a | step_b``.

    Readings a step emits flow through every step after it, so steps that emit zero or several
    readings (de-duplication, resampling) and clock-driven steps compose like any other. A
    pipeline built once serves any number of streams: each stream gets its own lane, a copy of
    every step made on the stream's first reading, so the streams never share state.

    Examples
    --------
    >>> from edgewise.stream import Reading
    >>> from edgewise.clean import RangeLimit
    >>> pipe = Pipeline(RangeLimit(low=0.0, high=100.0))
    >>> [r.values for r in pipe.update(Reading("s", 0.0, {"temp": 130.0}))]
    [{'temp': nan}]
    >>> pipe.to_spec()
    {'version': 1, 'steps': [{'step': 'range_limit', 'params': {'low': 0.0, 'high': 100.0}}]}
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

    # -- specs -------------------------------------------------------------------------------------

    def to_spec(self) -> dict[str, Any]:
        """This pipeline as a spec: ``{"version": 1, "steps": [...]}``."""
        from ._spec import SPEC_VERSION

        return {"version": SPEC_VERSION, "steps": [step.to_spec() for step in self.steps]}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | str | Path) -> Pipeline:
        """The pipeline a spec describes: a mapping, or the path of a YAML or JSON file.

        Raises :class:`~edgewise.stream.SpecError` naming the step and parameter at fault.
        """
        from ._spec import SpecError, build, load_spec

        loaded = load_spec(spec) if isinstance(spec, str | Path) else spec
        built = build(loaded)
        if not isinstance(built, Pipeline):
            raise SpecError("a pipeline spec has 'version' and 'steps'")
        return built

    # -- streams -----------------------------------------------------------------------------------

    def _new_lane(self, stream: str) -> Self:
        lane = type(self)(*(step._new_lane(stream) for step in self.steps))
        lane.stream_ = stream
        lane.next_seq_ = 0
        return lane

    def _children(self) -> list[Step]:
        return self.steps

    def _run_from(self, first: int, readings: list[Reading]) -> list[Reading]:
        steps = self.steps
        for i in range(first, len(steps)):
            if len(readings) == 1:
                readings = steps[i]._update(readings[0])
            else:
                readings = [out for reading in readings for out in steps[i]._update(reading)]
        return readings

    def _update(self, reading: Reading) -> list[Reading]:
        return self._run_from(0, [reading])

    def _tick(self, now: float) -> list[Reading]:
        return self._drain(lambda step: step._tick(now))

    def _flush(self) -> list[Reading]:
        return self._drain(lambda step: step._flush())

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

    def detect(self, reading: Reading) -> list[Detection]:
        """Update with ``reading``; the detections made on the readings it caused to be emitted."""
        return [d for out in self.update(reading) for d in out.detections]
