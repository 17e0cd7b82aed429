"""What an operator sees: ``/metrics``, ``/healthz`` and ``edgewise agent dead-letters``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from edgewise.agent import Agent, AgentConfig, Record, Uplink, parse_config
from edgewise.agent._metrics import MetricsServer
from edgewise.cli import app


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    os.environ["EDGEWISE_TEST_HUB_TOKEN"] = "t0ken"
    path = tmp_path / "agent.yaml"
    path.write_text(
        f"""
version: 1
device: {{id: press-7}}
inputs: [{{type: replay, name: feed, path: unused.csv}}]
uplink: {{url: "https://hub.test", token: {{env: EDGEWISE_TEST_HUB_TOKEN}}}}
storage: {{dir: {tmp_path / "state"}}}
"""
    )
    return path


@pytest.fixture
def agent(config_path: Path) -> Iterator[Agent]:
    made = Agent(parse_config(config_path.read_text(), config_path))
    yield made
    made.close()


def uplink_to(agent: Agent, handler: httpx.MockTransport) -> Uplink:
    config = agent.config
    assert isinstance(config, AgentConfig) and config.uplink is not None
    return Uplink(
        config.uplink,
        agent="press-7",
        outbox=agent.outbox,
        on_command=lambda _: True,
        transport=handler,
    )


def scrape(agent: Agent, uplink: Uplink, path: str) -> httpx.Response:
    server = MetricsServer(agent, uplink, host="127.0.0.1", port=0)
    server.start()
    try:
        return httpx.get(f"http://127.0.0.1:{server.port}{path}")
    finally:
        server.stop()


def reading(seq: int) -> Record:
    return Record("press-7", "pump-1", "reading", seq, "", 1.7e9 + seq, None, {"values": {}})


def test_an_unauthorised_uplink_shows_in_healthz_and_metrics(agent: Agent) -> None:
    agent.outbox.put([reading(0)], journal=[], upstream=True)
    link = uplink_to(agent, httpx.MockTransport(lambda _: httpx.Response(403, json={})))
    assert scrape(agent, link, "/healthz").json()["uplink"] == "ok"
    link.send_once()
    health = scrape(agent, link, "/healthz").json()
    assert health["uplink"] == "unauthorised" and health["outbox_records"] == 1
    assert "edgewise_agent_uplink_unauthorised 1.0" in scrape(agent, link, "/metrics").text


def test_dead_letters_are_counted_in_metrics_and_printed_by_the_cli(
    agent: Agent, config_path: Path
) -> None:
    agent.outbox.put([reading(0), reading(1)], journal=[], upstream=True)
    refuse = {"rejected": [{"index": 1, "reason": "body.values.t: not a number"}]}
    link = uplink_to(agent, httpx.MockTransport(lambda _: httpx.Response(422, json=refuse)))
    link.send_once()
    metrics = scrape(agent, link, "/metrics").text
    assert 'edgewise_agent_outbox_dead_letters_total{kind="reading"} 1.0' in metrics
    assert 'edgewise_agent_uplink_total{outcome="dead_letters"} 1.0' in metrics
    result = CliRunner().invoke(app, ["agent", "dead-letters", "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    letter = json.loads(line)
    assert letter["record"] == reading(1).wire()
    assert letter["reason"] == "body.values.t: not a number"
    assert "1 dead letter(s)" in result.stderr


def test_dead_letters_without_an_outbox_is_one_line(tmp_path: Path, config_path: Path) -> None:
    result = CliRunner().invoke(app, ["agent", "dead-letters", "--config", str(config_path)])
    assert result.exit_code == 2
    assert (
        result.stderr == f"edgewise: error: {tmp_path / 'state'}/outbox.db: no outbox yet"
        " (the agent has not run with this storage.dir)\n"
    )
