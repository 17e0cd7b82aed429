"""The real agent uplink and outbox against the real hub: everything once, commands round trip."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hubtest import Hub

from edgewise.agent._config import UplinkConfig
from edgewise.agent._outbox import Outbox, Record
from edgewise.agent._secret import Secret
from edgewise.agent._uplink import Uplink
from edgewise.hub import queue_command, stored_keys


def test_the_agents_uplink_delivers_everything_once_and_applies_commands(
    hub: Hub, tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "outbox.db", max_bytes=1 << 24)
    readings = [
        Record("plc-1", "pump-1", "reading", i, "", 1.7e9 + i, None, {"values": {"t": 1.0 * i}})
        for i in range(120)
    ]
    event_body = {"score": 0.99, "explanation": "t=7", "detector": "default", "model_version": "v"}
    event = Record("plc-1", "pump-1", "event", 7, "alarm", 1.7e9 + 7, None, event_body)
    box.put([*readings, event], journal=[], upstream=True)
    relearn = queue_command(hub.db_url, "plc-1", "relearn", stream="pump-1")
    os.environ["EDGEWISE_TEST_HUB_TOKEN"] = hub.token
    config = UplinkConfig(
        url=hub.url, token=Secret(env="EDGEWISE_TEST_HUB_TOKEN"), batch_records=50
    )
    applied: list[Any] = []
    link = Uplink(config, agent="press-7", outbox=box, on_command=applied.append)
    try:
        for _ in range(10):
            if not box.pending():
                break
            link.send_once()
        assert box.pending() == 0 and link.failures == 0
        box.put([], journal=[], upstream=False, applied=[relearn])  # the agent applied it
        link.send_once()
        assert box.unacked_commands() == []
    finally:
        link.stop()
        box.close()
    keys = stored_keys(hub.db_url)
    assert keys[0] == ("plc-1", "pump-1", "event", 7, "alarm")  # events go first
    assert [k.seq for k in keys[1:]] == list(range(120))
    assert {c["id"] for c in applied} == {relearn}  # handed over until acknowledged

    assert hub.post([]).json()["commands"] == []
