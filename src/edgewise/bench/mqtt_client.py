"""QoS 1 messages a second an MQTT subscriber takes alone: the agent's client, or paho-mqtt.

The subscriber only counts and acknowledges, pinned to core 0; the broker and ``mosquitto_pub
-l -q 1`` share core 1 (docs/agent-input.md). ``python -m edgewise.bench.mqtt_client [--paho]
[messages]`` prints messages per second.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ._services import Mosquitto
from .agent_speed import _json_lines, _publish

__all__ = ["subscriber_rate"]

_TOPIC = "bench/json"


def _ours(port: int, on_message: Callable[[], None]) -> Callable[[], None]:
    from edgewise.agent import Inbound
    from edgewise.agent.inputs.mqtt import MqttInput, MqttInputConfig, Subscription

    topics = [Subscription(topic=_TOPIC)]
    config = MqttInputConfig(type="mqtt", name="b", port=port, client_id="b-ours", topics=topics)
    client = MqttInput(config)

    def deliver(message: Inbound) -> None:
        assert message.ack is not None
        message.ack()
        on_message()

    client.start(deliver)
    return client.stop


def _paho(port: int, on_message: Callable[[], None]) -> Callable[[], None]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-paho", protocol=mqtt.MQTTv5, manual_ack=True
    )

    def received(c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        c.ack(msg.mid, msg.qos)
        on_message()

    client.on_message = received
    client.on_connect = lambda c, *_: c.subscribe(_TOPIC, 1)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    properties.ReceiveMaximum = 1000
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.loop_start()

    def stop() -> None:
        client.disconnect()
        client.loop_stop()

    return stop


def subscriber_rate(messages: int = 30_000, *, paho: bool = False) -> float:
    """Messages per second from the first to the last one the subscriber took."""
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(Path(tmp) / "broker") as broker:
        assert broker.process is not None
        os.sched_setaffinity(broker.process.pid, {1})
        os.sched_setaffinity(0, {0})
        times: list[float] = []
        done = threading.Event()

        def on_message() -> None:
            times.append(time.perf_counter())
            if len(times) == messages:
                done.set()

        stop = (_paho if paho else _ours)(broker.port, on_message)
        try:
            time.sleep(0.5)  # subscribed
            lines = Path(tmp) / "lines.txt"
            _json_lines(lines, messages, 100)
            publisher = _publish(broker.port, _TOPIC, lines)
            if not done.wait(300):
                raise TimeoutError(f"{len(times)} of {messages} messages in 300 s")
            publisher.wait(60)
        finally:
            stop()
    return (messages - 1) / (times[-1] - times[0])


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--paho"]
    rate = subscriber_rate(int(args[0]) if args else 30_000, paho="--paho" in sys.argv)
    print(f"{rate:,.0f} messages/s")
