"""The generated checks catch the faults they are written for (a check that cannot fail is a
defect): steps with those faults, made on purpose, fail them."""

from __future__ import annotations

from typing import ClassVar

import pytest

from edgewise.checks import (
    check_no_shared_state,
    check_score_is_pure,
    check_state_is_bounded,
    check_state_roundtrip,
    check_streams_isolated,
)
from edgewise.stream import StateError, Step, Transformer, Values


class SharedAcrossStreams(Transformer):
    """Keeps its running sum in a class attribute: every stream (and instance) adds to it."""

    total: ClassVar[list[float]] = [0.0]

    def learn_one(self, x: Values) -> None:
        self.total[0] += sum(v for v in x.values() if v == v)

    def transform_one(self, x: Values) -> Values:
        return {k: v + self.total[0] for k, v in x.items()}


class Hoarder(Transformer):
    """Remembers every value it ever saw."""

    def learn_one(self, x: Values) -> None:
        self.seen_: list[float] = [*getattr(self, "seen_", []), *x.values()]

    def transform_one(self, x: Values) -> Values:
        return dict(x)


class ScoringLearns(Transformer):
    """Counts in ``transform_one``, which must leave the state alone."""

    def learn_one(self, x: Values) -> None:
        self.count_ = getattr(self, "count_", 0)

    def transform_one(self, x: Values) -> Values:
        self.count_ = getattr(self, "count_", 0) + 1
        return dict(x)


class SharesItsList(Transformer):
    """Hands the same list to every copy of itself."""

    common: ClassVar[list[float]] = []

    def learn_one(self, x: Values) -> None:
        self.window_ = self.common

    def transform_one(self, x: Values) -> Values:
        return dict(x)


class Unsaveable(Transformer):
    """Keeps a value the versioned format cannot hold."""

    def learn_one(self, x: Values) -> None:
        self.handle_ = object()

    def transform_one(self, x: Values) -> Values:
        return dict(x)


@pytest.mark.parametrize(
    ("step", "check"),
    [
        (SharedAcrossStreams(), check_streams_isolated),
        (Hoarder(), lambda s: check_state_is_bounded(s, scale=0.1)),
        (ScoringLearns(), check_score_is_pure),
        (SharesItsList(), check_no_shared_state),
        (Unsaveable(), check_state_roundtrip),
    ],
    ids=["shared state", "growing state", "impure scoring", "shared list", "unsaveable"],
)
def test_a_faulty_step_fails_its_check(step: Step, check: object) -> None:
    with pytest.raises((AssertionError, StateError)):
        check(step)  # type: ignore[operator]
