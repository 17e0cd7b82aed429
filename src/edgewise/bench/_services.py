"""Real peers for tests and benchmarks: a Mosquitto broker of our own, free ports, waiting.

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
import time
from pathlib import Path
from types import TracebackType

__all__ = ["MOSQUITTO_CONF", "Mosquitto", "free_port", "wait_for_port"]

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


class Mosquitto:
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

    def start(self) -> Mosquitto:
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

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
