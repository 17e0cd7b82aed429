"""The bridge on its own: a broker over TLS (the published test configuration plus a
certificate) into a real nats-server; a reading sent again is in JetStream once."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import nats

from edgewise.bench._services import Mosquitto, NatsServer
from edgewise.hub._bridge import BridgeSettings, _bridge
from edgewise.hub._jetstream import RECORDS_STREAM
from peers.certs import self_signed

TOPIC = "edgewise/devices/meter-12/readings/power"
PAYLOAD = b'{"seq": 5, "timestamp": 1700000000.0, "values": {"kw": 2.5}}'


async def _bridged(settings: BridgeSettings, publish: list[str]) -> list[dict[str, object]]:
    stop = asyncio.Event()
    bridge = asyncio.create_task(_bridge(settings, stop))
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        for _ in range(100):
            # Sent until it arrives (the bridge may not have subscribed yet), and then twice
            # more: JetStream keeps one, by its Nats-Msg-Id.
            await asyncio.to_thread(subprocess.run, publish, check=True)
            try:
                if (await js.stream_info(RECORDS_STREAM)).state.messages:
                    break
            except nats.js.errors.NotFoundError:
                pass
            await asyncio.sleep(0.2)
        for _ in range(2):
            await asyncio.to_thread(subprocess.run, publish, check=True)
        await asyncio.sleep(0.5)
        stop.set()
        counts = await bridge
        assert counts.forwarded >= 3 and counts.forwarded - counts.duplicates == 1
        state = (await js.stream_info(RECORDS_STREAM)).state
        messages = [await js.get_msg(RECORDS_STREAM, s) for s in range(1, state.last_seq + 1)]
    finally:
        await nc.close()
    return [json.loads(m.data or b"") for m in messages]


def test_the_bridge_reads_a_broker_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "broker")
    tls = f"certfile {cert}\nkeyfile {key}\n"
    with (
        NatsServer(tmp_path / "nats") as server,
        Mosquitto(tmp_path / "mosquitto", options=tls) as broker,
    ):
        settings = BridgeSettings(
            mqtt_port=broker.port, mqtt_ca=str(cert), nats_url=server.url, client_id="tls-test"
        )
        publish = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "--cafile"]
        publish += [str(cert), "-q", "1", "-t", TOPIC, "-m", PAYLOAD.decode()]
        records = asyncio.run(_bridged(settings, publish))
    assert len(records) == 1
    record = records[0]
    assert (record["device"], record["stream"], record["seq"]) == ("meter-12", "power", 5)
    assert record["body"] == {"values": {"kw": 2.5}}
