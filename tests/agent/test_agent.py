"""The agent end to end in one process: pipelines, events, checkpoints, crash recovery."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.agent import Agent, AgentConfig, Event, Inbound, parse_config
from edgewise.agent._decode import decode
from edgewise.agent._inbound import Deliver
from edgewise.stream import Reading

STREAMS = ("pump-1", "pump-2")


def readings(n: int, seed: int = 0) -> list[Reading]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        for s in STREAMS:
            temp = (
                20
                + math.sin(i / 40)
                + rng.normal(0, 0.05)
                + (9 if s == "pump-1" and i == 700 else 0)
            )
            out.append(Reading(s, 1.7e9 + 10 * i, {"temp": temp}))
    return out


class Feed:
    """A test input: delivers readings in messages of ten, each with an ack that is counted."""

    name = "feed"

    def __init__(self, items: list[Reading]) -> None:
        self.items = items
        self.acked = 0

    def start(self, deliver: Deliver) -> None:
        for i in range(0, len(self.items), 10):
            deliver(
                Inbound(
                    "feed",
                    "",
                    self.items[i : i + 10],
                    "readings",
                    1.8e9,
                    self.ack,
                    upstream_copy=True,
                )
            )

    def ack(self) -> None:
        self.acked += 1

    def stop(self) -> None:
        pass


STREAMS_CONFIG = '[{match: "pump-*", units: {temp: Cel}}]'


def config(
    folder: Path, checkpoint_s: float = 3600.0, streams: str = STREAMS_CONFIG
) -> AgentConfig:
    return parse_config(
        f"""
version: 1
device: {{id: press-7}}
inputs: [{{type: replay, name: feed, path: unused.csv}}]
streams: {streams}
storage: {{dir: {folder}, checkpoint_every_s: {checkpoint_s}}}
""",
        folder / "agent.yaml",
    )


def run(
    folder: Path,
    items: list[Reading],
    events: list[Event] | None = None,
    streams: str = STREAMS_CONFIG,
) -> Agent:
    feed = Feed(items)
    on_event = None if events is None else events.append
    agent = Agent(config(folder, streams=streams), inputs=[feed], on_event=on_event)
    agent.start()
    deadline = time.monotonic() + 60
    while feed.acked < math.ceil(len(items) / 10) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert feed.acked == math.ceil(len(items) / 10), "every message is acknowledged once stored"
    return agent


def stored(folder: Path) -> dict[tuple[Any, ...], str]:
    with sqlite3.connect(folder / "outbox.db") as db:
        rows = db.execute("SELECT stream, kind, seq, name, body FROM outbox").fetchall()
    return {(s, k, q, n): b for s, k, q, n, b in rows}


def test_every_reading_gets_a_record_and_the_spike_an_alarm_event(tmp_path: Path) -> None:
    events: list[Event] = []
    agent = run(tmp_path, readings(1000), events)
    agent.stop()
    agent.close()
    records = stored(tmp_path)
    for s in STREAMS:
        seqs = sorted(k[2] for k in records if k[0] == s and k[1] == "reading")
        assert seqs == list(range(1000))
    assert ("pump-1", "event", 700, "alarm") in records
    assert any(e.stream == "pump-1" and e.seq == 700 and e.name == "alarm" for e in events)
    body = json.loads(records[("pump-1", "reading", 700, "")])
    assert body["detections"][0]["alarm"] is True and body["values"]["temp"] > 25
    assert any(k[1] == "summary" for k in records)


def test_an_agent_fronting_several_devices_names_each_streams_own(tmp_path: Path) -> None:
    streams = '[{match: "pump-1", device: plc-1}, {match: "pump-*"}]'
    events: list[Event] = []
    agent = run(tmp_path, readings(1000), events, streams=streams)
    agent.stop()
    agent.close()
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        devices = set(db.execute("SELECT stream, kind, device FROM outbox").fetchall())
    assert {d for s, _, d in devices if s == "pump-1"} == {"plc-1"}  # its clock's device
    assert {d for s, _, d in devices if s == "pump-2"} == {"press-7"}  # the agent's own
    assert {k for s, k, _ in devices if s == "pump-1"} >= {"reading", "event", "summary"}
    assert {e.device for e in events if e.stream == "pump-1"} == {"plc-1"}


def test_a_restart_resumes_where_a_graceful_stop_left(tmp_path: Path) -> None:
    items = readings(1000)
    whole = run(tmp_path / "whole", items)
    whole.stop()
    whole.close()
    first = run(tmp_path / "split", items[:900])
    first.stop()
    first.close()
    second = run(tmp_path / "split", items[900:])
    second.stop()
    second.close()
    assert stored(tmp_path / "split") == stored(tmp_path / "whole")


def test_after_a_crash_the_journal_replays_onto_the_checkpoint(tmp_path: Path) -> None:
    items = readings(1000)
    whole = run(tmp_path / "whole", items)
    whole.stop()
    whole.close()
    first = run(tmp_path / "live", items[:600])
    first.stop()  # a checkpoint after 600 readings
    first.close()
    second = run(tmp_path / "live", items[600:900])  # journaled, not checkpointed
    # The files as a power cut would leave them: no stop, no checkpoint.
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for name in ("outbox.db", "outbox.db-wal"):
        if (tmp_path / "live" / name).exists():
            shutil.copy(tmp_path / "live" / name, crashed / name)
    second.stop()
    second.close()
    events: list[Event] = []
    third = run(crashed, items[900:], events)
    assert third.stats.replayed == 300  # the readings after the checkpoint
    third.stop()
    third.close()
    assert stored(crashed) == stored(tmp_path / "whole")


class Payloads:
    """A test input of JSON payloads, as a broker delivers them: each with an ack, counted."""

    name = "payloads"

    def __init__(self, items: list[Reading]) -> None:
        self.payloads = [
            json.dumps({"stream": r.stream, "timestamp": r.timestamp, "values": r.values}).encode()
            for r in items
        ]
        self.acked = 0

    def start(self, deliver: Deliver) -> None:
        for payload in self.payloads:
            deliver(Inbound("payloads", "plant", payload, "json", 1.8e9, self.ack, True))

    def ack(self) -> None:
        self.acked += 1

    def stop(self) -> None:
        pass


def test_a_message_delivered_again_after_a_crash_is_known_and_not_stored_twice(
    tmp_path: Path,
) -> None:
    items = readings(300)
    first = Payloads(items)
    agent = Agent(config(tmp_path / "live"), decode=decode, inputs=[first])
    agent.start()
    deadline = time.monotonic() + 60
    while first.acked < len(items) and time.monotonic() < deadline:
        time.sleep(0.01)
    # A power cut after the outbox committed, before the broker heard the acknowledgements.
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for name in ("outbox.db", "outbox.db-wal"):
        if (tmp_path / "live" / name).exists():
            shutil.copy(tmp_path / "live" / name, crashed / name)
    agent.stop()
    agent.close()
    before = stored(crashed)
    again = Payloads(items)  # the broker delivers every unacknowledged message again
    restarted = Agent(config(crashed), decode=decode, inputs=[again])
    restarted.start()
    deadline = time.monotonic() + 60
    while again.acked < len(items) and time.monotonic() < deadline:
        time.sleep(0.01)
    restarted.stop()
    restarted.close()
    assert again.acked == len(items)  # acknowledged now, so the broker forgets them
    assert restarted.rejected()["redelivered"] == len(items)
    assert stored(crashed) == before
