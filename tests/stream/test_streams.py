"""Many streams through one pipeline: isolation, sequence numbers, eviction and bringing back."""

from __future__ import annotations

import numpy as np
import pytest

from edgewise.checks import interleave
from edgewise.clean import Hampel, RangeLimit, Resample
from edgewise.detect import DefaultDetector
from edgewise.stream import FolderStore, MemoryStore, Pipeline, Reading, StateError


def _stream(name: str, seed: int, n: int = 600) -> list[Reading]:
    rng = np.random.default_rng(seed)
    x = 20.0 + np.sin(np.arange(n) / 15.0) + rng.normal(0.0, 0.1, n)
    x[300:] += 5.0  # a lasting shift: the spike check lets it through to the detector
    x[100] = 500.0  # out of range
    return [Reading(name, 60.0 * i, {"temp": float(v)}) for i, v in enumerate(x)]


def _pipeline() -> Pipeline:
    return Pipeline(RangeLimit(low=-40.0, high=125.0), Hampel(), DefaultDetector())


def _by_stream(readings: list[Reading]) -> dict[str, list[Reading]]:
    out: dict[str, list[Reading]] = {}
    for r in readings:
        out.setdefault(r.stream, []).append(r)
    return out


def test_three_interleaved_streams_get_what_each_gets_alone() -> None:
    streams = [_stream("a", 0), _stream("b", 1), _stream("c", 2, n=400)]
    pipe = _pipeline()
    together = _by_stream(pipe.update_many(interleave(*streams)) + pipe.flush())
    assert pipe.streams == ["a", "b", "c"]
    for readings in streams:
        alone_pipe = _pipeline()
        alone = alone_pipe.update_many(readings) + alone_pipe.flush()
        assert together[readings[0].stream] == alone
        assert any(d.is_anomaly for r in alone for d in r.detections)


def test_one_model_per_stream_not_one_for_all() -> None:
    quiet = [Reading("quiet", 60.0 * i, {"v": 1.0 + 0.01 * (i % 3)}) for i in range(400)]
    loud = [Reading("loud", 60.0 * i, {"v": 100.0 * (i % 2)}) for i in range(400)]
    detector = DefaultDetector()
    detector.update_many(interleave(quiet, loud))
    # Had both streams trained one model, the quiet one would have learned a range of 0-100.
    [out] = detector.update(Reading("quiet", 60.0 * 400, {"v": 50.0}))
    assert out.detections[0].is_anomaly


def test_readings_are_numbered_per_stream_and_numbers_given_are_kept() -> None:
    pipe = _pipeline()
    out = pipe.update_many(
        [
            Reading("a", 0.0, {"v": 1.0}),
            Reading("b", 0.0, {"v": 1.0}),
            Reading("a", 60.0, {"v": 1.0}, seq=41),
            Reading("a", 120.0, {"v": 1.0}),
            Reading("b", 60.0, {"v": 1.0}),
        ]
    )
    out += pipe.flush()  # Hampel holds each stream's newest reading back
    assert sorted((r.stream, r.seq) for r in out) == [
        ("a", 0),
        ("a", 41),
        ("a", 42),
        ("b", 0),
        ("b", 1),
    ]
    assert all(r.detections[0].seq == r.seq for r in out)


def test_steps_that_create_readings_number_them_in_emission_order() -> None:
    grid = Pipeline(Resample(period=60.0))
    out = grid.update_many([Reading("a", t, {"v": t}, seq=9) for t in (0.0, 150.0, 400.0)])
    assert [(r.timestamp, r.seq) for r in out] == [
        (0.0, 0),
        (60.0, 1),
        (120.0, 2),
        (180.0, 3),
        (240.0, 4),
        (300.0, 5),
        (360.0, 6),
    ]


@pytest.mark.parametrize("store_kind", ["memory", "folder"])
def test_a_silent_stream_is_evicted_and_brought_back_exactly(
    store_kind: str, tmp_path: object
) -> None:
    a, b = _stream("a", 0), _stream("b", 1)
    reference = _pipeline()
    expected = _by_stream(reference.update_many(interleave(a, b)))
    store = MemoryStore() if store_kind == "memory" else FolderStore(f"{tmp_path}/lanes")
    pipe = _pipeline().keep_streams(store=store, evict_after=600.0)
    got: list[Reading] = []
    for i, reading in enumerate(interleave(a[:300], b)):
        got += pipe.update(reading)
        if i % 50 == 0:
            got += pipe.tick(reading.timestamp)
    assert pipe.streams == ["b"]  # "a" fell silent at reading 300 and was evicted
    assert store.load("a") is not None
    got += pipe.update_many(a[300:])  # brings "a" back from the store
    assert store.load("a") is None and set(pipe.streams) == {"a", "b"}
    assert _by_stream(got) == expected


def test_a_stored_stream_of_another_configuration_is_refused() -> None:
    store = MemoryStore()
    pipe = _pipeline().keep_streams(store=store)
    pipe.update(Reading("a", 0.0, {"v": 1.0}))
    pipe.evict("a")
    other = Pipeline(RangeLimit(low=0.0), Hampel(), DefaultDetector()).keep_streams(store=store)
    with pytest.raises(StateError, match="another configuration"):
        other.update(Reading("a", 60.0, {"v": 1.0}))


def test_eviction_needs_a_store() -> None:
    with pytest.raises(ValueError, match="needs a store"):
        _pipeline().keep_streams(evict_after=60.0)
    pipe = _pipeline()
    pipe.update(Reading("a", 0.0, {"v": 1.0}))
    with pytest.raises(ValueError, match="no state store"):
        pipe.evict("a")


def test_a_lane_serves_only_its_stream() -> None:
    lane = _pipeline().lane("a")
    assert lane.lane("a") is lane
    with pytest.raises(ValueError, match="serves stream 'a', not 'b'"):
        lane.update(Reading("b", 0.0, {"v": 1.0}))
