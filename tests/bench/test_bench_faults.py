"""A short fault campaign: agent and hub killed, answers lost, disk full, network broken."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from edgewise.agent import Outbox, Record
from edgewise.agent._outbox import DIGEST_SIZE
from edgewise.bench.faults import (
    FAULTS,
    _key,
    _Outbox,
    _payload,
    _rejections_logged,
    _trace,
    run_faults,
)


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


def test_the_verdict_tells_late_from_lost_and_traces_each_loss(tmp_path: Path) -> None:
    # Message 3 was stored by the agent and still waits in its outbox; message 4 was stored
    # and sent; message 5 never reached the outbox.
    box = Outbox(tmp_path / "outbox.db", max_bytes=1 << 20)
    stream, timestamp = _key(3)
    record = Record("faults-agent", stream, "reading", 0, "", timestamp, None, {"values": {}})
    digests = [_digest(3), _digest(4)]
    box.put([record], journal=[], upstream=True, delivered=digests)
    box.close()
    outbox = _Outbox(tmp_path / "outbox.db")
    assert _key(3) in outbox.readings and _key(4) not in outbox.readings
    hub = {stream: [(timestamp - 20, 7), (timestamp + 20, 9)]}  # seq 8 is missing: a gap
    traces = [_trace(i, outbox, hub) for i in (3, 4, 5)]
    assert [t["stored_by_agent"] for t in traces] == [True, True, False]
    assert traces[0]["hub_seqs_around"] == [7, 9]
    log = "\n".join(
        json.dumps({"level": "WARNING", "message": m})
        for m in ("rejected out_of_order: device time 3 is 1 s before", "outbox full", "rejected")
    )
    assert _rejections_logged(log + "\nnot json") == {"out_of_order": 1}


def _digest(i: int) -> bytes:
    return hashlib.blake2b(b"faults/in\0" + _payload(i), digest_size=DIGEST_SIZE).digest()
