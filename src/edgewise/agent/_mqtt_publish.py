"""A ``publish`` callable for MQTT actions: its own paho-mqtt client on the local broker."""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path
from typing import Any

from ._secret import Secret

__all__ = ["MqttPublisher"]

log = logging.getLogger("edgewise.agent.actions")


class MqttPublisher:
    """Publishes action commands through its own client, connected in the background.

    Its own client, apart from the inputs' subscriptions, so a command never waits behind
    their traffic. A call waits up to ``timeout_s`` for a connection and, at QoS 1, for the
    broker's PUBACK, and raises if either does not come (the action is then counted as failed).
    ``ca`` turns TLS on.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 1883,
        client_id: str = "",
        username: str | None = None,
        password: Secret | None = None,
        ca: Path | None = None,
        keepalive_s: int = 30,
        timeout_s: float = 5.0,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._connected = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            client.username_pw_set(username, None if password is None else password.reveal())
        if ca is not None:
            client.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.reconnect_delay_set(min_delay=1, max_delay=30)

        def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                log.warning("actions mqtt: connection refused: %s", reason)
                return
            self._connected.set()

        def on_disconnect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            self._connected.clear()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.connect_async(host, port, keepalive=keepalive_s)
        client.loop_start()
        self._client = client

    @property
    def connected(self) -> bool:
        """Whether the client is connected to the broker now."""
        return self._connected.is_set()

    def __call__(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Publish; at QoS 1, return once the broker acknowledged it. Raise otherwise."""
        from paho.mqtt.client import MQTT_ERR_SUCCESS, error_string

        if not self._connected.wait(self.timeout_s):
            raise ConnectionError(f"not connected to {self.host}:{self.port}")
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTT_ERR_SUCCESS:
            raise ConnectionError(f"publish failed: {error_string(info.rc)}")
        if qos > 0:
            info.wait_for_publish(self.timeout_s)
            if not info.is_published():
                raise TimeoutError(f"no PUBACK within {self.timeout_s} s")

    def close(self) -> None:
        """Disconnect and stop the client's thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MqttPublisher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
