"""The MQTT bridge: devices' readings from an MQTT broker into NATS JetStream, none lost.

It subscribes with QoS 1 and a persistent session (the agent's own MQTT 5 client,
:class:`~edgewise.agent.inputs.mqtt.MqttInput`) and acknowledges each MQTT message only after
JetStream has stored what it carried: killed at any moment, the bridge leaves every message
either stored in JetStream or still held by the broker, which sends it again. A message sent
again has the same ``Nats-Msg-Id``, so JetStream stores it once.

Topics and payloads are in ``docs/scaling.md``, *Devices that publish MQTT*.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext

from edgewise.agent import Inbound
from edgewise.agent._uplink import _worth_logging
from edgewise.agent.inputs.mqtt import MqttInput, MqttInputConfig, Subscription

from ._jetstream import (
    RECORDS_SUBJECT,
    Outgoing,
    dead_letter,
    ensure_streams,
    msg_id,
    publish_all,
)
from ._nats import connect, stop_on_signals, unless_stopped
from ._protocol import RecordError, WireRecord, check_record
from ._store import RecordKey

__all__ = ["DEVICE_TOPICS", "MAX_PAYLOAD_BYTES", "BridgeSettings", "parse_reading", "run_bridge"]

DEVICE_TOPICS = "edgewise/devices/+/readings/+"
"""The topic filter the bridge subscribes to: ``edgewise/devices/<device>/readings/<stream>``."""

MAX_PAYLOAD_BYTES = 65_536
"""The largest reading a device may publish; a larger one is a dead letter."""

_FIELDS = frozenset({"seq", "timestamp", "values", "flags"})

log = logging.getLogger("edgewise.hub.bridge")


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not JSON; send null for a missing value")


def parse_reading(*, topic: str, payload: bytes, received: float) -> WireRecord:
    """The reading a device published on ``topic``, as the hub stores it.

    A payload without ``seq`` gets its ``timestamp`` in whole microseconds as its seq: the same
    for every copy of the message, so the record keeps one idempotency key.

    >>> r = parse_reading(topic="edgewise/devices/m-1/readings/power",
    ...                   payload=b'{"timestamp": 1700000000.25, "values": {"kw": 3.5}}',
    ...                   received=1700000000.3)
    >>> r.device, r.stream, r.seq, r.body
    ('m-1', 'power', 1700000000250000, {'values': {'kw': 3.5}})
    >>> parse_reading(topic="edgewise/devices/m-1/readings/power", payload=b'{"seq": 1}',
    ...               received=0.0)
    Traceback (most recent call last):
    ...
    edgewise.hub._protocol.RecordError: timestamp: Field required
    """
    levels = topic.split("/")
    if len(levels) != 5 or levels[:2] != ["edgewise", "devices"] or levels[3] != "readings":
        raise RecordError(f"topic {topic!r} is not edgewise/devices/<device>/readings/<stream>")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise RecordError(f"a payload of {len(payload)} bytes, more than {MAX_PAYLOAD_BYTES}")
    try:
        document = json.loads(payload, parse_constant=_no_constants)
    except (ValueError, RecursionError) as error:
        raise RecordError(f"the payload is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise RecordError("the payload is not a JSON object")
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise RecordError(f"unknown field(s) {', '.join(unknown)}: seq, timestamp, values, flags")
    if "timestamp" not in document:
        raise RecordError("timestamp: Field required")
    timestamp = document["timestamp"]
    seq = document.get("seq")
    if seq is None:
        if not _seconds(timestamp):
            raise RecordError("timestamp: seconds since the epoch, a number >= 0, is needed")
        seq = round(timestamp * 1_000_000)
    body = {k: document[k] for k in ("values", "flags") if k in document}
    record: dict[str, Any] = {
        "device": levels[2],
        "stream": levels[4],
        "kind": "reading",
        "seq": seq,
        "name": "",
        "timestamp": timestamp,
        "received": received,
        "body": body,
    }
    return check_record(record)


def _seconds(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


@dataclass(frozen=True, kw_only=True)
class BridgeSettings:
    """Where the bridge reads and writes, and how much it holds unacknowledged."""

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password_env: str | None = None
    """The environment variable holding the MQTT password: never a command-line argument."""
    mqtt_ca: str | None = None
    """The CA of the broker's certificate: TLS to the broker when given."""
    client_id: str = "edgewise-bridge"
    in_flight: int = 1000
    """MQTT messages the broker sends before their PUBACKs (MQTT 5 Receive Maximum)."""
    nats_url: str = "nats://127.0.0.1:4222"
    nats_creds: str | None = None


class _Counts:
    def __init__(self) -> None:
        self.forwarded = self.duplicates = self.dead = 0


async def _forward(js: JetStreamContext, batch: list[Inbound], counts: _Counts) -> None:
    """Put every message of ``batch`` in JetStream: its record, or a dead letter."""
    records: list[Outgoing] = []
    for message in batch:
        payload = message.payload
        assert isinstance(payload, bytes)  # an MQTT input delivers bytes
        try:
            record = parse_reading(topic=message.topic, payload=payload, received=message.received)
        except RecordError as error:
            counts.dead += 1
            if _worth_logging(counts.dead):
                log.warning(
                    "dead letter %d: %r refused: %s", counts.dead, message.topic[:200], error
                )
            letter = {
                "topic": message.topic,
                "payload_base64": base64.b64encode(payload).decode(),
                "reason": str(error),
            }
            ident = hashlib.sha256(message.topic.encode() + b"\0" + payload).hexdigest()
            await dead_letter(js, letter, ident)
            continue
        key = RecordKey(record.device, record.stream, record.kind, record.seq, record.name)
        records.append((RECORDS_SUBJECT, record.model_dump_json().encode(), msg_id(key)))
    fresh = await publish_all(js, records)
    counts.forwarded += len(fresh)
    counts.duplicates += fresh.count(False)


async def _bridge(settings: BridgeSettings, stop: asyncio.Event) -> _Counts:
    nc = await connect(settings.nats_url, creds=settings.nats_creds, name="edgewise-bridge")
    counts = _Counts()
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[Inbound] = asyncio.Queue()
        mqtt = MqttInput(
            MqttInputConfig.model_validate(
                {
                    "type": "mqtt",
                    "name": "bridge",
                    "host": settings.mqtt_host,
                    "port": settings.mqtt_port,
                    "topics": [Subscription(topic=DEVICE_TOPICS, qos=1)],
                    "format": "json",
                    "client_id": settings.client_id,
                    "receive_maximum": settings.in_flight,
                    "username": settings.mqtt_username,
                    "password": None
                    if settings.mqtt_password_env is None
                    else {"env": settings.mqtt_password_env},
                    "tls": None if settings.mqtt_ca is None else {"ca": settings.mqtt_ca},
                }
            )
        )

        def deliver(message: Inbound) -> None:
            # Called on the MQTT client's thread: hand over to the loop, never block.
            loop.call_soon_threadsafe(inbox.put_nowait, message)

        mqtt.start(deliver)
        try:
            while not stop.is_set():
                try:
                    batch = [await asyncio.wait_for(inbox.get(), 0.5)]
                except TimeoutError:
                    continue
                while len(batch) < settings.in_flight and not inbox.empty():
                    batch.append(inbox.get_nowait())
                if not await unless_stopped(_forward(js, batch, counts), stop):
                    break
                # Only now is every message of the batch in JetStream; PUBACKs go in the
                # order the messages came, as MQTT asks.
                for message in batch:
                    if message.ack is not None:
                        message.ack()
        finally:
            mqtt.stop()  # sends the PUBACKs queued, then DISCONNECT: the session stays
    finally:
        await nc.close()
    return counts


def run_bridge(settings: BridgeSettings) -> None:
    """Bridge until SIGINT or SIGTERM; then log what was forwarded."""

    async def main() -> _Counts:
        return await _bridge(settings, stop_on_signals())

    counts = asyncio.run(main())
    log.info(
        "bridge stopped: %d readings forwarded (%d already in JetStream), %d dead letters",
        counts.forwarded,
        counts.duplicates,
        counts.dead,
    )
