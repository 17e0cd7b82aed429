"""The agent's configuration: every error at file:line:column, secrets never inline."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgewise.agent import ConfigError, load_config, parse_config
from edgewise.cli import app

GOOD = """\
version: 1
device: {id: press-7}
inputs:
  - type: mqtt
    name: plant
    client_id: agent-press-7
    topics: [{topic: "plant/+/telemetry"}]
    password: {env: MQTT_PASSWORD}
    username: agent
pipelines:
  pumps:
    version: 1
    steps: [{step: range_limit, params: {low: -40, high: 125}}, {step: default}]
streams:
  - {match: "pump-*", pipeline: pumps, units: {temp: Cel}}
"""


def errors_of(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.errors


def test_a_good_configuration_loads_with_its_defaults(tmp_path: Path) -> None:
    config = parse_config(GOOD, tmp_path / "agent.yaml")
    assert config.device.id == "press-7"
    assert config.stream_config("pump-3") is config.streams[0]
    assert config.stream_config("fan-1") is None
    assert config.storage.max_outbox_mb == 256.0


def test_every_error_is_reported_at_its_line_and_column(tmp_path: Path) -> None:
    bad = (
        GOOD.replace("port_unused", "")
        .replace(
            "    client_id: agent-press-7\n", "    client_id: agent-press-7\n    port: 99999\n"
        )
        .replace("pipeline: pumps", "pipeline: fans")
    )
    found = errors_of(bad, tmp_path)
    assert found == [
        f"{tmp_path / 'agent.yaml'}:7:11: inputs.0.mqtt.port: Input should be less "
        "than or equal to 65535"
    ]
    # References between sections are checked once the types are right.
    found = errors_of(GOOD.replace("pipeline: pumps", "pipeline: fans"), tmp_path)
    assert found == [
        f"{tmp_path / 'agent.yaml'}:15:33: streams.0.pipeline: "
        "no pipeline 'fans' (known: default, pumps)"
    ]


def test_a_secret_written_inline_is_refused(tmp_path: Path) -> None:
    found = errors_of(GOOD.replace("{env: MQTT_PASSWORD}", "hunter2"), tmp_path)
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'agent.yaml'}:8:15: inputs.0.mqtt.password:")
    assert "hunter2" not in found[0]


def test_a_pipeline_that_does_not_build_names_its_step(tmp_path: Path) -> None:
    found = errors_of(GOOD.replace("high: 125", "high: warm"), tmp_path)
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'agent.yaml'}:12:5: pipelines.pumps:")
    assert "range_limit" in found[0] and "high" in found[0]


def test_yaml_syntax_errors_have_a_position(tmp_path: Path) -> None:
    found = errors_of("version: 1\ndevice: {id: [\n", tmp_path)
    assert found[0].startswith(f"{tmp_path / 'agent.yaml'}:3:1: ")


def test_agent_check_prints_each_error_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(
        GOOD.replace("version: 1\ndevice", "version: 2\ndevice").replace(
            "id: press-7", "id: 'press 7'"
        )
    )
    result = CliRunner().invoke(app, ["agent", "check", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}:1:10: version: Input should be 1")
    assert lines[1].startswith(f"{path}:2:14: device.id: String should match pattern")
    path.write_text(GOOD)
    ok = CliRunner().invoke(app, ["agent", "check", str(path)])
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("example", sorted(Path("docs/examples").glob("agent*.yaml")), ids=str)
def test_the_documented_examples_are_valid(example: Path) -> None:
    load_config(example)


def test_an_uplink_ca_that_holds_no_certificate_is_reported_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    uplink = f"uplink: {{url: 'https://hub.test', token: {{env: T}}, ca: {tmp_path}/ca.pem}}\n"
    found = errors_of(GOOD + uplink, tmp_path)
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'agent.yaml'}:16:")
    assert f"uplink.ca: {tmp_path}/ca.pem: no CA certificate could be read" in found[0]
