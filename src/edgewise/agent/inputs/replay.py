"""Readings the agent makes itself: a CSV or Parquet file replayed, or a simulation.

Both run at real speed (``speed: 1``), accelerated (``speed: 60`` plays an hour a minute) or as
fast as the agent takes them (``speed: 0``), keeping the device timestamps of the source. Their
readings have no upstream copy: the outbox's drop policy may drop them when its budget is full.
"""

from __future__ import annotations

import contextlib
import csv
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edgewise.stream import Reading

from .._inbound import Deliver, Inbound

__all__ = ["ReplayInput", "ReplayInputConfig", "SimulatorInputConfig", "read_table"]

_BATCH = 100  # readings per delivery when replaying faster than real time


class ReplayInputConfig(BaseModel):
    """Replay a table: one row a reading, a timestamp column (epoch seconds), value columns."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["replay"]
    name: str = Field(min_length=1)
    path: Path
    stream: str | None = Field(default=None, description="The stream; else the `stream` column.")
    timestamp_column: str = "timestamp"
    speed: float = Field(default=1.0, ge=0.0, description="1 = real time, 0 = as fast as taken.")


class SimulatorInputConfig(BaseModel):
    """A simulation of :mod:`edgewise.sim` with injected faults: the plant (three machines) or
    the demo's fleet (the plant, smart meters and wearables, streams ``<device>/<what>``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["simulator"]
    name: str = Field(min_length=1)
    scenario: Literal["plant", "fleet"] = "plant"
    seed: int = 0
    hours: float = Field(default=24.0, gt=0.0)
    speed: float = Field(default=0.0, ge=0.0, description="1 = real time, 0 = as fast as taken.")
    start: float | None = Field(
        default=None, description="First timestamp, epoch seconds (default: the simulator's)."
    )


def read_table(path: Path, *, stream: str | None, timestamp_column: str) -> Iterator[Reading]:
    """The readings of a CSV or Parquet file (pyarrow is loaded only for Parquet)."""
    # The file is closed when the rows run out, and when a stopped input drops the generator.
    with contextlib.ExitStack() as opened:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows: Iterator[dict[str, object]] = iter(pq.read_table(path).to_pylist())
        else:
            handle = opened.enter_context(path.open(newline=""))
            rows = iter(csv.DictReader(handle))
        for line, row in enumerate(rows, start=2):
            name = stream if stream is not None else str(row.pop("stream", "") or "")
            if not name:
                raise ValueError(
                    f"{path}:{line}: no stream: configure one or add a `stream` column"
                )
            try:
                timestamp = float(row.pop(timestamp_column))  # type: ignore[arg-type]
                values = {
                    k: float("nan") if v in ("", None) else float(v)  # type: ignore[arg-type]
                    for k, v in row.items()
                    if k != "stream"
                }
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{path}:{line}: {error}") from None
            yield Reading(name, timestamp, values)


class ReplayInput:
    """Deliver readings from a source in device-time order, paced by ``speed``."""

    def __init__(self, config: ReplayInputConfig | SimulatorInputConfig) -> None:
        self.config = config
        self.name = config.name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()

    def _source(self) -> Iterator[Reading]:
        cfg = self.config
        if isinstance(cfg, ReplayInputConfig):
            return read_table(cfg.path, stream=cfg.stream, timestamp_column=cfg.timestamp_column)
        from edgewise.sim import Fleet, Plant

        if cfg.scenario == "fleet":
            return Fleet(seed=cfg.seed, hours=cfg.hours, start=cfg.start).readings()
        plant = Plant(seed=cfg.seed, hours=cfg.hours)
        plant.start = plant.start if cfg.start is None else cfg.start
        return plant.readings()

    def start(self, deliver: Deliver) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(deliver,), name=f"input-{self.name}", daemon=True
        )
        self._thread.start()

    def _run(self, deliver: Deliver) -> None:
        speed = self.config.speed
        start_wall: float | None = None
        start_device = 0.0
        batch: list[Reading] = []
        for reading in self._source():
            if self._stop.is_set():
                return
            if speed > 0:
                if start_wall is None:
                    start_wall, start_device = time.monotonic(), reading.timestamp
                due = start_wall + (reading.timestamp - start_device) / speed
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                deliver(Inbound(self.name, reading.stream, [reading], "readings", time.time()))
                continue
            batch.append(reading)
            if len(batch) == _BATCH:
                deliver(Inbound(self.name, "", batch, "readings", time.time()))
                batch = []
        if batch:
            deliver(Inbound(self.name, "", batch, "readings", time.time()))
        self.finished.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
