"""A short fault campaign: agent and hub killed, answers lost, disk full, network broken."""

from __future__ import annotations

import json

from edgewise.bench.faults import FAULTS, run_faults


def test_nothing_acknowledged_is_lost_or_stored_twice() -> None:
    result = run_faults(iterations=21, seed=1)
    # The whole result, shown with a failure (pytest shortens the assertion's message): dead
    # letters, counts and the duration say where a reading went.
    print(json.dumps(result, default=str))
    assert result["faults"] == {kind: 3 for kind in FAULTS}
    assert result["acknowledged"] > 0
    # Late is not lost: a reading still in the agent's outbox says the machine was too slow to
    # drain, not that the agent dropped it; each lost one is traced in ``lost_traces``.
    assert result["undrained"] == 0, f"not drained: {result}"
    assert result["lost"] == 0, result
    assert result["dead_letters"] == 0, result
    assert result["duplicates"] == 0, result
    assert result["stored"] == result["acknowledged"]
    assert result["agent_starts"] == 1 + result["faults"]["agent_kill"]  # the outbox reopened
    assert result["alarms"] > 0  # the agent kept detecting and acting through the faults
    assert 0 < result["actions_fired"] <= result["alarms"]
    assert result["actions_fired_twice"] == 0
