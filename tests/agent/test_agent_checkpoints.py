"""Per-stream, incremental checkpoints: a crash mid-round restores exactly what no crash keeps."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edgewise.agent import Agent, AgentConfig, Inbound, Outbox, parse_config
from edgewise.agent import _agent as agent_module
from edgewise.agent._inbound import Deliver
from edgewise.stream import Reading, save_state

STREAMS = [f"pump-{i}" for i in range(12)]


def readings(n: int, streams: list[str] = STREAMS) -> list[Reading]:
    """``n`` rounds of one reading per stream: a slow sine, a spike on one stream."""
    return [
        Reading(
            stream,
            1.7e9 + 10 * i,
            {"temp": 20 + math.sin(i / 40 + k) + (9 if (i, k) == (400, 3) else 0)},
        )
        for i in range(n)
        for k, stream in enumerate(streams)
    ]


class Feed:
    """A test input: readings in messages of ten, each acknowledged (counted) once stored."""

    name = "feed"

    def __init__(self, items: list[Reading], *, pause_s: float = 0.0) -> None:
        self.items = items
        self.acked = 0
        self.pause_s = pause_s  # between messages: many small batches instead of a few large

    def start(self, deliver: Deliver) -> None:
        threading.Thread(target=self._deliver, args=(deliver,), daemon=True).start()

    def _deliver(self, deliver: Deliver) -> None:
        for i in range(0, len(self.items), 10):
            chunk = self.items[i : i + 10]
            deliver(Inbound("feed", "", chunk, "readings", 1.8e9, self.ack, upstream_copy=True))
            time.sleep(self.pause_s)

    def ack(self) -> None:
        self.acked += 1

    def stop(self) -> None:
        pass


def config(folder: Path, checkpoint_s: float) -> AgentConfig:
    return parse_config(
        f"""
version: 1
device: {{id: press-7}}
inputs: [{{type: replay, name: feed, path: unused.csv}}]
streams: [{{match: "pump-*", units: {{temp: Cel}}}}]
storage: {{dir: {folder}, checkpoint_every_s: {checkpoint_s}}}
summaries: {{window_s: 600}}
""",
        folder / "agent.yaml",
    )


def run(
    folder: Path, items: list[Reading], checkpoint_s: float = 3600.0, pause_s: float = 0.0
) -> Agent:
    feed = Feed(items, pause_s=pause_s)
    agent = Agent(config(folder, checkpoint_s), inputs=[feed])
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


def saved_states(agent: Agent) -> dict[str, tuple[bytes, str | None]]:
    """Every stream's state as the last checkpoint holds it (lane document, summary)."""
    return {s.lane.stream: (s.lane.state, s.lane.summary) for s in agent.outbox.saved_lanes()}


def copy_outbox(source: Path, target: Path) -> None:
    """The files as a power cut would leave them."""
    target.mkdir()
    for name in ("outbox.db", "outbox.db-wal"):
        if (source / name).exists():
            shutil.copy(source / name, target / name)


def test_a_crash_in_the_middle_of_rounds_restores_what_no_crash_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = readings(900)
    whole = run(tmp_path / "whole", items)
    whole.stop()
    expected = saved_states(whole)
    whole.close()

    # One stream saved per batch and a round always in progress; the power cut comes once the
    # streams' saved states are of different journal positions, with a journal beyond them.
    monkeypatch.setattr(agent_module, "_CHECKPOINT_SLICE_S", 0.0)
    live, crashed = tmp_path / "live", tmp_path / "crashed"
    put = Outbox.put

    def put_then_cut_the_power(box: Outbox, *args: Any, **kwargs: Any) -> None:
        put(box, *args, **kwargs)
        if crashed.exists() or box.path.parent != live:
            return
        with sqlite3.connect(box.path) as db:
            positions = {p for (p,) in db.execute("SELECT journal_id FROM lanes")}
            journal = db.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
        if len(positions) > 2 and journal > 0:
            copy_outbox(live, crashed)

    monkeypatch.setattr(Outbox, "put", put_then_cut_the_power)
    first = run(live, items[: 600 * len(STREAMS)], checkpoint_s=0.001, pause_s=0.002)
    first.stop()
    first.close()
    assert crashed.exists(), "the power cut came in the middle of rounds"
    monkeypatch.setattr(Outbox, "put", put)

    with sqlite3.connect(crashed / "outbox.db") as db:  # what the broker would send again
        (taken,) = db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'reading'").fetchone()
    restarted = run(crashed, items[taken:], checkpoint_s=0.001)
    assert 0 < restarted.stats.replayed < taken  # each stream from its own saved position
    restarted.stop()
    after = saved_states(restarted)
    restarted.close()
    assert stored(crashed) == stored(tmp_path / "whole")
    assert after == expected  # every lane and summary equal, to the byte


def test_a_checkpoint_serialises_only_the_streams_that_changed(tmp_path: Path) -> None:
    first = run(tmp_path, readings(200))
    first.stop()
    assert first.stats.lanes_saved == len(STREAMS)
    first.close()
    second = run(tmp_path, readings(300, STREAMS[:3])[3 * 200 :])
    second.stop()
    second.close()
    assert second.stats.lanes_saved == 3
    third = Agent(config(tmp_path, 3600.0), inputs=[])
    third.start()
    third.stop()
    assert third.stats.lanes_saved == 0  # nothing changed at all
    assert third.outbox.journal() == []
    third.close()


def test_an_outbox_with_whole_pipelines_saved_is_restored_and_saved_per_stream(
    tmp_path: Path,
) -> None:
    """Outboxes written before per-stream checkpoints: their pipelines and summaries saved
    whole beside the journal."""
    items = readings(900)
    whole = run(tmp_path / "whole", items)
    whole.stop()
    whole.close()
    first = run(tmp_path / "old", items[: 600 * len(STREAMS)])
    first.stop()
    old_rows = {name: save_state(p) for name, p in first._pipelines.items()}
    old_rows["summaries"] = json.dumps(
        {s: json.loads(w.saved()) for s, w in first._windows.items()}
    ).encode()
    first.close()
    with sqlite3.connect(tmp_path / "old" / "outbox.db") as db:
        db.execute("DELETE FROM lanes")
        db.execute("DELETE FROM checkpoint")
        db.executemany("INSERT INTO checkpoint VALUES (?, 0, ?)", old_rows.items())
    second = run(tmp_path / "old", items[600 * len(STREAMS) :])
    assert second.stats.lanes_saved == len(STREAMS)  # at start: each stream in a row of its own
    assert set(second.outbox.last_checkpoint()) == {"pushed"}
    second.stop()
    second.close()
    assert stored(tmp_path / "old") == stored(tmp_path / "whole")
