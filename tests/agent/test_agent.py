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
import pytest

from edgewise.agent import Agent, AgentConfig, Event, Inbound, Outbox, OutboxFull, parse_config
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


PUSHED = {
    "version": 1,
    "steps": [{"step": "last_value"}, {"step": "default", "params": {"warmup": 50}}],
}


def versions(folder: Path, stream: str) -> dict[int, str]:
    """The model version of each reading's detection of ``stream``, by seq."""
    return {
        key[2]: json.loads(body)["detections"][0]["model_version"]
        for key, body in stored(folder).items()
        if key[0] == stream and key[1] == "reading"
    }


def wait_applied(agent: Agent, *commands: int) -> None:
    deadline = time.monotonic() + 30
    while not all(agent.outbox.applied(c) for c in commands) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(agent.outbox.applied(c) for c in commands)


def test_a_pipeline_the_hub_assigns_runs_its_streams_and_outlives_restarts(tmp_path: Path) -> None:
    items = readings(900)
    first = run(tmp_path, items[:600])
    first.command({"id": 5, "kind": "pipeline", "body": {"spec": PUSHED, "streams": "pump-2"}})
    nope = {"spec": {"version": 1, "steps": [{"step": "nope"}]}, "streams": "*"}
    first.command({"id": 6, "kind": "pipeline", "body": nope})
    first.command({"id": 7, "kind": "reboot"})
    wait_applied(first, 5, 6, 7)
    first.stop()  # the checkpoint holds the assignment
    first.close()
    second = run(tmp_path, items[600:1200])
    # A crash: the assignment is in the journal only, after this checkpoint.
    second.command({"id": 8, "kind": "pipeline", "body": {"spec": PUSHED, "streams": "pump-1"}})
    wait_applied(second, 8)
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for name in ("outbox.db", "outbox.db-wal"):
        if (tmp_path / name).exists():
            shutil.copy(tmp_path / name, crashed / name)
    second.stop()
    second.close()
    third = run(crashed, items[1200:])
    acked = third.outbox.unacked_commands()
    third.stop()
    third.close()
    before, after = versions(crashed, "pump-1"), versions(crashed, "pump-2")
    assert before[0] == after[0] != after[300] == after[899]  # pump-2 moved at the command
    assert before[599] == before[0] != before[899] == after[899]  # pump-1 after a crash too
    assert acked[:1] == [5] and acked[3:] == [8]
    assert acked[1] == {"id": 6, "error": acked[1]["error"]} and "nope" in acked[1]["error"]
    assert acked[2] == {"id": 7, "error": "this agent does not know commands of kind 'reboot'"}


def test_a_reload_with_a_changed_pipeline_keeps_numbering_its_streams(tmp_path: Path) -> None:
    items = readings(900)
    agent = run(tmp_path, items[:600])
    changed = parse_config(
        f"""
version: 1
device: {{id: press-7}}
inputs: [{{type: replay, name: feed, path: unused.csv}}]
pipelines: {{custom: {json.dumps(PUSHED)}}}
streams: [{{match: "pump-*", units: {{temp: Cel}}, pipeline: custom}}]
storage: {{dir: {tmp_path}, checkpoint_every_s: 3600}}
""",
        tmp_path / "agent.yaml",
    )
    feed = Feed(items[600:])
    agent.reload(changed, [feed])
    deadline = time.monotonic() + 60
    while feed.acked < 120 and time.monotonic() < deadline:
        time.sleep(0.01)
    agent.stop()
    agent.close()
    for stream in STREAMS:
        seen = versions(tmp_path, stream)
        assert sorted(seen) == list(range(900))  # none reused a number and was dropped
        assert seen[299] != seen[300] == seen[899]


def test_a_disk_full_right_after_a_checkpoint_does_not_stop_the_storing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Forgetting old digests is a transaction of its own after the checkpoint's; the disk may
    # fill between the two. The writer must go on storing (and acknowledging) all the same.
    def full(self: Outbox, *, keep: int) -> None:
        raise OutboxFull(f"{self.path}: database or disk is full")

    monkeypatch.setattr(Outbox, "forget_delivered", full)
    items = readings(300)
    feed = Feed(items)
    agent = Agent(config(tmp_path, checkpoint_s=0.01), inputs=[feed])
    agent.start()
    deadline = time.monotonic() + 60
    while feed.acked < len(items) // 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    agent.stop()
    agent.close()
    assert agent.stats.checkpoints > 0
    assert feed.acked == len(items) // 10
