"""``edgewise bench faults``: nothing acknowledged is lost or stored twice, whatever fails.

A harness publisher sends readings over MQTT (QoS 1, one a message, each with a unique id: its
stream and device timestamp) to a Mosquitto of our own running the published test configuration,
and counts the broker's acknowledgements itself. The agent (``edgewise agent run``, outbox on a
size-limited tmpfs when the machine allows mounting one) forwards to the hub
(``edgewise hub run``, SQLite) through a loopback proxy. Each iteration injects one fault at a
seeded random moment and heals it after a seeded random while:

- ``agent_kill``: SIGKILL of the agent, restarted;
- ``hub_kill``: SIGKILL of the hub, restarted;
- ``answer_lost``: the hub commits a batch, its answer never reaches the agent;
- ``disk_full``: the outbox's file system fills up (a ballast file), then frees;
- ``proxy_drop``, ``proxy_blackhole``, ``proxy_latency``: the network between agent and hub
  drops connections, swallows bytes, or adds 2 s of latency.

At the end every acknowledged reading must be in the hub's database exactly once (``lost`` and
``duplicates`` by payload id), the outbox must have reopened after every kill, and the agent's
alarms must have fired their local action while the hub was away.

The verdict is exact: once the faults are over the campaign waits for the hub to hold every
acknowledged reading, for as long as the hub keeps receiving (a loaded machine drains slowly).
A reading still missing then is ``undrained`` if the agent's outbox still holds it (late, not
lost) and ``lost`` otherwise; each lost one is traced (``lost_traces``): whether the agent's outbox
ever stored its message (the digest the agent keeps of every message it stored) and whether the
hub's sequence numbers around it leave a gap for it, so a loss in the broker, in the agent's
acceptance, in its numbering or between the outbox and the hub can be told apart.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edgewise.agent._outbox import DIGEST_SIZE as _DIGEST_SIZE
from edgewise.hub._chunks import unpack

from ._proxy import TcpProxy
from ._services import Mosquitto, free_port, wait_for_port

__all__ = ["FAULTS", "run_faults"]

FAULTS = (
    "agent_kill",
    "hub_kill",
    "answer_lost",
    "disk_full",
    "proxy_drop",
    "proxy_blackhole",
    "proxy_latency",
)
_T0 = 1_700_000_000
_STREAMS = 20
_RATE = 200.0  # messages per second from the harness publisher
# Every 997th message is far out of range: an alarm, an action. 997 is prime to the number of
# streams, so the spikes visit every stream in turn, each rare within its stream.
_SPIKE_EVERY = 997
_TOPIC = "faults/in"
# Draining after the faults: the wait goes on while the hub keeps storing (a loaded machine may
# need minutes for the backlog), and ends after this long without a new record, or at the cap.
_DRAIN_IDLE_S = 60.0
_DRAIN_CAP_S = 600.0
_TRACED = 20  # lost readings traced one by one in the result


def _payload(i: int) -> bytes:
    """Message ``i`` of the harness publisher: its id is (stream, device timestamp)."""
    value = 500.0 if i % _SPIKE_EVERY == _SPIKE_EVERY - 1 else 20.0 + (i * 7919 % 101) / 100
    body = {"stream": f"s{i % _STREAMS}", "timestamp": _T0 + i, "values": {"x": value}}
    return json.dumps(body).encode()


def _key(i: int) -> tuple[str, float]:
    """Message ``i``'s payload id, as the hub's records carry it."""
    return f"s{i % _STREAMS}", float(_T0 + i)


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgewise", *args]


class _Process:
    """A command that can be killed and started again, with its output in a log file."""

    def __init__(self, args: list[str], log: Path, port: int) -> None:
        self.args, self.log, self.port = args, log, port
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=out)
        wait_for_port(self.port, timeout=60, process=self.process)
        self.starts += 1

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


class _Publisher:
    """Publishes numbered readings at a steady rate; knows which the broker acknowledged.

    paho marks a QoS 1 message published when its PUBACK arrives; reading that flag at the end
    needs no callback, and so no lock shared with paho's network thread.
    """

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.published = 0
        self._sent: list[Any] = []  # paho's MessageInfo of message i
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="faults-publisher")
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", port)
        client.loop_start()
        self.client = client
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def acked(self) -> set[int]:
        return {i for i, info in enumerate(self._sent) if info.is_published()}

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            self._sent.append(self.client.publish(_TOPIC, _payload(self.published), qos=1))
            self.published += 1
            self._stop.wait(max(0.0, start + self.published / _RATE - time.monotonic()))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        deadline = time.monotonic() + 30
        while len(self.acked) < self.published and time.monotonic() < deadline:
            time.sleep(0.1)
        self.client.disconnect()
        self.client.loop_stop()


class _Commands:
    """Subscribes to the agent's action commands and counts them by event."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.received: Counter[str] = Counter()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="faults-commands")

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            self.received[f"{msg.topic}:{msg.payload.decode()}"] += 1

        client.on_message = on_message
        client.connect("127.0.0.1", port)
        client.subscribe("faults/cmd/#", qos=1)
        client.loop_start()
        self.client = client

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _tmpfs(folder: Path, size_mb: int) -> bool:
    """Mount a tmpfs of ``size_mb`` on ``folder`` if this process may; whether it did."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` with a ballast file; the file."""
    ballast = folder / "ballast"
    chunk = b"\0" * (1 << 20)
    with ballast.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(chunk)
            out.flush()
    return ballast


def _readings(hub_db: Path) -> list[tuple[str, float, int]]:
    """Every reading the hub stored, as (stream, device timestamp, sequence number), a reading
    stored twice listed twice (the hub keeps readings in chunks, column by column)."""
    with contextlib.closing(sqlite3.connect(hub_db)) as db:
        chunks = db.execute("SELECT stream, data FROM reading_chunks").fetchall()
    found = []
    for stream, data in chunks:
        chunk = unpack(data)
        found += [
            (stream, t, s)
            for t, s in zip(chunk.timestamp.tolist(), chunk.seq.tolist(), strict=True)
        ]
    return found


def _stored(hub_db: Path) -> Counter[tuple[str, float]]:
    """How often the hub stored each reading, by payload id (stream, device timestamp)."""
    return Counter((stream, timestamp) for stream, timestamp, _ in _readings(hub_db))


def _seqs(hub_db: Path) -> dict[str, list[tuple[float, int]]]:
    """Per stream, the hub's readings as (device timestamp, sequence number), in time order."""
    seqs: dict[str, list[tuple[float, int]]] = {}
    for stream, timestamp, seq in sorted(_readings(hub_db)):
        seqs.setdefault(stream, []).append((timestamp, seq))
    return seqs


def _alarms(hub_db: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(hub_db)) as db:
        rows = db.execute(
            "SELECT stream, seq FROM records WHERE kind = 'event' AND name = 'alarm'"
        ).fetchall()
    return {f"faults/cmd/{stream}:{seq}" for stream, seq in rows}


def run_faults(
    *,
    iterations: int = 100,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the fault campaign (see the module's docstring); the counts, by invariant."""
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="edgewise-bench-faults-"))
    outbox_dir = folder / "outbox"
    on_tmpfs = _tmpfs(outbox_dir, 32)
    started = time.monotonic()
    faults: Counter[str] = Counter()
    hub_port, agent_metrics = free_port(), free_port()
    hub_db = folder / "hub.db"
    hub_url = f"sqlite:///{hub_db}"
    try:
        added = subprocess.run(
            _command("hub", "device", "add", "faults-agent", "--db", hub_url),
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        (folder / "token").write_text(added.stdout.strip().splitlines()[-1].split()[-1])
        with Mosquitto(folder / "broker") as broker:
            hub = _Process(
                _command("hub", "run", "--db", hub_url, "--port", str(hub_port)),
                folder / "hub.log",
                hub_port,
            )
            hub.start()
            proxy = TcpProxy(hub_port)
            config = folder / "agent.yaml"
            config.write_text(
                f"""version: 1
device: {{id: faults-agent}}
inputs:
  - {{type: mqtt, name: plant, port: {broker.port}, client_id: faults-agent, format: json,
     topics: [{{topic: faults/in, qos: 1}}]}}
streams: [{{match: "s*"}}]
storage: {{dir: {outbox_dir}, max_outbox_mb: 16, checkpoint_every_s: 2}}
uplink: {{url: "http://127.0.0.1:{proxy.port}", token: {{file: {folder / "token"}}},
         interval_s: 0.2, backoff_max_s: 2, timeout_s: 3}}
actions:
  - {{name: command, on: [alarm], mqtt: {{topic: "faults/cmd/{{stream}}", payload: "{{seq}}",
     qos: 1}}, rate: {{per_s: 1000, burst: 1000}}}}
metrics: {{port: {agent_metrics}}}
"""
            )
            agent = _Process(
                _command("agent", "run", "--config", str(config), "--log-level", "warning"),
                folder / "agent.log",
                agent_metrics,
            )
            agent.start()
            commands = _Commands(broker.port)
            publisher = _Publisher(broker.port)
            publisher.start()
            kinds = [FAULTS[i % len(FAULTS)] for i in range(iterations)]
            rng.shuffle(kinds)
            for i, kind in enumerate(kinds):
                time.sleep(rng.uniform(0.2, 1.5))
                hold = rng.uniform(0.5, 3.0)
                if kind == "agent_kill":
                    agent.kill()
                    time.sleep(hold)
                    agent.start()
                elif kind == "hub_kill":
                    hub.kill()
                    time.sleep(hold)
                    hub.start()
                elif kind == "answer_lost":
                    proxy.set_mode("lose_answer")
                    time.sleep(hold)
                    proxy.set_mode("pass")
                elif kind == "disk_full":
                    ballast = _fill(outbox_dir) if on_tmpfs else None
                    time.sleep(hold)
                    if ballast is not None:
                        ballast.unlink()
                else:
                    proxy.set_mode(kind.removeprefix("proxy_"))  # type: ignore[arg-type]
                    time.sleep(hold)
                    proxy.set_mode("pass")
                faults[kind] += 1
                if progress:
                    progress(i + 1, iterations)
            publisher.stop()
            acknowledged = set(publisher.acked)
            _drain(hub_db, [_key(i) for i in acknowledged])
            time.sleep(2.0)  # anything sent twice would arrive by now
            commands.stop()
            agent.stop()
            hub.stop()
            proxy.close()
            # Both at rest: the agent forgets a record only once the hub has committed it, so a
            # reading in neither is lost, whatever the timing.
            stored = _stored(hub_db)
            seqs = _seqs(hub_db)
            alarms = _alarms(hub_db)
            outbox = _Outbox(outbox_dir / "outbox.db")
            agent_log = (folder / "agent.log").read_text(errors="replace")
    finally:
        if on_tmpfs:
            subprocess.run(["umount", "-l", str(outbox_dir)], check=False)
        shutil.rmtree(folder, ignore_errors=True)
    missing = sorted(i for i in acknowledged if stored.get(_key(i), 0) == 0)
    undrained = [i for i in missing if _key(i) in outbox.readings]
    lost = [i for i in missing if _key(i) not in outbox.readings]
    received = commands.received
    return {
        "iterations": iterations,
        "seed": seed,
        "published": publisher.published,
        "acknowledged": len(acknowledged),
        "stored": len(acknowledged) - len(missing),
        "lost": len(lost),
        "undrained": len(undrained),  # still in the agent's outbox when the wait ended
        "duplicates": sum(n - 1 for n in stored.values() if n > 1),
        "duration_s": time.monotonic() - started,
        "dead_letters": outbox.dead_letters,  # records the hub refused for good: each one is lost
        "faults": {kind: faults[kind] for kind in FAULTS},
        "agent_starts": agent.starts,
        "hub_starts": hub.starts,
        "outbox_on_tmpfs": on_tmpfs,
        "answers_lost": proxy.answers_lost,
        "alarms": len(alarms),
        "actions_fired": sum(1 for key in received if key in alarms),
        "actions_fired_twice": sum(1 for n in received.values() if n > 1),
        "agent_rejections_logged": _rejections_logged(agent_log),
        "lost_traces": [_trace(i, outbox, seqs) for i in lost[:_TRACED]],
    }


def _drain(hub_db: Path, keys: list[tuple[str, float]]) -> None:
    """Wait until the hub holds every one of ``keys``, or stops storing for a while."""
    started = last_progress = time.monotonic()
    stored = _stored(hub_db)
    while not all(key in stored for key in keys):
        time.sleep(0.5)
        now = time.monotonic()
        if now - last_progress > _DRAIN_IDLE_S or now - started > _DRAIN_CAP_S:
            break
        before, stored = len(stored), _stored(hub_db)
        if len(stored) > before:
            last_progress = now


class _Outbox:
    """What the agent's outbox held at the end: readings not yet sent, digests, dead letters."""

    def __init__(self, path: Path) -> None:
        with contextlib.closing(sqlite3.connect(path)) as db:
            self.readings = {
                (stream, float(ts))
                for stream, ts in db.execute(
                    "SELECT stream, timestamp FROM outbox WHERE kind = 'reading'"
                )
            }
            self.digests = {
                bytes(joined[i : i + _DIGEST_SIZE])
                for (joined,) in db.execute("SELECT digests FROM delivered_batches")
                for i in range(0, len(joined), _DIGEST_SIZE)
            }
            self.dead_letters = int(db.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0])


def _trace(i: int, outbox: _Outbox, seqs: Mapping[str, list[tuple[float, int]]]) -> dict[str, Any]:
    """Where lost message ``i`` went.

    ``stored_by_agent``: whether the outbox stored its message (the digest is kept for the
    latest 50,000 messages, so ``False`` for an old one only says it is no longer known).
    ``hub_seqs_around``: the sequence numbers of the stream's readings stored just before and
    after it; consecutive ones mean the reading never had a number of its own in the hub (never
    taken, or its number reused), a gap that its record was made and lost on the way.
    """
    digest = hashlib.blake2b(_TOPIC.encode() + b"\0" + _payload(i), digest_size=_DIGEST_SIZE)
    stream, timestamp = _key(i)
    numbered = seqs.get(stream, [])
    at = bisect.bisect_left(numbered, (timestamp, -1))
    return {
        "message": i,
        "stream": stream,
        "timestamp": timestamp,
        "stored_by_agent": digest.digest() in outbox.digests,
        "hub_seqs_around": [
            numbered[at - 1][1] if at > 0 else None,
            numbered[at][1] if at < len(numbered) else None,
        ],
    }


def _rejections_logged(log: str) -> dict[str, int]:
    """Lines of the agent's log that report turned-away input, by kind (rate-limited: at least
    one line for each kind that happened, in each run of the agent)."""
    kinds: Counter[str] = Counter()
    for line in log.splitlines():
        with contextlib.suppress(ValueError, AttributeError):
            message = json.loads(line).get("message", "")
            if message.startswith("rejected "):
                kinds[message.removeprefix("rejected ").split(":", 1)[0]] += 1
    return dict(kinds)
