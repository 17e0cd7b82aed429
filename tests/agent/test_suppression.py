"""Dual-prediction suppression: the hub's reconstruction is within the bound, by construction."""

from __future__ import annotations

import itertools
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewise.agent import DualPredictor, Reconstructor, Suppressor
from edgewise.stream import StateError

PREDICTORS = [
    DualPredictor(trend=0.0),
    DualPredictor(),
    DualPredictor(trend=1.0, damping=0.8),
    DualPredictor(trend=0.5, shared=1.0),
]

values = st.floats(-1e3, 1e3, allow_nan=False)
series = st.lists(st.fixed_dictionaries({"a": values, "b": values, "c": values}), max_size=60)


def transmit(
    suppressor: Suppressor, reconstructor: Reconstructor, readings: list[dict[str, float]]
) -> tuple[list[dict[str, float]], list[tuple[int, float, dict[str, float]]], int]:
    """Agent views, hub reconstruction (messages only) and the number of messages."""
    agent, hub, messages = [], [], 0
    for seq, reading in enumerate(readings):
        message = suppressor.update(seq, 60.0 * seq, reading)
        agent.append(dict(suppressor.reconstructed_))
        if message is not None:
            messages += 1
            hub += reconstructor.update(json.loads(json.dumps(message)))
    last = suppressor.heartbeat()
    if last is not None:
        hub += reconstructor.update(last)
    return agent, hub, messages


@settings(max_examples=150, deadline=None)
@given(
    readings=series,
    bound=st.floats(0.0, 50.0),
    predictor=st.sampled_from(PREDICTORS),
    every=st.integers(1, 20),
    shift=st.booleans(),
)
def test_reconstruction_within_bound_and_equal_to_agent_view(
    readings: list[dict[str, float]],
    bound: float,
    predictor: DualPredictor,
    every: int,
    shift: bool,
) -> None:
    agent, hub, _ = transmit(
        Suppressor(bound=bound, predictor=predictor, heartbeat_every=every, shift=shift),
        Reconstructor(predictor=predictor, heartbeat_every=every),
        readings,
    )
    assert [seq for seq, _, _ in hub] == list(range(len(readings)))
    for (seq, timestamp, rebuilt), truth, view in zip(hub, readings, agent, strict=True):
        assert rebuilt == view
        assert timestamp == pytest.approx(60.0 * seq)
        for name, value in truth.items():
            assert abs(rebuilt[name] - value) <= bound


@settings(max_examples=100, deadline=None)
@given(
    start=st.lists(values, min_size=5, max_size=5),
    moves=st.lists(st.floats(-5.0, 5.0), max_size=30),
    noise=st.lists(st.floats(-0.4, 0.4), min_size=5, max_size=5),
)
def test_a_shared_move_is_sent_as_one_shift(
    start: list[float], moves: list[float], noise: list[float]
) -> None:
    """Five values that move together cost a shift, or one value, per reading at most."""
    readings = [{f"v{i}": x for i, x in enumerate(start)}]
    for move in moves:
        readings.append({k: x + move for k, x in readings[-1].items()})
    readings = [{k: x + e for (k, x), e in zip(r.items(), noise, strict=True)} for r in readings]
    suppressor, reconstructor = Suppressor(bound=0.5, heartbeat_every=100, shift=True), None
    hub: list[dict[str, float]] = []
    for seq, reading in enumerate(readings):
        message = suppressor.update(seq, 60.0 * seq, reading)
        if message is None:
            continue
        if seq > 0:  # one shift stands in for the four or five values a shared move misses
            assert len(message["values"]) <= 1
        reconstructor = reconstructor or Reconstructor(heartbeat_every=100)
        hub += [v for _, _, v in reconstructor.update(json.loads(json.dumps(message)))]
    assert reconstructor is not None
    last = suppressor.heartbeat()
    assert last is not None
    hub += [v for _, _, v in reconstructor.update(last)]
    for rebuilt, truth in zip(hub, readings, strict=True):
        assert all(abs(rebuilt[k] - x) <= 0.5 for k, x in truth.items())


@settings(max_examples=50, deadline=None)
@given(readings=st.lists(values, min_size=1, max_size=80), every=st.integers(1, 10))
def test_heartbeats_keep_the_watermark_within_reach(readings: list[float], every: int) -> None:
    """A stream is never silent for more than ``every`` readings, however well predicted."""
    suppressor = Suppressor(bound=1e9, heartbeat_every=every)
    sent = [s for s, x in enumerate(readings) if suppressor.update(s, 1.0 * s, {"x": x})]
    assert sent[0] == 0
    assert all(b - a <= every for a, b in itertools.pairwise(sent))
    assert len(readings) - 1 - sent[-1] < every


def test_the_hub_tells_a_quiet_stream_from_a_dead_device() -> None:
    suppressor = Suppressor(bound=1.0, heartbeat_s=3600.0)
    hub = Reconstructor(heartbeat_s=3600.0)
    for seq in range(10):  # a constant stream: only the first reading and heartbeats are sent
        message = suppressor.update(seq, 600.0 * seq, {"temp": 20.0})
        if message is not None:
            hub.update(message)
    assert suppressor.sent_seq_ == 6  # a heartbeat after 3600 s of device time
    # quiet but alive: its next heartbeat is due by 3600 s (plus one period) after seq 6
    assert not hub.overdue(600.0 * 12)
    assert hub.overdue(600.0 * 14)  # dead, or cut off: nothing for longer than that
    assert not hub.overdue(600.0 * 14, latency_s=1200.0)


def test_heartbeat_only_stream_is_rebuilt_to_its_watermark() -> None:
    suppressor = Suppressor(bound=0.5, heartbeat_every=4)
    hub = Reconstructor(heartbeat_every=4)
    rebuilt = []
    for seq in range(9):
        message = suppressor.update(seq, 10.0 * seq, {"x": 1.0})
        if message is not None:
            rebuilt += hub.update(message)
    assert [m[0] for m in rebuilt] == list(range(9))
    assert hub.update({"kind": "heartbeat", "seq": 4, "timestamp": 40.0}) == []  # a repeat


def test_state_round_trip_continues_exactly() -> None:
    readings = [{"t": 20.0 + 0.3 * math.sin(k / 3.0) + 0.05 * k} for k in range(40)]
    predictor = DualPredictor(trend=0.5, damping=0.9)
    whole_s = Suppressor(bound=0.2, predictor=predictor, heartbeat_every=5)
    whole_r = Reconstructor(predictor=predictor, heartbeat_every=5)
    _, whole, _ = transmit(whole_s, whole_r, readings)

    first_s = Suppressor(bound=0.2, predictor=predictor, heartbeat_every=5)
    first_r = Reconstructor(predictor=predictor, heartbeat_every=5)
    hub = []
    for seq, reading in enumerate(readings[:20]):
        message = first_s.update(seq, 60.0 * seq, reading)
        if message is not None:
            hub += first_r.update(message)
    saved_s = json.loads(json.dumps(first_s.to_state()))
    saved_r = json.loads(json.dumps(first_r.to_state()))
    again_s, again_r = Suppressor.from_state(saved_s), Reconstructor.from_state(saved_r)
    assert again_s.predictor_.to_state_dict() == first_s.predictor_.to_state_dict()
    for seq, reading in enumerate(readings[20:], start=20):
        message = again_s.update(seq, 60.0 * seq, reading)
        if message is not None:
            hub += again_r.update(message)
    last = again_s.heartbeat()
    assert last is not None
    hub += again_r.update(last)
    assert hub == whole


def test_predictor_state_is_plain_json() -> None:
    predictor = DualPredictor(trend=1.0)
    predictor.update(0, {"t": 1.0}, sent={"t"})
    predictor.update(1, {"t": 2.0}, sent={"t"})
    state = predictor.to_state_dict()
    assert json.loads(json.dumps(state)) == state
    again = DualPredictor.from_state_dict(state)
    assert again.predict(3, "t", {}) == predictor.predict(3, "t", {}) == 4.0


def test_state_of_another_kind_or_version_is_refused() -> None:
    document = Suppressor(bound=1.0, heartbeat_every=3).to_state()
    with pytest.raises(StateError, match="holds no Reconstructor"):
        Reconstructor.from_state(document)
    with pytest.raises(StateError, match="state version"):
        Suppressor.from_state({**document, "state_version": 99})
    with pytest.raises(StateError, match="not an edgewise state"):
        Suppressor.from_state({"format": "pickle"})


@pytest.mark.parametrize(
    ("kwargs", "reading", "match"),
    [
        ({"bound": -1.0, "heartbeat_every": 3}, {"x": 1.0}, "bound of 'x'"),
        ({"bound": {"y": 1.0}, "heartbeat_every": 3}, {"x": 1.0}, "bound of 'x'"),
        ({"bound": 1.0}, {"x": 1.0}, "heartbeat_s or heartbeat_every"),
        ({"bound": 1.0, "heartbeat_every": 0}, {"x": 1.0}, "heartbeat_every"),
        ({"bound": 1.0, "heartbeat_s": math.inf}, {"x": 1.0}, "heartbeat_s"),
        ({"bound": 1.0, "heartbeat_every": 3}, {"x": math.nan}, "finite number"),
        ({"bound": 1.0, "heartbeat_every": 3}, {}, "no values"),
        (
            {"bound": 1.0, "heartbeat_every": 3, "predictor": DualPredictor(trend=2.0)},
            {"x": 1.0},
            "trend",
        ),
    ],
)
def test_bad_input_is_a_clear_error(
    kwargs: dict[str, object], reading: dict[str, float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        Suppressor(**kwargs).update(0, 0.0, reading)  # type: ignore[arg-type]


def test_a_stream_must_keep_its_numbering_and_values() -> None:
    suppressor = Suppressor(bound=1.0, heartbeat_every=3)
    suppressor.update(0, 0.0, {"x": 1.0})
    with pytest.raises(ValueError, match="consecutive"):
        suppressor.update(2, 2.0, {"x": 1.0})
    with pytest.raises(ValueError, match="has values"):
        suppressor.update(1, 1.0, {"x": 1.0, "y": 2.0})


def test_bad_messages_are_clear_errors() -> None:
    hub = Reconstructor(heartbeat_every=3)
    with pytest.raises(ValueError, match="before any reading"):
        hub.update({"kind": "heartbeat", "seq": 3, "timestamp": 0.0})
    with pytest.raises(ValueError, match="kind"):
        hub.update({"kind": "hello", "seq": 0, "timestamp": 0.0})
    hub.update({"kind": "reading", "seq": 0, "timestamp": 0.0, "values": {"x": 1.0}})
    with pytest.raises(ValueError, match="never had"):
        hub.update({"kind": "reading", "seq": 1, "timestamp": 1.0, "values": {"z": 1.0}})
    with pytest.raises(ValueError, match="finite numbers"):
        hub.update({"kind": "reading", "seq": 1, "timestamp": 1.0, "values": {"x": "1"}})
    with pytest.raises(ValueError, match="shift must be a finite number"):
        hub.update({"kind": "reading", "seq": 1, "timestamp": 1.0, "values": {}, "shift": math.inf})
