"""Scale-out: MQTT devices → bridge → JetStream → two hub workers → PostgreSQL, one worker killed.

Everything is real and our own: a ``nats-server -js`` and a Mosquitto with the published test
configurations (:mod:`edgewise.bench._services`), ``edgewise hub bridge``, two ``edgewise hub
consume`` processes on a fresh PostgreSQL schema, ``mosquitto_pub`` publishers at QoS 1. Once
``kill_fraction`` of the readings are stored, one worker gets SIGKILL; the other must store the
rest, and every reading must be stored exactly once. Later the bridge gets SIGKILL too and a
new one takes over its MQTT session. One reading from an unregistered device
and one malformed message must end up as dead letters, not in the database.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._services import Mosquitto, NatsServer

__all__ = ["DEFAULT_PG_URL", "run_scaleout"]

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
_T0 = 1_700_000_000.0
_PROBE = "probe"  # the device whose one reading shows the whole chain is up
_INTRUDER = "intruder"  # publishes, but is not registered in the hub


@contextmanager
def _scratch_schema(pg_url: str) -> Iterator[str]:
    """A URL on a fresh schema of ``pg_url``'s database, dropped afterwards."""
    import psycopg

    schema = f"scaleout_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _hub(log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``edgewise hub ARGS`` logging to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "edgewise", "hub", *args, "--log-level", "info"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _line(device: int, i: int) -> str:
    # Even devices number their readings; odd ones do not, and get their timestamp as seq.
    timestamp = _T0 + i * 0.5
    seq = f'"seq":{i},' if device % 2 == 0 else ""
    return f'{{{seq}"timestamp":{timestamp},"values":{{"x":{20.0 + (i % 97) * 0.01}}}}}\n'


def _publish(port: int, topic: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["mosquitto_pub", "-p", str(port), "-q", "1", "-t", topic, "-l"], stdin=subprocess.PIPE
    )


def _send(port: int, topic: str, payload: bytes) -> None:
    command = ["mosquitto_pub", "-p", str(port), "-q", "1", "-t", topic, "-s"]
    subprocess.run(command, input=payload, check=True)


def _topic(device: str, stream: str = "s") -> str:
    return f"edgewise/devices/{device}/readings/{stream}"


def _feed(publishers: list[subprocess.Popen[bytes]], readings: int, rate: float) -> None:
    """Write ``readings`` lines round-robin to the publishers, ``rate`` a second (0: at once)."""
    started = time.monotonic()
    chunk = 100
    for first in range(0, readings, chunk):
        for i in range(first, min(first + chunk, readings)):
            device = i % len(publishers)
            stdin = publishers[device].stdin
            assert stdin is not None
            stdin.write(_line(device, i // len(publishers)).encode())
        for p in publishers:
            assert p.stdin is not None
            p.stdin.flush()
        if rate > 0:
            ahead = started + (first + chunk) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    for p in publishers:
        assert p.stdin is not None
        p.stdin.close()


def _count(db_url: str) -> tuple[int, int]:
    """(records, distinct keys) stored, the probe's left out; readings sit in chunks, so the
    keys are read back one by one (a duplicate would be a key stored twice)."""
    from edgewise.hub import stored_keys

    keys = [k for k in stored_keys(db_url) if k.device != _PROBE]
    return len(keys), len(set(keys))


def _wait(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout:g} s")
        time.sleep(0.05)


def _ack_pending(nats_url: str) -> int:
    """Messages JetStream has handed to workers and not had acknowledged."""
    import asyncio

    import nats

    from edgewise.hub.scaleout import CONSUMER, RECORDS_STREAM

    async def main() -> int:
        nc = await nats.connect(nats_url)
        try:
            info = await nc.jetstream().consumer_info(RECORDS_STREAM, CONSUMER)
            return int(info.num_ack_pending or 0)
        finally:
            await nc.close()

    return asyncio.run(main())


def _last_count(log: Path, pattern: bytes) -> int:
    """The number ``pattern`` finds last in a process's log (its closing line), or -1."""
    found = re.findall(pattern, log.read_bytes())
    return int(found[-1]) if found else -1


def run_scaleout(
    *,
    readings: int = 20_000,
    devices: int = 10,
    rate: float = 0.0,
    kill_fraction: float = 0.3,
    bridge_kill_fraction: float = 0.6,
    ack_wait_s: float = 2.0,
    pg_url: str = DEFAULT_PG_URL,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the scale-out bench; its figures, with the dead letters' reasons.

    ``rate`` paces the publishers (readings a second, 0 for as fast as they go); the
    throughput is then the offered rate, not the chain's. ``readings_per_s`` spans the whole
    run, the kills and takeovers included; ``steady_readings_per_s`` the time before the first.
    """
    from edgewise.hub import add_device, stored_keys, upgrade
    from edgewise.hub.scaleout import dead_letters

    if readings < devices or not 0 < kill_fraction < bridge_kill_fraction < 1:
        raise ValueError(
            "give at least one reading a device and 0 < kill_fraction < bridge_kill_fraction < 1"
        )
    names = [f"dev-{d}" for d in range(devices)]
    with (
        tempfile.TemporaryDirectory(prefix="edgewise-scaleout-") as tmp,
        _scratch_schema(pg_url) as db_url,
        NatsServer(Path(tmp) / "nats") as nats_server,
        Mosquitto(Path(tmp) / "mosquitto") as broker,
    ):
        upgrade(db_url)
        for name in [*names, _PROBE]:
            add_device(db_url, name)
        consume = ["consume", "--db", db_url, "--nats", nats_server.url, "--batch", "500"]
        consume += ["--ack-wait", str(ack_wait_s), "--max-ack-pending", "5000"]
        mqtt_url = f"mqtt://127.0.0.1:{broker.port}"
        logs = [Path(tmp) / f"{n}.log" for n in ("bridge", "victim", "survivor", "bridge-2")]
        bridge = ["bridge", "--mqtt", mqtt_url, "--nats", nats_server.url]
        processes = [_hub(logs[0], *bridge)]
        try:
            processes += [_hub(logs[1], *consume), _hub(logs[2], *consume)]
            victim = processes[1]
            # Sent again until stored: the bridge may not have subscribed yet, and a copy
            # has the probe's key, so it is stored once.
            deadline = time.monotonic() + 60
            while not stored_keys(db_url):
                if time.monotonic() > deadline:
                    raise TimeoutError("the probe reading was not stored in 60 s")
                _send(broker.port, _topic(_PROBE), b'{"seq":0,"timestamp":0.0,"values":{"x":1}}')
                time.sleep(0.5)

            publishers = [_publish(broker.port, _topic(name)) for name in names]
            started = time.monotonic()
            feeder = threading.Thread(target=_feed, args=(publishers, readings, rate))
            feeder.start()
            _wait(
                lambda: _count(db_url)[0] >= kill_fraction * readings,
                120,
                f"fewer than {kill_fraction:.0%} of the readings stored",
            )
            # Frozen first, so that it dies holding what JetStream hands it meanwhile, as a
            # worker stuck on its database would: those messages must go to the other worker.
            steady = _count(db_url)[0] / (time.monotonic() - started)
            victim.send_signal(signal.SIGSTOP)
            time.sleep(0.5)
            held = _ack_pending(nats_server.url)
            victim.send_signal(signal.SIGKILL)
            killed_after = _count(db_url)[0]
            if progress is not None:
                progress(killed_after, readings)
            # The bridge too: the broker sends what it had not acknowledged to the next one.
            _wait(
                lambda: _count(db_url)[0] >= bridge_kill_fraction * readings,
                120,
                f"fewer than {bridge_kill_fraction:.0%} of the readings stored",
            )
            processes[0].send_signal(signal.SIGKILL)
            bridge_killed_after = _count(db_url)[0]
            processes.append(_hub(logs[3], *bridge))
            feeder.join()
            failed_publishers = sum(p.wait(120) != 0 for p in publishers)
            for text, topic in (
                (b'{"seq": 1, "timestamp": 1, "values": {"x": 1}}', _topic(_INTRUDER)),
                (b"not json", _topic(names[0], "broken")),
            ):
                _send(broker.port, topic, text)
            stored, last, last_change = killed_after, -1, time.monotonic()
            # Done when all are stored, or when nothing more arrives for a few ack_waits.
            while stored < readings and time.monotonic() - last_change < 4 * ack_wait_s + 10:
                time.sleep(0.05)
                stored = _count(db_url)[0]
                if stored != last:
                    last, last_change = stored, time.monotonic()
                    if progress is not None:
                        progress(stored, readings)
            elapsed = time.monotonic() - started
            _wait(lambda: len(dead_letters(nats_server.url)) >= 2, 20, "two dead letters")
            letters = dead_letters(nats_server.url)
        except BaseException:
            for log in logs:  # what the processes said, for whoever reads the failure
                sys.stderr.write(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
            raise
        finally:
            for p in processes:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in processes:
                p.wait(30)
        redelivered = _last_count(logs[2], rb"(\d+) messages delivered again")
        republished = _last_count(logs[3], rb"\((\d+) already in JetStream\)")
        rows, keys = _count(db_url)
        expected = {
            (name, "s", "reading", i if d % 2 == 0 else round((_T0 + i * 0.5) * 1_000_000))
            for d, name in enumerate(names)
            for i in range(_per_device(readings, devices, d))
        }
        got = {(k.device, k.stream, k.kind, k.seq) for k in stored_keys(db_url)}
    return {
        "published": readings,
        "stored": rows,
        "lost": len(expected - got),
        "duplicates": rows - keys,
        "unexpected": len(got - expected - {(_PROBE, "s", "reading", 0)}),
        "killed_after": killed_after,
        "unacked_at_kill": held,
        "redelivered": redelivered,
        "bridge_killed_after": bridge_killed_after,
        "republished_deduplicated": republished,
        "failed_publishers": failed_publishers,
        "readings_per_s": round(rows / elapsed, 1),
        "steady_readings_per_s": round(steady, 1),
        "offered_rate": rate or None,
        "workers": 2,
        "devices": devices,
        "ack_wait_s": ack_wait_s,
        "dead_letters": len(letters),
        "dead_letter_reasons": sorted(letter["reason"] for letter in letters),
    }


def _per_device(readings: int, devices: int, device: int) -> int:
    """How many of ``readings``, dealt round-robin, device number ``device`` publishes."""
    return readings // devices + (device < readings % devices)
