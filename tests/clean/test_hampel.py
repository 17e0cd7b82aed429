"""Hampel: isolated spikes are caught one reading late; steps, ramps and neighbours are not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgewise.clean import Hampel
from edgewise.stream import Reading, load_state, save_state


def _noisy(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 20.0 + np.sin(np.arange(n) * 2 * np.pi / 48) + rng.normal(0.0, 0.05, n)


def _stream(check: Hampel, values: np.ndarray, stream: str = "m") -> list[Reading]:
    out = check.update_many([Reading(stream, float(i), {"t": v}) for i, v in enumerate(values)])
    return out + check.flush()


def test_a_spike_is_caught_and_marked_missing() -> None:
    x = _noisy()
    x[[60, 130]] += [2.0, -1.5]
    out = _stream(Hampel(), x)
    assert [r.timestamp for r in out] == list(range(len(x)))
    assert [i for i, r in enumerate(out) if r.flags] == [60, 130]
    assert out[60].flags == {"t": "spike"} and math.isnan(out[60].values["t"])
    assert out[61].values["t"] == x[61]


def test_steps_and_ramps_are_not_spikes() -> None:
    x = _noisy()
    x[100:] += 5.0  # a level shift
    x[150:160] += np.linspace(0.0, 6.0, 10)  # a fast ramp, then a drop back
    assert not Hampel().faults_many(x[:, None]).any()


def test_each_reading_is_held_until_the_next_one_of_its_stream() -> None:
    check = Hampel()
    assert check.update(Reading("a", 0.0, {"t": 1.0})) == []
    assert check.update(Reading("b", 0.0, {"t": 1.0})) == []
    (out,) = check.update(Reading("a", 1.0, {"t": 2.0}))
    assert (out.stream, out.timestamp) == ("a", 0.0)
    assert [(r.stream, r.timestamp) for r in check.flush()] == [("a", 1.0), ("b", 0.0)]


def test_streams_are_judged_apart() -> None:
    a, b = _noisy(seed=1), _noisy(seed=2) + 10.0
    a[50] += 3.0
    alone = Hampel().faults_many(a[:, None])[:, 0]
    check = Hampel()
    readings = [
        Reading(s, float(i), {"t": v[i]}) for i in range(len(a)) for s, v in [("a", a), ("b", b)]
    ]
    out = check.update_many(readings) + check.flush()
    mixed = [bool(r.flags) for r in sorted(out, key=lambda r: r.timestamp) if r.stream == "a"]
    assert np.flatnonzero(alone).tolist() == [50]
    assert mixed == alone.tolist()


def test_faults_many_equals_update_then_flush_and_saved_state_mid_stream() -> None:
    x = _noisy(seed=3)
    x[[40, 90, 91]] += [3.0, -3.0, 0.5]
    x[70] = math.nan
    X = np.column_stack([x, x[::-1]])
    mask = Hampel(action="flag").faults_many(X, ["u", "v"])
    check = Hampel(action="flag")
    first = check.update_many(
        [Reading("m", float(i), {"u": r[0], "v": r[1]}) for i, r in enumerate(X[:80])]
    )
    check, _ = load_state(save_state(check))
    rest = check.update_many(
        [Reading("m", float(i), {"u": r[0], "v": r[1]}) for i, r in enumerate(X[80:], 80)]
    )
    out = first + rest + check.flush()
    assert [[n in r.flags for n in ("u", "v")] for r in out] == mask.tolist()
    assert mask[40, 0] and mask[90, 0]


def test_no_judgement_next_to_a_missing_value_or_before_three_values() -> None:
    x = np.array([20.0, 35.0, 20.1, 20.0, 20.2, 20.1, 40.0, math.nan, 20.1, 20.0])
    assert not Hampel().faults_many(x[:, None]).any()


def test_the_reading_after_a_spike_is_compared_with_the_value_before_it() -> None:
    x = np.array([18.3, 18.2, 18.3, 18.2, 18.3, 26.5, 23.4, 24.7, 26.0, 26.1])
    mask = Hampel().faults_many(x[:, None])[:, 0]
    assert np.flatnonzero(mask).tolist() == [5]


@pytest.mark.parametrize(
    "params", [{"window": 2}, {"window": 5.0}, {"threshold": 0.0}, {"action": "clip"}]
)
def test_bad_parameters_raise_at_first_use(params: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Hampel"):
        Hampel(**params).update(Reading("m", 0.0, {"t": 1.0}))  # type: ignore[arg-type]
