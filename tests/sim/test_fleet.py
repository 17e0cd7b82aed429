"""The demo's fleet: seeded, time-ordered, every kind of device, each fault where it was put;
and the agent's simulator input playing it."""

from __future__ import annotations

from edgewise.agent import Inbound
from edgewise.agent.inputs.replay import ReplayInput, SimulatorInputConfig
from edgewise.sim import Fleet

HOUR = 3600.0


def test_same_seed_same_readings_in_time_order() -> None:
    first = list(Fleet(seed=2, hours=1.0).readings())
    assert [r.values for r in first] == [r.values for r in Fleet(seed=2, hours=1.0).readings()]
    assert [r.values for r in first] != [r.values for r in Fleet(seed=3, hours=1.0).readings()]
    times = [r.timestamp for r in first]
    assert times == sorted(times) and len(first) == 60 * 20
    assert {Fleet.device_of(r.stream) for r in first} == set(Fleet().kinds)


def test_each_fault_shows_in_its_device_and_nowhere_else() -> None:
    fleet = Fleet(seed=0, hours=6.0, start=0.0)
    at: dict[tuple[str, float], dict[str, float]] = {
        (Fleet.device_of(r.stream), r.timestamp): r.values for r in fleet.readings()
    }
    spike, quiet = at[("meter-07", 4.5 * HOUR)]["power"], at[("meter-07", 3.5 * HOUR)]["power"]
    assert spike - quiet > 6.0
    assert max(at[(f"meter-{i:02d}", 4.5 * HOUR)]["power"] for i in (1, 2, 3)) < 4.0
    racing = at[("watch-1", 5.25 * HOUR)]
    assert racing["heart_rate"] > 140 and racing["steps"] == 0.0
    assert at[("watch-2", 5.25 * HOUR)]["heart_rate"] < 140


def test_the_agents_simulator_input_plays_the_fleet_from_its_start() -> None:
    got: list[Inbound] = []
    config = SimulatorInputConfig(
        type="simulator", name="fleet", scenario="fleet", hours=0.5, start=1.0e9
    )
    source = ReplayInput(config)
    source.start(got.append)
    assert source.finished.wait(60)
    source.stop()
    readings = [r for message in got if isinstance(message.payload, list) for r in message.payload]
    assert len(readings) == 30 * 20 and readings[0].timestamp == 1.0e9
    assert readings[0].stream == "press-1/motor"
