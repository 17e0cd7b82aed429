"""The real agent uplink and outbox against the real hub: everything once, commands round trip."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hubtest import Hub, serve

from edgewise.agent._config import UplinkConfig
from edgewise.agent._outbox import Outbox, Record
from edgewise.agent._secret import Secret
from edgewise.agent._uplink import Uplink
from edgewise.hub import queue_command, session, stored_keys, upgrade
from edgewise.hub._models import Command
from peers.certs import self_signed


def uplink_config(url: str, token: str, **options: Any) -> UplinkConfig:
    os.environ["EDGEWISE_TEST_HUB_TOKEN"] = token
    return UplinkConfig(url=url, token=Secret(env="EDGEWISE_TEST_HUB_TOKEN"), **options)


def test_the_agents_uplink_delivers_everything_once_and_applies_commands(
    hub: Hub, tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "outbox.db", max_bytes=1 << 24)
    readings = [
        Record("plc-1", "pump-1", "reading", i, "", 1.7e9 + i, None, {"values": {"t": 1.0 * i}})
        for i in range(120)
    ]
    event_body = {"score": 0.99, "explanation": "t=7", "detector": "default", "model_version": "v"}
    event = Record("plc-1", "pump-1", "event", 7, "alarm", 1.7e9 + 7, None, event_body)
    box.put([*readings, event], journal=[], upstream=True)
    relearn = queue_command(hub.db_url, "plc-1", "relearn", stream="pump-1")
    spec = {"spec": {"version": 1, "steps": [{"step": "nope"}]}, "streams": "*"}
    pipeline = queue_command(hub.db_url, "press-7", "pipeline", body=spec)
    config = uplink_config(hub.url, hub.token, batch_records=50)
    applied: list[Any] = []
    link = Uplink(config, agent="press-7", outbox=box, on_command=applied.append)
    try:
        for _ in range(10):
            if not box.pending():
                break
            link.send_once()
        assert box.pending() == 0 and link.failures == 0
        # The agent applied one and refused the other (its spec does not build).
        box.put([], journal=[], upstream=False, applied={relearn: None, pipeline: "no 'nope'"})
        link.send_once()
        assert box.unacked_commands() == []
    finally:
        link.stop()
        box.close()
    keys = stored_keys(hub.db_url)
    assert keys[0] == ("plc-1", "pump-1", "event", 7, "alarm")  # events go first
    assert [k.seq for k in keys[1:]] == list(range(120))
    assert {c["id"] for c in applied} == {relearn, pipeline}  # handed over until acknowledged
    with session(hub.db_url) as s:
        assert [(c.id, c.refused) for c in s.scalars(sa.select(Command).order_by(Command.id))] == [
            (relearn, None),
            (pipeline, "no 'nope'"),
        ]

    assert hub.post([]).json()["commands"] == []


def test_the_uplink_trusts_a_tls_hub_through_its_ca_file_and_nothing_else(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(db)
    cert, key = self_signed(tmp_path)
    server, token = serve(db, tls=(cert, key))
    box = Outbox(tmp_path / "outbox.db", max_bytes=1 << 20)
    box.put(
        [Record("press-7", "s", "reading", 0, "", 1.7e9, None, {"values": {}})],
        journal=[],
        upstream=True,
    )
    with server:
        assert server.url.startswith("https://")
        stranger = Uplink(
            uplink_config(server.url, token), agent="press-7", outbox=box, on_command=lambda _: True
        )
        trusting = Uplink(
            uplink_config(server.url, token, ca=cert),
            agent="press-7",
            outbox=box,
            on_command=lambda _: True,
        )
        try:
            stranger.send_once()  # the system's CAs do not know this hub
            assert stranger.failures == 1 and box.pending() == 1
            trusting.send_once()
            assert trusting.failures == 0 and box.pending() == 0
        finally:
            stranger.stop()
            trusting.stop()
            box.close()
    assert stored_keys(db) == [("press-7", "s", "reading", 0, "")]


def test_a_record_the_real_hub_refuses_is_set_aside_and_the_rest_stored_once(
    hub: Hub, tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "outbox.db", max_bytes=1 << 24)
    records = [
        Record("plc-1", "pump-1", "reading", i, "", 1.7e9 + i, None, {"values": {"t": 1.0 * i}})
        for i in range(30)
    ]
    records[12] = Record("plc-1", "pump-1", "reading", 12, "", 1.7e9, None, {"valeus": {}})
    box.put(records, journal=[], upstream=True)
    link = Uplink(
        uplink_config(hub.url, hub.token, batch_records=8),
        agent="press-7",
        outbox=box,
        on_command=lambda _: True,
    )
    try:
        for _ in range(10):
            if box.pending():
                link.send_once()
        assert box.pending() == 0 and link.failures == 0
        letters = box.dead_letters()
        counters = box.counters()
    finally:
        link.stop()
        box.close()
    assert [k.seq for k in stored_keys(hub.db_url)] == [i for i in range(30) if i != 12]
    assert [(d["record"]["seq"], d["record"]["body"]) for d in letters] == [(12, {"valeus": {}})]
    assert letters[0]["reason"].startswith("body.values: Field required")
    assert counters["dead_letter_reading"] == 1 and link.counts["dead_letters"] == 1
