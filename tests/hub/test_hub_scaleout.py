"""Scale-out for real: MQTT devices → bridge → NATS JetStream → two hub workers → PostgreSQL.

A nats-server and a Mosquitto of our own with the published test configurations, the bridge and
two ``edgewise hub consume`` processes; one worker is frozen then killed with SIGKILL
mid-stream, and every reading must be stored exactly once (``edgewise.bench.scaleout``, which
``edgewise bench scaleout`` runs at full size).
"""

from __future__ import annotations

import contextlib
import json

import pytest
from hub_fixtures import _pg_admin_url
from typer.testing import CliRunner

from edgewise.bench.scaleout import run_scaleout
from edgewise.cli import app


@pytest.fixture
def scaleout_pg() -> str:
    """The URL of database ``test_scaleout`` (made when missing); the run takes a schema in it."""
    import psycopg

    admin = _pg_admin_url()
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = 'test_scaleout'"
        ).fetchone()
        if exists is None:
            # Another run may make it at the same moment: then it exists, as wanted.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                connection.execute("CREATE DATABASE test_scaleout")
    return admin.rsplit("/", 1)[0] + "/test_scaleout"


def test_a_killed_worker_loses_nothing_and_duplicates_nothing(scaleout_pg: str) -> None:
    result = run_scaleout(readings=3000, devices=4, rate=1000, ack_wait_s=2.0, pg_url=scaleout_pg)
    shown = json.dumps(result, indent=1)
    assert result["failed_publishers"] == 0, shown
    assert result["stored"] == result["published"] == 3000, shown
    assert result["lost"] == 0 and result["duplicates"] == 0 and result["unexpected"] == 0, shown
    # Killed mid-stream, holding messages that the other worker then got and stored.
    assert 0 < result["killed_after"] < 3000, shown
    assert result["redelivered"] > 0, shown
    # Then the bridge was killed, and a new one took over its MQTT session.
    assert result["killed_after"] <= result["bridge_killed_after"] < 3000, shown
    reasons = result["dead_letter_reasons"]
    assert len(reasons) == 2, shown
    assert reasons[0] == "device 'intruder' is not registered in the hub", shown
    assert reasons[1].startswith("the payload is not JSON"), shown


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bridge", "--mqtt", "http://127.0.0.1:1883"], "give mqtt://HOST[:PORT]"),
        (["bridge", "--mqtt", "mqtts://broker.example"], "mqtts:// needs --mqtt-ca FILE"),
        (["bridge", "--mqtt", "mqtt://dev:secret@127.0.0.1"], "holds credentials"),
        (["bridge", "--nats", "nats://hub:secret@127.0.0.1:4222"], "holds credentials"),
        (["bridge", "--nats", "http://127.0.0.1:4222"], "is not nats://HOST:PORT"),
        (["consume", "--db", "sqlite:///x.db", "--nats", "tcp://h:1"], "is not nats://HOST:PORT"),
    ],
)
def test_bad_addresses_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = runner.invoke(app, ["hub", *args])
    assert done.exit_code == 2, done.output
    assert message in done.output
    assert "secret" not in done.output


def test_no_mqtt_password_in_clear_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEWISE_BRIDGE_MQTT_PASSWORD", "s3cret")
    args = ["hub", "bridge", "--mqtt", "mqtt://broker.example", "--mqtt-username", "bridge"]
    done = runner.invoke(app, args)
    assert done.exit_code == 2, done.output
    assert "refusing to send the MQTT password in clear to broker.example" in done.output
    assert "s3cret" not in done.output


def test_the_bench_refuses_fewer_readings_than_devices() -> None:
    done = runner.invoke(app, ["bench", "scaleout", "--readings", "100", "--devices", "200"])
    assert done.exit_code == 2, done.output
    assert "--readings 100 is fewer than --devices 200" in done.output


def test_the_bench_says_when_postgresql_does_not_answer() -> None:
    done = runner.invoke(app, ["bench", "scaleout", "--db", "postgresql://u:pw@127.0.0.1:1/x"])
    assert done.exit_code == 2, done.output
    assert "--db: PostgreSQL does not answer" in done.output
    assert "pw" not in done.output
