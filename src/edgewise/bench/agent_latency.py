"""``edgewise bench latency``: from a reading's publish to its alarm's MQTT command (issue 7).

The agent runs as it does in the field (``edgewise agent run``, QoS 1, durable outbox with
``synchronous=FULL``, checkpoints every 30 s) pinned to one core with ``taskset``, with one local
action: an MQTT command on every alarm, its rate limit above the alarm rate. A publisher and a
subscriber (paho, each its own process, single-threaded) share the other core with our Mosquitto
(the published test configuration).

Each stream is a sine with a phase of its own. It warms up (the default detector judges nothing
in its first 150 readings; these are sent as fast as the agent takes them), then readings go
round-robin over the streams at a steady rate. Each stream's spikes come every :data:`GAP`
readings, staggered between streams so that alarms are spread evenly in time; a spike's episode
ends 50 readings after it (its level stays abnormal for 20 readings, its 20-reading change then;
``end_after`` is 30), so every spike starts a new episode, and each is twice as far out as the
last, so that a range learned from one never hides the next. The command's topic and payload
carry the spike's stream and device time; the latency of a spike is from just before its
publish to the command's receipt, both on the machine's monotonic clock. The wall clock splits
it where the agent received the reading.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.agent._config import StorageConfig

from ._services import AgentProcess, Mosquitto, free_port, pinned

__all__ = ["BAR_P99_MS", "GAP", "Plan", "run_agent_latency"]

BAR_P99_MS = 20.0
"""Issue 7's bar on ``e2e_p99_ms``."""

GAP = 52
"""Readings of a stream from one spike to its next: 2 more than a spike's episode lasts."""

_T0 = 1_700_000_000
_TOPIC_IN = "latency/in"
_TOPIC_CMD = "latency/cmd"
_AMPLITUDE = 100.0  # the first spike's height; the detector's normal range is 20 to 21
_PERIOD = 25  # readings per cycle of the normal signal


@dataclass(frozen=True)
class Plan:
    """The readings: ``streams`` streams, ``warmup`` readings each, then ``spikes`` spikes each.

    >>> plan = Plan(streams=3, spikes=2, warmup=4, gap=5)
    >>> plan.spike(1, 4 + 1), plan.spike(1, 4 + 5 + 1), plan.spike(1, 4 + 2)
    (0, 1, None)
    >>> plan.measured, plan.value(1, 4 + 5 + 1) > 200
    (30, True)
    """

    streams: int
    spikes: int
    warmup: int = 150
    gap: int = GAP
    rate: float = 1000.0

    def __post_init__(self) -> None:
        for name in ("streams", "spikes", "warmup", "gap"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.rate > 0:
            raise ValueError(f"rate must be positive, got {self.rate}")

    @property
    def measured(self) -> int:
        """Readings sent after the warm-up, at :attr:`rate`."""
        return self.streams * self.spikes * self.gap

    def spike(self, stream: int, t: int) -> int | None:
        """Which spike of ``stream`` its reading ``t`` is, if it is one."""
        after = t - self.warmup - stream % self.gap
        if after < 0 or after % self.gap:
            return None
        k = after // self.gap
        return k if k < self.spikes else None

    def value(self, stream: int, t: int) -> float:
        """A sine in [20, 21], plus a spike's height (doubling from one to the next)."""
        # A clean cycle: its range and shapes are all known by the end of the warm-up, so only
        # the spikes alarm (random noise makes the odd new extreme or level an alarm too).
        normal = 20.5 + 0.5 * math.sin(2 * math.pi * t / _PERIOD + stream)
        k = self.spike(stream, t)
        return normal if k is None else normal + _AMPLITUDE * 2.0**k

    def readings(self, phase: str) -> Iterator[tuple[int, int]]:
        """``(stream, t)`` of the ``"warmup"`` or ``"measure"`` phase, in the order sent."""
        first, end = (
            (0, self.warmup)
            if phase == "warmup"
            else (self.warmup, self.warmup + self.spikes * self.gap)
        )
        for t in range(first, end):
            for stream in range(self.streams):
                yield stream, t


def _client(port: int, name: str) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"latency-{name}-{port}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    return client


def _publish(port: int, plan: Plan, phase: str) -> dict[str, Any]:
    """Send a phase's readings; the spikes' publish times. One thread, no network thread: a
    publish writes to the socket at once, and PUBACKs are read while waiting for the next."""
    client = _client(port, phase)
    paced = phase == "measure"
    spikes: list[tuple[int, int, float, float]] = []
    sent = []
    start = time.monotonic() + 0.1
    late = 0.0
    for n, (stream, t) in enumerate(plan.readings(phase)):
        due = start + n / plan.rate
        while paced and (wait := due - time.monotonic()) > 0:
            client.loop(timeout=wait)
        if not paced and n % 100 == 0:
            client.loop(timeout=0)
        payload = json.dumps(
            {"stream": f"s{stream}", "timestamp": _T0 + t, "values": {"x": plan.value(stream, t)}}
        )
        if paced:
            late = max(late, time.monotonic() - due)
        if plan.spike(stream, t) is not None:
            spikes.append((stream, t, time.monotonic(), time.time()))
        sent.append(client.publish(_TOPIC_IN, payload, qos=1))
    ended = time.monotonic()
    deadline = ended + 60
    while not all(info.is_published() for info in sent) and time.monotonic() < deadline:
        client.loop(timeout=0.1)
    client.disconnect()
    return {
        "published": len(sent),
        "acknowledged": sum(info.is_published() for info in sent),
        "rate": len(sent) / max(ended - start, 1e-9),
        "late_max_ms": late * 1e3,
        "spikes": spikes,
    }


def _subscribe(port: int) -> list[tuple[str, str, float, float]]:
    """Receive the commands until SIGTERM; each with its receipt times (monotonic, wall)."""
    client = _client(port, "commands")
    received: list[tuple[str, str, float, float]] = []
    stop = False

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        received.append((msg.topic, msg.payload.decode(), time.monotonic(), time.time()))

    def on_subscribe(*_: Any) -> None:
        print("ready", flush=True)

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.subscribe(f"{_TOPIC_CMD}/#", qos=1)
    while not stop:
        client.loop(timeout=0.1)
    client.disconnect()
    return received


def _role(*args: str) -> list[str]:
    """This module run as a harness process on core 1 (see :func:`_main`)."""
    return [*pinned(1), sys.executable, "-m", "edgewise.bench.agent_latency", *args]


def _main(argv: list[str]) -> None:
    """``publish PORT PLAN PHASE`` or ``subscribe PORT``: the result as JSON on stdout."""
    role, port = argv[0], int(argv[1])
    if role == "publish":
        result: Any = _publish(port, Plan(**json.loads(argv[2])), argv[3])
    else:
        result = _subscribe(port)
    print(json.dumps(result), flush=True)


def _config(folder: Path, broker: int, metrics: int) -> Path:
    path = folder / "agent.yaml"
    path.write_text(
        f"""version: 1
device: {{id: bench}}
inputs:
  - {{type: mqtt, name: plant, port: {broker}, client_id: edgewise-latency-{metrics},
     format: json, topics: [{{topic: {_TOPIC_IN}, qos: 1}}]}}
streams: [{{match: "*"}}]
# Room for every reading: no uplink drains the outbox in this bench.
storage: {{dir: {folder / "state"}, max_outbox_mb: 4096}}
actions:
  - {{name: command, on: [alarm], rate: {{per_s: 5000, burst: 5000}},
     mqtt: {{topic: "{_TOPIC_CMD}/{{stream}}", payload: "{{timestamp}}", qos: 1}}}}
metrics: {{port: {metrics}}}
"""
    )
    return path


def _alarms(outbox: Path) -> dict[tuple[str, float], float]:
    """The agent's alarms by (stream, device time): when it received their reading (wall)."""
    with contextlib.closing(sqlite3.connect(outbox)) as db:
        rows = db.execute(
            "SELECT stream, timestamp, received FROM outbox WHERE kind = 'event' AND name = 'alarm'"
        ).fetchall()
    return {(stream, float(ts)): float(received) for stream, ts, received in rows}


def _ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1e3 if values else float("nan")


def _run(folder: Path, broker: int, plan: Plan) -> dict[str, Any]:
    """One run: a fresh agent, its warm-up, the measured readings; what arrived, and when."""
    shutil.rmtree(folder / "state", ignore_errors=True)
    metrics = free_port()
    agent = AgentProcess(_config(folder, broker, metrics), metrics)
    subscriber = subprocess.Popen(
        _role("subscribe", str(broker)), stdout=subprocess.PIPE, text=True
    )
    try:
        assert subscriber.stdout is not None
        if subscriber.stdout.readline().strip() != "ready":
            raise RuntimeError("the command subscriber did not subscribe")
        agent.wait_ready()
        spec = json.dumps(asdict(plan))
        for phase, readings in (("warmup", plan.streams * plan.warmup), ("measure", plan.measured)):
            done = subprocess.run(
                _role("publish", str(broker), spec, phase), stdout=subprocess.PIPE, text=True,
                check=True,
            )  # fmt: skip
            published = json.loads(done.stdout)
            agent.wait_readings(
                plan.streams * plan.warmup + (readings if phase == "measure" else 0)
            )
        time.sleep(2.0)  # the last commands arrive well within this
        subscriber.send_signal(signal.SIGTERM)
        out, _ = subscriber.communicate(timeout=30)
        commands = json.loads(out)
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
        agent.stop()
    alarms = _alarms(folder / "state" / "outbox.db")
    received = Counter((topic, payload) for topic, payload, _, _ in commands)
    arrival = {(t.rsplit("/", 1)[1], float(p)): (mono, wall) for t, p, mono, wall in commands}
    e2e, to_agent, in_agent = [], [], []
    for stream, t, mono, wall in published["spikes"]:
        key = (f"s{stream}", float(_T0 + t))
        if key not in arrival:
            continue
        e2e.append(arrival[key][0] - mono)
        if key in alarms:
            to_agent.append(alarms[key] - wall)
            in_agent.append(arrival[key][1] - alarms[key])
    spikes = {(f"s{stream}", float(_T0 + t)) for stream, t, _, _ in published["spikes"]}
    return {
        "e2e_p50_ms": _ms(e2e, 50),
        "e2e_p99_ms": _ms(e2e, 99),
        "e2e_max_ms": max(e2e, default=float("nan")) * 1e3,
        "spikes": len(spikes),
        "alarms": len(alarms),
        "alarms_on_spikes": len(spikes & alarms.keys()),
        "actions_received": sum(received.values()),
        "missed": len(spikes - arrival.keys()),
        "received_twice": sum(1 for n in received.values() if n > 1),
        "unexpected": len(arrival.keys() - spikes),
        # Wall clock: publish -> the agent's input got it, then -> the command's receipt.
        "to_agent_p50_ms": _ms(to_agent, 50),
        "to_agent_p99_ms": _ms(to_agent, 99),
        "in_agent_p50_ms": _ms(in_agent, 50),
        "in_agent_p99_ms": _ms(in_agent, 99),
        "published": published["published"],
        "acknowledged": published["acknowledged"],
        "publish_rate": published["rate"],
        "publisher_late_max_ms": published["late_max_ms"],
    }


def run_agent_latency(
    *,
    runs: int = 1,
    streams: int = 1_000,
    spikes: int = 10,
    rate: float = 1_000.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Measure publish-to-command latency (see the module's docstring) over ``runs`` runs.

    Latencies are the medians of the runs' percentiles (the maximum: the largest); counts are
    totals over the runs; ``runs`` lists each run's figures.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    plan = Plan(streams=streams, spikes=spikes, rate=rate)
    folder = Path(tempfile.mkdtemp(prefix="edgewise-bench-latency-"))
    measured: list[dict[str, Any]] = []
    try:
        for run in range(runs):
            # A broker of its own: the last run's agent left a persistent session behind, and
            # the broker would queue every reading for it.
            with Mosquitto(folder / f"broker-{run}") as broker:
                measured.append(_run(folder, broker.port, plan))
            if progress:
                progress(run + 1, runs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result: dict[str, Any] = {}
    for key, value in measured[0].items():
        values = [m[key] for m in measured]
        if isinstance(value, int):
            result[key] = sum(values)
        else:
            result[key] = max(values) if key.endswith("_max_ms") else statistics.median(values)
    result["bar_e2e_p99_ms"] = BAR_P99_MS
    result["runs"] = measured
    result["setup"] = {
        **asdict(plan),
        "runs": runs,
        "pinned": bool(pinned(0)),
        "qos": 1,
        "outbox": "SQLite WAL, synchronous=FULL",
        "checkpoint_every_s": StorageConfig.model_fields["checkpoint_every_s"].default,
        "uplink": None,
        "action": "mqtt, QoS 1, rate 5000/s burst 5000",
    }
    return result


if __name__ == "__main__":
    _main(sys.argv[1:])
