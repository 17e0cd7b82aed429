"""The MQTT input against Mosquitto: QoS 0 and 1, the persistent session, TLS, passwords,
reconnects, keepalive, refused subscriptions; and against a scripted broker, malformed packets."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgewise.agent.inputs.mqtt import MqttInput, MqttInputConfig
from edgewise.bench._proxy import TcpProxy
from edgewise.bench._services import Mosquitto
from peers.certs import self_signed
from peers.mqtt_scripted import ScriptedBroker, connack, packet, publish, suback
from peers.servers import Collector


def config(port: int, **fields: Any) -> MqttInputConfig:
    return MqttInputConfig.model_validate(
        {
            "type": "mqtt",
            "name": "plant",
            "port": port,
            "client_id": "t-input",
            "topics": [{"topic": "plant/#", "qos": 1}],
            "format": "json",
        }
        | fields
    )


def send(port: int, topic: str, lines: list[str], qos: int = 1, *options: str) -> None:
    subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-q",
            str(qos),
            "-t",
            topic,
            "-l",
            *options,
        ],
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
    )


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "broker") as running:
        yield running


@pytest.fixture
def running(request: pytest.FixtureRequest) -> Iterator[list[MqttInput]]:
    """Inputs a test starts, stopped after it whatever happens."""
    inputs: list[MqttInput] = []
    yield inputs
    for started in inputs:
        started.stop()


def start(inputs: list[MqttInput], cfg: MqttInputConfig, collector: Collector) -> MqttInput:
    mqtt = MqttInput(cfg)
    mqtt.start(collector)
    inputs.append(mqtt)
    return mqtt


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_qos_0_and_1_messages_arrive_with_their_topic_level_as_stream(
    broker: Mosquitto, running: list[MqttInput], collector: Collector
) -> None:
    cfg = config(
        broker.port,
        topics=[{"topic": "plant/+/fast", "qos": 0}, {"topic": "plant/+/kept"}],
        stream_level=1,
    )
    mqtt = start(running, cfg, collector)
    wait_until(lambda: mqtt.connected)
    time.sleep(0.2)  # the SUBACK
    send(broker.port, "plant/pump-1/kept", [f'{{"n": {i}}}' for i in range(300)])
    send(broker.port, "plant/fan-2/fast", ['{"n": "fast"}'], 0)
    messages = collector.wait_messages(301)
    kept = [m for m in messages if m.topic == "pump-1"]
    assert [m.payload for m in kept] == [f'{{"n": {i}}}'.encode() for i in range(300)]
    assert all(m.upstream_copy and m.ack is not None and m.source == "plant" for m in kept)
    (fast,) = [m for m in messages if m.topic == "fan-2"]
    assert fast.payload == b'{"n": "fast"}' and fast.ack is None and not fast.upstream_copy


def test_unacknowledged_messages_come_again_after_a_crash_and_acknowledged_ones_do_not(
    broker: Mosquitto, running: list[MqttInput], collector: Collector
) -> None:
    proxy = TcpProxy(broker.port)  # cutting it is a crash to the broker: no DISCONNECT
    first = start(running, config(proxy.port), collector)
    wait_until(lambda: first.connected)
    time.sleep(0.2)
    send(broker.port, "plant/a", [str(i) for i in range(100)])
    for message in collector.wait_messages(100)[:60]:
        assert message.ack is not None
        message.ack()
    time.sleep(0.5)  # the acknowledgements reach the broker
    proxy.set_mode("drop")
    first.stop()
    send(broker.port, "plant/a", [str(i) for i in range(100, 120)])  # kept for the session

    again = Collector()
    second = start(running, config(broker.port), again)
    again.wait_messages(60)
    time.sleep(0.5)  # anything more would come now
    assert sorted(int(m.payload) for m in again.messages) == list(range(60, 120))

    # Acknowledgements from the lost connection are not sent on the new one, where the broker may
    # have given their packet identifiers to other messages: these stay unacknowledged.
    for message in collector.messages[60:]:
        assert message.ack is not None
        message.ack()
    time.sleep(0.5)
    second.stop()
    third = Collector()
    start(running, config(broker.port), third)
    third.wait_messages(60)
    time.sleep(0.5)
    assert sorted(int(m.payload) for m in third.messages) == list(range(60, 120))


def test_tls_with_a_client_certificate(
    tmp_path: Path, running: list[MqttInput], collector: Collector
) -> None:
    server_cert, server_key = self_signed(tmp_path, "broker")
    client_cert, client_key = self_signed(tmp_path, "agent")
    options = (
        f"certfile {server_cert}\nkeyfile {server_key}\n"
        f"cafile {client_cert}\nrequire_certificate true\n"
    )
    with Mosquitto(tmp_path / "broker", options=options) as broker:
        tls = {"ca": server_cert, "cert": client_cert, "key": client_key}
        mqtt = start(running, config(broker.port, tls=tls), collector)
        wait_until(lambda: mqtt.connected)
        time.sleep(0.2)
        tls_options = ["--cafile", str(server_cert), "--cert", str(client_cert)]
        send(broker.port, "plant/a", ["1", "2"], 1, *tls_options, "--key", str(client_key))
        assert [m.payload for m in collector.wait_messages(2)] == [b"1", b"2"]


def test_username_and_password_and_a_refused_one_never_logged(
    tmp_path: Path,
    running: list[MqttInput],
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "edge", "s3cret"], check=True)
    options = f"allow_anonymous false\npassword_file {passwords}\n"
    monkeypatch.setenv("T_MQTT_PASSWORD", "s3cret")
    monkeypatch.setenv("T_MQTT_WRONG", "hunter2")
    caplog.set_level(logging.INFO, "edgewise.agent.mqtt")
    with Mosquitto(tmp_path / "broker", options=options) as broker:
        wrong = {"env": "T_MQTT_WRONG"}
        refused = config(broker.port, client_id="t-wrong", username="edge", password=wrong)
        start(running, refused, Collector())
        good = config(broker.port, username="edge", password={"env": "T_MQTT_PASSWORD"})
        mqtt = start(running, good, collector)
        wait_until(lambda: mqtt.connected)
        time.sleep(0.2)
        send(broker.port, "plant/a", ["1"], 1, "-u", "edge", "-P", "s3cret")
        assert [m.payload for m in collector.wait_messages(1)] == [b"1"]
        refusal = f"connection refused by 127.0.0.1:{broker.port}: Not authorized (0x87)"
        wait_until(lambda: refusal in caplog.text)
    assert "s3cret" not in caplog.text and "hunter2" not in caplog.text


def test_the_input_reconnects_when_the_broker_restarts(
    tmp_path: Path, running: list[MqttInput], collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "edgewise.agent.mqtt")
    broker = Mosquitto(tmp_path / "broker").start()
    try:
        mqtt = start(running, config(broker.port), collector)
        wait_until(lambda: mqtt.connected)
        time.sleep(0.2)
        send(broker.port, "plant/a", ["1"])
        (first,) = collector.wait_messages(1)
        assert first.ack is not None
        first.ack()
        broker.stop()
        wait_until(lambda: not mqtt.connected)
        broker.start()
        wait_until(lambda: mqtt.connected)
        time.sleep(0.2)
        send(broker.port, "plant/a", ["2"])
        # "1" may come twice: at least once, if its acknowledgement left as the broker stopped.
        wait_until(lambda: [m.payload for m in collector.messages][-1:] == [b"2"])
    finally:
        broker.stop()
    assert "(session resumed)" in caplog.text  # the broker kept the session on disk


def test_keepalive_pings_a_live_broker_and_leaves_a_silent_one(
    broker: Mosquitto,
    running: list[MqttInput],
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "edgewise.agent.mqtt")
    proxy = TcpProxy(broker.port)
    # One second, below what the configuration allows, to keep the test short.
    cfg = config(proxy.port).model_copy(update={"keepalive_s": 1})
    mqtt = start(running, cfg, collector)
    wait_until(lambda: mqtt.connected)
    time.sleep(3.5)  # pings answered: still the first connection
    assert caplog.text.count("connected to") == 1 and "ping" not in caplog.text
    proxy.set_mode("blackhole")
    wait_until(lambda: "no answer to a ping" in caplog.text, timeout=10)
    proxy.set_mode("pass")
    wait_until(lambda: caplog.text.count("connected to") == 2 and mqtt.connected, timeout=20)


def test_a_refused_subscription_is_logged_and_the_others_work(
    running: list[MqttInput], collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    # Scripted: Mosquitto 2.0 grants what its ACL denies (and filters at delivery).
    refused = suback(1, [0x87, 0x01]) + publish(b"plant/a", b"1", qos=1, packet_id=1)
    broker = ScriptedBroker([{8: refused}])
    try:
        cfg = config(broker.port, topics=[{"topic": "secret/#"}, {"topic": "plant/#"}])
        mqtt = start(running, cfg, collector)
        assert [m.payload for m in collector.wait_messages(1)] == [b"1"]
        assert mqtt.connected
    finally:
        broker.close()
    assert "subscription to 'secret/#' refused by" in caplog.text
    assert "Not authorized (0x87)" in caplog.text
    assert len(broker.received) == 1  # no reconnect for it


@pytest.mark.parametrize(
    ("sent", "logged", "reason"),
    [
        (packet(0x32, b"\x00\x09a/b\x00\x01\x00"), "cut short before its packet identifier", 0x81),
        (b"\x30\xff\xff\xff\xff\x01", "remaining length longer than four bytes", 0x81),
        (publish(b"\xff/x", b"1"), "a topic that is not UTF-8", 0x81),
        (packet(0x30, b"\x00\x01a\x02\x7f\x00"), "unknown property 0x7F", 0x81),
        (publish(b"a", b"1", qos=2, packet_id=1), "a QoS 2 message", 0x9B),
        (packet(0x62, b"\x00\x01"), "unexpected packet of type 6", 0x82),
        (packet(0x90, b"\x00\x01\x00\x01\x01"), "2 reason codes for 1 topic filters", 0x81),
        (packet(0xE0, b"\x8b\x06\x1f\x00\x03bye"), "Server shutting down (0x8B) (bye)", None),
    ],
)
def test_a_bad_packet_from_the_broker_is_logged_and_the_input_reconnects(
    sent: bytes,
    logged: str,
    reason: int | None,
    running: list[MqttInput],
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = publish(b"plant/a", b"after", qos=1, packet_id=9)
    broker = ScriptedBroker([{8: sent}, {8: good}])
    try:
        mqtt = start(running, config(broker.port), collector)
        (message,) = collector.wait_messages(1)
        assert message.payload == b"after"
        assert message.ack is not None
        message.ack()
        wait_until(lambda: (0x40, b"\x00\x09") in broker.received[1])
        assert mqtt.connected
    finally:
        broker.close()
    assert logged in caplog.text
    last = broker.received[0][-1]
    if reason is None:
        assert last[0] != 0xE0  # the broker hung up: no DISCONNECT back
    else:
        assert last == (0xE0, bytes((reason,)))


def test_a_refused_connection_is_logged_by_name(
    running: list[MqttInput], collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    broker = ScriptedBroker([{1: connack(0x8A, {0x1F: "go away"})}, {}])
    try:
        mqtt = start(running, config(broker.port), collector)
        broker.wait_connections(2)
        wait_until(lambda: mqtt.connected)
    finally:
        broker.close()
    assert f"connection refused by 127.0.0.1:{broker.port}: Banned (0x8A) (go away)" in caplog.text
