"""Real peers for tests and benchmarks: a Mosquitto broker and a NATS server of our own, free
ports, waiting.

The broker runs the published test configuration (:data:`MOSQUITTO_CONF`): persistence on and
``max_queued_messages 0`` (no limit), because the system broker's default of 1,000 queued
messages drops QoS 1 messages it has already acknowledged to their publisher, which no agent
could make up for.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "MOSQUITTO_CONF",
    "NATS_CONF",
    "AgentProcess",
    "Mosquitto",
    "NatsServer",
    "free_port",
    "pinned",
    "wait_for_port",
]

MOSQUITTO_CONF = """\
# edgewise's test configuration for Mosquitto 2: loopback only, anonymous, nothing dropped.
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {folder}/
autosave_interval 1
max_queued_messages 0
max_inflight_messages 0
log_dest file {folder}/mosquitto.log
{user}{options}"""


NATS_CONF = """\
# edgewise's test configuration for nats-server 2.9: loopback only, JetStream on its own folder.
listen: 127.0.0.1:{port}
server_name: edgewise-test
jetstream {{
    store_dir: "{folder}/jetstream"
    max_memory_store: 64MB
    max_file_store: 2GB
}}
"""


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(
    port: int, *, timeout: float = 10.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Return once something accepts connections on ``port``; raise if it takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"the process meant to listen on {port} exited ({process.returncode})"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class _Server:
    """A server process of the tests and benches: ``start()`` (or ``with``), then ``stop()``."""

    process: subprocess.Popen[bytes] | None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Mosquitto(_Server):
    """A Mosquitto broker in ``folder`` on a free port, for as long as the ``with`` block."""

    def __init__(self, folder: Path, *, port: int | None = None, options: str = "") -> None:
        """``options``: configuration lines after the published ones, applying to its one
        listener (``certfile``, ``keyfile``) or overriding it (``allow_anonymous false``)."""
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise FileNotFoundError(
                "mosquitto is not installed (Debian: apt-get install mosquitto)"
            )
        self.binary = binary
        self.folder = folder
        self.port = port or free_port()
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "mosquitto.conf"
        # Started as root, Mosquitto would switch to its own user, which cannot write our folder.
        user = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(
            MOSQUITTO_CONF.format(
                port=self.port, folder=self.folder, user=user, options=self.options
            )
        )
        self.process = subprocess.Popen([self.binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
        wait_for_port(self.port, process=self.process)
        return self


class NatsServer(_Server):
    """A ``nats-server -js`` in ``folder`` on a free port, run with :data:`NATS_CONF`."""

    def __init__(self, folder: Path, *, port: int | None = None) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(binary).exists():
            raise FileNotFoundError(
                "nats-server is not installed (Debian: apt-get install nats-server)"
            )
        self.binary = binary
        self.folder = folder
        self.port = port or free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "nats.conf"
        conf.write_text(NATS_CONF.format(port=self.port, folder=self.folder))
        with (self.folder / "nats.log").open("wb") as log:
            self.process = subprocess.Popen(
                [self.binary, "-js", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, process=self.process)
        return self


def pinned(core: int) -> list[str]:
    """``taskset -c core`` when the machine has it and that core, else nothing."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > core:
        return ["taskset", "-c", str(core)]
    return []


class AgentProcess:
    """``edgewise agent run`` pinned to core 0, watched through its ``/metrics``."""

    def __init__(self, config: Path, metrics: int) -> None:
        self.metrics = metrics
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [
                *pinned(0),
                sys.executable,
                "-m",
                "edgewise",
                "agent",
                "run",
                "--config",
                str(config),
                "--log-level",
                "warning",
            ],
        )

    def readings(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return -1
        for line in text.splitlines():
            if line.startswith("edgewise_agent_readings_total "):
                return int(float(line.split()[1]))
        return -1

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_for_port(self.metrics, timeout=timeout, process=self.process)

    def wait_readings(self, n: int, *, timeout: float = 300.0) -> tuple[float, float]:
        """Poll until ``n`` readings are done: (time of the first seen, time of the n-th)."""
        first: float | None = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.readings()
            now = time.monotonic()
            if done > 0 and first is None:
                first = now
            if done >= n:
                return (first or now), now
            time.sleep(0.005 if first is None else 0.05)  # a scrape costs the agent CPU
        raise TimeoutError(f"the agent did {self.readings()} of {n} readings in {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)
