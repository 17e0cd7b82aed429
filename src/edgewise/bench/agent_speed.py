"""``edgewise bench agent``: the agent's speed, memory and start-up, as a separate process.

The agent runs as it does in the field (``edgewise agent run``, durable outbox with
``synchronous=FULL``, QoS 1, manual acknowledgements) pinned to one core with ``taskset``; the
broker and the publisher (``mosquitto_pub -l``, C) share the other core. Each run measures, in
turn, the same pipeline on ``Reading`` objects in a process pinned to the same core, one reading
per MQTT message, and 100 readings per SenML message; the figures are medians over the runs.
Memory is the agent's resident set (``VmRSS``): idle with one MQTT input and no stream
configured, and after 1,000 and 10,000 streams of the default pipeline. Start-up is from process
start to the first detection.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..detect._default_backend import C_KERNEL
from ._services import AgentProcess, Mosquitto, free_port, pinned

__all__ = ["run_agent_speed"]

_T0 = 1_700_000_000.0


def _config(folder: Path, broker: int, metrics: int, *, streams: bool = True) -> Path:
    """Two MQTT inputs (JSON, SenML) and every stream on the default pipeline; ``streams=False``
    is the idle agent: the JSON input only, no stream (no pipeline is built: numba stays out)."""
    inputs = [("json", "json"), ("senml", "senml+json")][: 2 if streams else 1]
    path = folder / "agent.yaml"
    path.write_text(
        "version: 1\ndevice: {id: bench}\ninputs:\n"
        + "".join(
            f"""  - type: mqtt
    name: {name}
    port: {broker}
    client_id: edgewise-bench-{name}-{metrics}
    topics: [{{topic: "bench/{name}", qos: 1}}]
    format: {form}
"""
            for name, form in inputs
        )
        + f"""streams: [{'{match: "*"}' if streams else ""}]
storage: {{dir: {folder / "state"}, checkpoint_every_s: 3600}}
metrics: {{port: {metrics}}}
"""
    )
    return path


def _publish(broker: int, topic: str, lines: Path) -> subprocess.Popen[bytes]:
    with lines.open("rb") as source:
        return subprocess.Popen(
            [*pinned(1), "mosquitto_pub", "-p", str(broker), "-q", "1", "-t", topic, "-l"],
            stdin=source,
        )


def _json_lines(path: Path, n: int, streams: int, offset: float = 0.0) -> None:
    with path.open("w") as out:
        for i in range(n):
            value = 20.0 + (i % 97) * 0.01
            out.write(
                f'{{"stream":"s{i % streams}","timestamp":{_T0 + offset + i // streams},'
                f'"values":{{"x":{value}}}}}\n'
            )


def _senml_lines(path: Path, n_messages: int, streams: int, per_message: int) -> None:
    with path.open("w") as out:
        for m in range(n_messages):
            stream = m % streams
            base = _T0 + (m // streams) * per_message
            records = [{"bn": f"s{stream}/", "bt": base, "n": "x", "v": 20.0}]
            records += [
                {"n": "x", "t": k, "v": 20.0 + (k % 13) * 0.01} for k in range(1, per_message)
            ]
            out.write(json.dumps(records, separators=(",", ":")) + "\n")


def _pipeline_rate(n: int, streams: int) -> float:
    """Readings per second of the default pipeline on Reading objects, pinned to core 0."""
    code = (
        "import json, time\n"
        "from edgewise.stream import Pipeline\n"
        "from edgewise.stream import Reading\n"
        f"n, streams = {n}, {streams}\n"
        "rs = [Reading(f's{i % streams}', 1.7e9 + i // streams, {'x': 20.0 + (i % 97) * 0.01})"
        " for i in range(n)]\n"
        "spec = {'version': 1, 'steps': [{'step': 'last_value'}, {'step': 'default'}]}\n"
        "p = Pipeline.from_spec(spec)\n"
        "for r in rs[: streams * 50]: p.update(r)\n"  # kernels compiled, as in the warm agent
        "p = Pipeline.from_spec(spec)\n"
        "start = time.perf_counter()\n"
        "for r in rs: p.update(r)\n"
        "print(json.dumps(n / (time.perf_counter() - start)))\n"
    )
    done = subprocess.run(
        [*pinned(0), sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip())


def _mqtt_rate(folder: Path, topic: str, lines: Path, readings: int) -> float:
    # A fresh broker each time: an earlier agent's persistent session would make the broker
    # queue every message for it too.
    metrics = free_port()
    shutil.rmtree(folder / "state", ignore_errors=True)
    with Mosquitto(folder / f"broker-{metrics}") as broker:
        agent = AgentProcess(_config(folder, broker.port, metrics), metrics)
        try:
            agent.wait_ready()
            publisher = _publish(broker.port, topic, lines)
            first, last = agent.wait_readings(readings)
            publisher.wait(60)
        finally:
            agent.stop()
    return readings / max(last - first, 1e-9)


def _idle_rss_mb(folder: Path, broker: int) -> float:
    """The agent with one MQTT input and no stream, a second after its metrics answer."""
    metrics = free_port()
    shutil.rmtree(folder / "state", ignore_errors=True)
    agent = AgentProcess(_config(folder, broker, metrics, streams=False), metrics)
    try:
        agent.wait_ready()
        time.sleep(1.0)
        return agent.rss_mb()
    finally:
        agent.stop()


def _memory_and_startup(folder: Path, broker: int) -> dict[str, float]:
    metrics = free_port()
    shutil.rmtree(folder / "state", ignore_errors=True)
    one = folder / "one.txt"
    _json_lines(one, 1, 1)
    agent = AgentProcess(_config(folder, broker, metrics), metrics)
    try:
        # Start-up: publish one reading every 20 ms until the agent has done one.
        while agent.readings() < 1:
            if agent.process.poll() is not None:
                raise RuntimeError("the agent exited during start-up")
            _publish(broker, "bench/json", one).wait(10)
            time.sleep(0.02)
        startup = time.monotonic() - agent.started
        sizes = {}
        done = 1
        for offset, streams in enumerate((1_000, 10_000), start=1):
            lines = folder / f"streams-{streams}.txt"
            _json_lines(lines, streams * 3, streams, offset=10.0 * offset)  # 3 readings a stream
            _publish(broker, "bench/json", lines).wait(300)
            done += streams * 3
            agent.wait_readings(done)
            time.sleep(0.5)
            sizes[streams] = agent.rss_mb()
    finally:
        agent.stop()
    return {
        "startup_s": startup,
        "rss_idle_mb": _idle_rss_mb(folder, broker),
        "rss_mb_1000_streams": sizes[1_000],
        "rss_kb_per_stream": (sizes[10_000] - sizes[1_000]) * 1024 / 9_000,
    }


def run_agent_speed(
    *,
    runs: int = 3,
    messages: int = 60_000,
    senml_messages: int = 4_000,
    streams: int = 100,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Measure the agent (see the module's docstring); medians of ``runs`` interleaved runs."""
    if shutil.which("mosquitto_pub") is None:
        raise FileNotFoundError("mosquitto_pub is not installed (Debian: mosquitto-clients)")
    folder = Path(tempfile.mkdtemp(prefix="edgewise-bench-agent-"))
    per_message = 100
    json_lines, senml = folder / "json.txt", folder / "senml.txt"
    _json_lines(json_lines, messages, streams)
    _senml_lines(senml, senml_messages, streams, per_message)
    measured: dict[str, list[float]] = {}
    steps = 3 * runs + 1
    try:
        measures: list[tuple[str, Callable[[], float]]] = [
            ("pipeline_readings_per_s", lambda: _pipeline_rate(messages, streams)),
            ("mqtt_msgs_per_s", lambda: _mqtt_rate(folder, "bench/json", json_lines, messages)),
            (
                "mqtt_readings_per_s",
                lambda: _mqtt_rate(folder, "bench/senml", senml, senml_messages * per_message),
            ),
        ]
        for run in range(runs):  # interleaved: each run measures all three in turn
            for i, (key, measure) in enumerate(measures):
                measured.setdefault(key, []).append(measure())
                if progress:
                    progress(3 * run + i + 1, steps)
        with Mosquitto(folder / "broker-memory") as broker:
            memory = _memory_and_startup(folder, broker.port)
        if progress:
            progress(steps, steps)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result: dict[str, Any] = {k: statistics.median(v) for k, v in measured.items()}
    result["runs"] = {k: v for k, v in measured.items()}
    result["mqtt_msgs_vs_pipeline"] = result["mqtt_msgs_per_s"] / result["pipeline_readings_per_s"]
    result["mqtt_readings_vs_pipeline"] = (
        result["mqtt_readings_per_s"] / result["pipeline_readings_per_s"]
    )
    result.update(memory)
    result["setup"] = {
        "messages": messages,
        "senml_messages": senml_messages,
        "readings_per_senml_message": per_message,
        "streams": streams,
        "pinned": bool(pinned(0)),
        "qos": 1,
        "outbox": "SQLite WAL, synchronous=FULL",
        "default_kernel": "c" if C_KERNEL else "numba",  # the agents run this source tree
    }
    return result
