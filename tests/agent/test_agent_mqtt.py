"""The agent on a real broker: QoS 1 messages in, records out, acknowledged once stored."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

from edgewise.agent import Agent, AgentConfig, parse_config
from edgewise.agent._run import decoder, open_inputs
from edgewise.bench._services import Mosquitto


def run(config: AgentConfig, port: int, topic: str, lines: list[str], readings: int) -> Agent:
    """The agent on ``config`` until ``readings`` are done of ``lines`` published on ``topic``
    (QoS 1), and a moment for the last batch to commit and its acknowledgements to leave."""
    agent = Agent(config, decode=decoder(config), inputs=open_inputs(config))
    agent.start()
    subprocess.run(
        ["mosquitto_pub", "-p", str(port), "-q", "1", "-t", topic, "-l"],
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
    )
    deadline = time.monotonic() + 30
    while agent.stats.readings < readings and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    agent.stop()
    agent.close()
    return agent


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
        lines = [
            json.dumps({"timestamp": 1.7e9 + i, "values": {"temp": 20.0 + i % 3}})
            for i in range(50)
        ]
        lines += ["not json", json.dumps({"timestamp": 1.7e9 + 99, "values": {"temp": "hot"}})]
        agent = run(config, broker.port, "plant/pump-1/json", lines, 50)
    with sqlite3.connect(tmp_path / "state" / "outbox.db") as db:
        seqs = [s for (s,) in db.execute("SELECT seq FROM outbox WHERE kind = 'reading'")]
    assert sorted(seqs) == list(range(50))
    rejected = agent.rejected()
    assert rejected.get("malformed") == 1 and rejected.get("wrong_type") == 1, rejected


def test_senml_packs_of_many_readings_become_records_and_are_acknowledged(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        config = parse_config(
            f"""
version: 1
device: {{id: press-7}}
inputs:
  - {{type: mqtt, name: plant, port: {broker.port}, client_id: t-senml, format: senml+json,
     topics: [{{topic: "plant/senml", qos: 1}}]}}
storage: {{dir: {tmp_path / "state"}}}
""",
            tmp_path / "agent.yaml",
        )
        packs = [
            json.dumps(
                [{"bn": "pump-1/", "bt": 1.7e9 + 200 * m, "n": "temp", "v": 20.0}]
                + [{"n": "temp", "t": k, "v": 20.0 + k % 5} for k in range(1, 200)]
            )
            for m in range(20)
        ]
        run(config, broker.port, "plant/senml", packs, 4000)
        # Every pack was acknowledged: a new session on the same id gets nothing again.
        again = subprocess.run(
            [
                "mosquitto_sub",
                "-p",
                str(broker.port),
                "-q",
                "1",
                "-t",
                "plant/senml",
                "-i",
                "t-senml",
                "-c",
                "-V",
                "mqttv5",
                "-W",
                "1",
            ],
            capture_output=True,
            text=True,
        )
    with sqlite3.connect(tmp_path / "state" / "outbox.db") as db:
        (stored,) = db.execute("SELECT count(*) FROM outbox WHERE kind = 'reading'").fetchone()
    assert stored == 4000
    assert again.stdout == ""
