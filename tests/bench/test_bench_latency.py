"""A short latency run: every spike starts a new episode and brings exactly one command."""

from __future__ import annotations

from edgewise.bench.agent_latency import run_agent_latency


def test_every_spike_brings_exactly_one_command() -> None:
    result = run_agent_latency(streams=20, spikes=3)
    assert result["spikes"] == 60
    assert result["alarms"] == result["alarms_on_spikes"] == 60  # no alarm but the spikes'
    assert result["actions_received"] == 60
    assert result["missed"] == 0
    assert result["received_twice"] == 0
    assert result["unexpected"] == 0
    assert result["acknowledged"] == result["published"] == 20 * 3 * 52
