"""The agent on a real broker: QoS 1 messages in, records out, acknowledged once stored."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

from edgewise.agent import Agent, parse_config
from edgewise.agent._run import decoder, open_inputs
from edgewise.bench._services import Mosquitto


def test_messages_from_a_broker_become_records_and_bad_ones_are_counted(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        config = parse_config(
            f"""
version: 1
device: {{id: press-7}}
inputs:
  - {{type: mqtt, name: plant, port: {broker.port}, client_id: t-agent, format: json,
     topics: [{{topic: "plant/+/json", qos: 1}}], stream_level: 1}}
streams: [{{match: "pump-*", units: {{temp: Cel}}}}]
storage: {{dir: {tmp_path / "state"}}}
""",
            tmp_path / "agent.yaml",
        )
        agent = Agent(config, decode=decoder(config), inputs=open_inputs(config))
        agent.start()
        lines = [
            json.dumps({"timestamp": 1.7e9 + i, "values": {"temp": 20.0 + i % 3}})
            for i in range(50)
        ]
        lines += ["not json", json.dumps({"timestamp": 1.7e9 + 99, "values": {"temp": "hot"}})]
        subprocess.run(
            ["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", "plant/pump-1/json", "-l"],
            input="\n".join(lines) + "\n",
            text=True,
            check=True,
        )
        deadline = time.monotonic() + 30
        while agent.stats.readings < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        agent.stop()
        agent.close()
    with sqlite3.connect(tmp_path / "state" / "outbox.db") as db:
        seqs = [s for (s,) in db.execute("SELECT seq FROM outbox WHERE kind = 'reading'")]
    assert sorted(seqs) == list(range(50))
    rejected = agent.rejected()
    assert rejected.get("malformed") == 1 and rejected.get("wrong_type") == 1, rejected
