"""MQTT subscriptions (paho-mqtt): messages are acknowledged to the broker only once stored.

The client runs MQTT 5 with a persistent session (a fixed client id, no clean start, a session
expiry), so the broker keeps QoS 1 messages while the agent is away. Acknowledgements are manual:
the agent calls each message's ``ack`` after the outbox transaction holding it commits, so a crash
before then makes the broker deliver it again. ``receive_maximum`` caps the messages the broker
sends before their acknowledgements: the agent's window of messages in flight.
"""

from __future__ import annotations

import logging
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._inbound import Deliver, Inbound
from .._secret import Secret

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

__all__ = ["MqttInput", "MqttInputConfig", "MqttTls", "Subscription"]

log = logging.getLogger("edgewise.agent.mqtt")

PayloadFormat = Literal["json", "cbor", "senml+json", "senml+cbor"]


class Subscription(BaseModel):
    """One topic filter and its quality of service."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1)
    qos: Literal[0, 1] = 1


class MqttTls(BaseModel):
    """TLS to the broker: its CA, and the agent's own certificate if the broker asks for one."""

    model_config = ConfigDict(extra="forbid")

    ca: Path
    cert: Path | None = None
    key: Path | None = None


class MqttInputConfig(BaseModel):
    """An MQTT input: broker, subscriptions, payload format, where the stream name comes from."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["mqtt"]
    name: str = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topics: list[Subscription] = Field(min_length=1)
    format: PayloadFormat = "senml+json"
    stream_level: int | None = Field(
        default=None,
        description="Take the stream name from this level of the topic (0 = first), for payloads "
        "that do not name their stream.",
    )
    client_id: str = Field(min_length=1)
    session_expiry_s: int = Field(default=86_400, ge=0)
    receive_maximum: int = Field(default=1000, ge=1, le=65_535)
    keepalive_s: int = Field(default=30, ge=5)
    username: str | None = None
    password: Secret | None = None
    tls: MqttTls | None = None


class MqttInput:
    """Deliver every message of the subscriptions, with an ``ack`` that tells the broker."""

    def __init__(self, config: MqttInputConfig) -> None:
        self.config = config
        self.name = config.name
        self._client: mqtt.Client | None = None
        self.connected = False

    def start(self, deliver: Deliver) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        cfg = self.config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if cfg.username is not None:
            password = None if cfg.password is None else cfg.password.reveal()
            client.username_pw_set(cfg.username, password)
        if cfg.tls is not None:
            client.tls_set(
                ca_certs=str(cfg.tls.ca),
                certfile=None if cfg.tls.cert is None else str(cfg.tls.cert),
                keyfile=None if cfg.tls.key is None else str(cfg.tls.key),
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        stream_level = cfg.stream_level

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                log.warning("mqtt %s: connection refused: %s", self.name, reason)
                return
            self.connected = True
            c.subscribe([(s.topic, int(s.qos)) for s in cfg.topics])
            log.info("mqtt %s: connected to %s:%d", self.name, cfg.host, cfg.port)

        def on_disconnect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            self.connected = False
            log.warning("mqtt %s: disconnected: %s", self.name, reason)

        def on_message(c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            mid, qos = msg.mid, msg.qos

            def ack() -> None:
                c.ack(mid, qos)

            topic = msg.topic
            if stream_level is not None:
                levels = topic.split("/")
                topic = levels[stream_level] if stream_level < len(levels) else topic
            deliver(
                Inbound(
                    self.name,
                    topic,
                    bytes(msg.payload),
                    cfg.format,
                    time.time(),
                    ack if qos else None,
                    upstream_copy=qos > 0,
                )
            )

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = cfg.session_expiry_s
        properties.ReceiveMaximum = cfg.receive_maximum
        client.connect_async(
            cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=False, properties=properties
        )
        client.loop_start()
        self._client = client

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
