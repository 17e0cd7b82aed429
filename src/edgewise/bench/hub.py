"""The hub's ingestion over HTTP, end to end, and its chart query under load.

A real ``edgewise hub run`` process (one uvicorn worker) on a fresh database of its own
(a SQLite file, or a PostgreSQL database it creates and drops); ``devices`` simulated devices,
each its own httpx client and token, send gzip batches of ``batch`` readings at once, as fast
as the hub answers. Readings per second are counted from the first request sent to the last
answer, on the hub's own count of what it stored. The batches are made before the clock
starts; the client's CPU time while it runs is reported beside the hub's, since both share this
machine's cores.

Then ``chart_readings`` readings of one stream are stored (in-process, through the same store
function the ingest uses) and ``wrk`` asks for the device page's chart at ``rate`` requests a
second, as a signed-in viewer: ``api_p99_ms`` is the 99th percentile of its latencies. Debian's
``wrk`` has no rate option: each of ``connections`` connections waits a fixed delay after each
answer (a Lua ``delay()``), set from a short calibration run so that the connections together
hold the rate; the rate achieved is reported.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_PG_URL", "make_batches", "run_hub_bench"]

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
_T0 = 1_700_000_000.0
_CHART_DEVICE = "chart-1"

# Each connection's wait after an answer comes from the command line (`delay_ms`); `done`
# prints what the run measured as one JSON line (latencies in microseconds).
_WRK_LUA = """
local delay_ms = 0
function init(args) delay_ms = tonumber(args[1]) end
function delay() return delay_ms end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "status_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def make_batches(
    device: str, *, batches: int, batch: int, detections: bool, first_seq: int = 0
) -> list[bytes]:
    """``batches`` gzip bodies of ``batch`` readings each of ``device``'s stream ``s``, as an
    agent sends them: three inputs at 10 Hz, and one detection each if ``detections``.

    >>> [body] = make_batches("d", batches=1, batch=2, detections=False)
    >>> [r["seq"] for r in json.loads(gzip.decompress(body))["records"]]
    [0, 1]
    """
    bodies = []
    for b in range(batches):
        records = []
        for seq in range(first_seq + b * batch, first_seq + (b + 1) * batch):
            t = _T0 + seq / 10
            body: dict[str, Any] = {
                "values": {"temp": 20.0 + (seq % 97) / 10, "rpm": 1500.0 + seq % 13, "vib": 0.5}
            }
            if detections:
                body["detections"] = [
                    {
                        "stream": "s",
                        "seq": seq,
                        "timestamp": t,
                        "score": (seq % 89) / 100,
                        "is_anomaly": False,
                        "alarm": False,
                        "explanation": None,
                        "detector": "default",
                        "model_version": "1bfe908688e7",
                        "events": [],
                    }
                ]
            records.append(
                {
                    "device": device,
                    "stream": "s",
                    "kind": "reading",
                    "seq": seq,
                    "name": "",
                    "timestamp": t,
                    "received": t + 0.02,
                    "body": body,
                }
            )
        document = {"version": 1, "agent": device, "records": records, "acked_commands": []}
        bodies.append(gzip.compress(json.dumps(document).encode(), compresslevel=1))
    return bodies


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _database(kind: str, pg_url: str, folder: Path) -> Iterator[str]:
    """A fresh database: a SQLite file in ``folder``, or a PostgreSQL database made on the
    server of ``pg_url`` and dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'hub-{uuid.uuid4().hex[:8]}.db'}"
        return
    import psycopg

    name = f"edgewise_bench_hub_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _hub(db_url: str, log: Path, *, max_concurrent: int) -> Iterator[tuple[str, int]]:
    """``edgewise hub run`` on ``db_url``, one worker; its URL and process id."""
    import httpx

    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edgewise",
                "hub",
                "run",
                "--db",
                db_url,
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--max-concurrent",
                str(max_concurrent),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the hub exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the hub did not start within 60 s")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _send_all(url: str, bodies: dict[str, tuple[str, list[bytes]]]) -> dict[str, int]:
    """Each device sends its bodies one after another, all devices at once; the hub's counts."""
    import httpx

    counts = {"stored": 0, "duplicates": 0, "busy": 0}

    async def device(token: str, mine: list[bytes]) -> None:
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
            for body in mine:
                while True:
                    answer = await client.post("/api/v1/ingest", content=body)
                    if answer.status_code != 503:
                        break
                    counts["busy"] += 1
                    await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
                answer.raise_for_status()
                got = answer.json()
                counts["stored"] += got["stored"]
                counts["duplicates"] += got["duplicates"]

    await asyncio.gather(*(device(token, mine) for token, mine in bodies.values()))
    return counts


def _ingest_run(
    kind: str,
    *,
    pg_url: str,
    folder: Path,
    devices: int,
    batches: int,
    batch: int,
    detections: bool,
) -> dict[str, Any]:
    from edgewise.hub import add_device, stored_keys, upgrade

    with _database(kind, pg_url, folder) as db_url:
        upgrade(db_url)
        names = [f"dev-{i:03d}" for i in range(devices)]
        bodies = {
            name: (
                add_device(db_url, name),
                make_batches(name, batches=batches, batch=batch, detections=detections),
            )
            for name in names
        }
        with _hub(db_url, folder / f"hub-{kind}.log", max_concurrent=devices) as (url, pid):
            hub_cpu, client_cpu = _cpu_s(pid), time.process_time()
            start = time.perf_counter()
            counts = asyncio.run(_send_all(url, bodies))
            seconds = time.perf_counter() - start
            hub_cpu, client_cpu = _cpu_s(pid) - hub_cpu, time.process_time() - client_cpu
        expected = devices * batches * batch
        # Exactly once: every key stored, none twice (checked outside the timed part).
        keys = stored_keys(db_url)
    if counts["stored"] != expected or len(keys) != expected or len(set(keys)) != expected:
        raise RuntimeError(f"{kind}: {counts['stored']} stored of {expected} sent")
    return {
        "readings_per_s": round(expected / seconds),
        "seconds": round(seconds, 3),
        "hub_cpu_s": round(hub_cpu, 2),
        "client_cpu_s": round(client_cpu, 2),
        "busy_answers": counts["busy"],
    }


def load_chart(db_url: str, *, readings: int, device: str = _CHART_DEVICE) -> None:
    """Store ``readings`` readings of ``device``'s stream ``s`` (1 Hz, three inputs and a score)
    through the ingest's store function, a thousand at a time."""
    from edgewise.hub import add_device, session
    from edgewise.hub._chunks import Readings
    from edgewise.hub._store import CHUNK_READINGS, store_readings

    add_device(db_url, device)
    for lo in range(0, readings, 50 * CHUNK_READINGS):
        runs = []
        for first in range(lo, min(readings, lo + 50 * CHUNK_READINGS), CHUNK_READINGS):
            seqs = range(first, min(readings, first + CHUNK_READINGS))
            runs.append(
                Readings.of(
                    device,
                    "s",
                    seq=seqs,
                    timestamp=[_T0 + seq for seq in seqs],
                    received=[_T0 + seq + 0.02 for seq in seqs],
                    values=[
                        {"temp": 20.0 + (seq % 97) / 10, "rpm": 1500.0 + seq % 13, "vib": 0.5}
                        for seq in seqs
                    ],
                    score=[(seq % 89) / 100 for seq in seqs],
                )
            )
        with session(db_url) as s:
            for run in runs:
                store_readings(s, [run], time.time())


def _viewer_cookie(url: str, db_url: str) -> str:
    import httpx

    from edgewise.hub import SESSION_COOKIE, add_user

    password = secrets.token_urlsafe(16)
    add_user(db_url, "bench-viewer", role="viewer", password=password)
    with httpx.Client(base_url=url) as client:
        answer = client.post("/login", data={"name": "bench-viewer", "password": password})
        if answer.status_code not in (200, 303):
            raise RuntimeError(f"signing in failed: HTTP {answer.status_code}")
        return f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"


def _wrk(
    url: str, cookie: str, script: Path, *, connections: int, delay_ms: float, seconds: int
) -> dict[str, Any]:
    done = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            "-H",
            f"Cookie: {cookie}",
            url,
            "--",
            f"{delay_ms:.0f}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def _chart_load(
    url: str, cookie: str, folder: Path, *, rate: float, seconds: int, connections: int
) -> dict[str, Any]:
    """``wrk`` on ``url`` at about ``rate`` requests a second; its latencies in ms."""
    script = folder / "rate.lua"
    script.write_text(_WRK_LUA)
    # Each connection asks once per `connections / rate` seconds: its answer's latency, then
    # the delay. A calibration run measures the latency to take off the delay.
    period_ms = connections * 1000 / rate
    trial = _wrk(url, cookie, script, connections=connections, delay_ms=period_ms, seconds=5)
    latency_ms = max(0.0, connections * 1000 / trial["rate"] - period_ms)
    delay_ms = max(1.0, period_ms - latency_ms)
    measured = _wrk(
        url, cookie, script, connections=connections, delay_ms=delay_ms, seconds=seconds
    )
    if measured["errors"] or measured["status_errors"]:
        raise RuntimeError(f"wrk saw errors: {measured}")
    return {
        "p50_ms": round(measured["p50_us"] / 1000, 2),
        "p99_ms": round(measured["p99_us"] / 1000, 2),
        "max_ms": round(measured["max_us"] / 1000, 2),
        "requests": measured["requests"],
        "rate": round(measured["rate"], 1),
    }


def _chart_run(
    kind: str,
    *,
    pg_url: str,
    folder: Path,
    readings: int,
    rate: float,
    seconds: int,
    connections: int,
) -> dict[str, Any]:
    from edgewise.hub import upgrade

    with _database(kind, pg_url, folder) as db_url:
        upgrade(db_url)
        started = time.perf_counter()
        load_chart(db_url, readings=readings)
        loaded_s = time.perf_counter() - started
        with _hub(db_url, folder / f"chart-{kind}.log", max_concurrent=8) as (url, _pid):
            cookie = _viewer_cookie(url, db_url)
            page = f"{url}/devices/{_CHART_DEVICE}/history"
            newest, whole = (
                _chart_load(
                    target, cookie, folder, rate=rate, seconds=seconds, connections=connections
                )
                # The newest readings, as the page asks; the whole stored range (hour rollups).
                for target in (page, f"{page}?span={readings + 1}")
            )
    return {"load_s": round(loaded_s, 1), "newest": newest, "whole_range": whole}


def run_hub_bench(
    *,
    pg_url: str = DEFAULT_PG_URL,
    devices: int = 50,
    batch: int = 500,
    batches: int = 10,
    runs: int = 3,
    detections: bool = False,
    chart_readings: int = 1_000_000,
    rate: float = 50.0,
    wrk_seconds: int = 30,
    wrk_connections: int = 5,
    databases: tuple[str, ...] = ("sqlite", "postgresql"),
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Ingestion readings a second (median of ``runs``) and the chart query's latencies, per
    database; keys ``sqlite_readings_per_s``, ``postgres_readings_per_s``, ``api_p99_ms`` (the
    device page's chart, the worse database) and the details of every run."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    result: dict[str, Any] = {
        "devices": devices,
        "batch": batch,
        "batches_per_device": batches,
        "detections": detections,
        "chart_readings": chart_readings,
        "load_average": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory(prefix="edgewise-bench-hub-") as scratch:
        folder = Path(scratch)
        for kind in databases:
            prefix = "postgres" if kind == "postgresql" else kind
            done = []
            for i in range(runs):
                progress(f"{kind}: ingest run {i + 1} of {runs}")
                done.append(
                    _ingest_run(
                        kind,
                        pg_url=pg_url,
                        folder=folder,
                        devices=devices,
                        batches=batches,
                        batch=batch,
                        detections=detections,
                    )
                )
            result[f"{prefix}_readings_per_s"] = statistics.median(
                r["readings_per_s"] for r in done
            )
            result[f"{prefix}_runs"] = done
            progress(f"{kind}: {chart_readings} readings, then wrk at {rate:g}/s")
            chart = _chart_run(
                kind, pg_url=pg_url, folder=folder, readings=chart_readings, rate=rate,
                seconds=wrk_seconds, connections=wrk_connections,
            )  # fmt: skip
            result[f"{prefix}_api_p99_ms"] = chart["newest"]["p99_ms"]
            result[f"{prefix}_api_range_p99_ms"] = chart["whole_range"]["p99_ms"]
            result[f"{prefix}_chart"] = chart
    result["api_p99_ms"] = max(
        result[f"{'postgres' if k == 'postgresql' else k}_api_p99_ms"] for k in databases
    )
    result["load_average_after"] = os.getloadavg()[0]
    return result
