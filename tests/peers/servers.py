"""Peers the field-bus inputs are tested against, started by the tests: servers we did not write.

A pytest plugin (``tests/conftest.py`` loads it) with fixtures that build and start them.

- Modbus TCP: ``tests/peers/modbus_server.c`` on libmodbus (Debian's ``libmodbus-dev``),
  compiled here with gcc.
- OPC-UA: ``tests/peers/opcua/server.js`` on node-opcua (``npm ci`` in ``tests/peers/opcua``).

``.ci/run`` installs both when missing. Elsewhere a missing peer skips its tests with the
command that installs it; under CI it fails them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edgewise.agent import Inbound
from edgewise.stream import Reading

PEERS = Path(__file__).resolve().parent


def need_peer(reason: str) -> None:
    """Skip because a peer is missing; under CI, fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (under CI a missing peer is a failure)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Peer:
    """A server process started by a test; its output is kept to explain a failure."""

    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def stop(self) -> None:
        """Kill the server (no goodbye to its clients, as in a crash) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.reader is not None:
            self.reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_peer(command: list[str], cwd: Path | None = None, timeout: float = 30.0) -> Peer:
    """Run ``command`` and return once it prints ``ready``; fail with its output otherwise."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peer = Peer(process)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            peer.output.append(line)
            if line.strip() == "ready":
                ready.set()

    peer.reader = threading.Thread(target=read, daemon=True)
    peer.reader.start()
    if not ready.wait(timeout):
        peer.stop()
        pytest.fail(f"{command[0]} did not become ready:\n{''.join(peer.output)}")
    return peer


@pytest.fixture(scope="session")
def modbus_server_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The libmodbus test server, compiled once per test process."""
    if shutil.which("gcc") is None or shutil.which("pkg-config") is None:
        need_peer("gcc and pkg-config are needed to build the Modbus peer")
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "libmodbus"], capture_output=True, text=True
    )
    if flags.returncode != 0:
        need_peer("libmodbus is not installed (apt-get install -y libmodbus-dev)")
    binary = tmp_path_factory.mktemp("modbus") / "modbus_server"
    subprocess.run(
        [
            "gcc",
            "-O1",
            "-Wall",
            "-o",
            str(binary),
            str(PEERS / "modbus_server.c"),
            *flags.stdout.split(),
        ],
        check=True,
    )
    return binary


StartModbus = Callable[..., Peer]


@pytest.fixture
def modbus_server(modbus_server_binary: Path) -> Iterator[StartModbus]:
    """Start libmodbus servers: ``start(port, tag=1)``; all are killed after the test."""
    peers: list[Peer] = []

    def start(port: int, tag: int = 1) -> Peer:
        peer = start_peer([str(modbus_server_binary), str(port), str(tag)])
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.stop()


StartOpcua = Callable[..., Peer]
OPCUA_USER = "edge:s3cret"
"""The user every OPC-UA peer accepts (``name:password``), besides anonymous sessions."""


def _opcua_starter(pki: Path, peers: list[Peer]) -> StartOpcua:
    folder = PEERS / "opcua"
    if shutil.which("node") is None:
        need_peer("node is needed to run the OPC-UA peer")
    if not (folder / "node_modules" / "node-opcua-server").is_dir():
        need_peer(f"the OPC-UA peer is not installed (cd {folder} && npm ci --no-audit --no-fund)")

    def start(port: int) -> Peer:
        command = ["node", "server.js", "--port", str(port), "--pki", str(pki)]
        # Loading node-opcua takes seconds, more on a busy machine.
        peer = start_peer([*command, "--user", OPCUA_USER], cwd=folder, timeout=120.0)
        peers.append(peer)
        return peer

    return start


@pytest.fixture(scope="session")
def opcua_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One certificate store for the OPC-UA peers of a test process: made once, reused."""
    return tmp_path_factory.mktemp("opcua-pki")


@pytest.fixture
def opcua_server(opcua_pki: Path) -> Iterator[StartOpcua]:
    """Start node-opcua servers: ``start(port)``; all are killed after the test."""
    peers: list[Peer] = []
    yield _opcua_starter(opcua_pki, peers)
    for peer in peers:
        peer.stop()


@pytest.fixture(scope="module")
def shared_opcua_port(opcua_pki: Path) -> Iterator[int]:
    """The port of one node-opcua server shared by a module's tests that leave it running."""
    peers: list[Peer] = []
    port = free_port()
    _opcua_starter(opcua_pki, peers)(port)
    yield port
    for peer in peers:
        peer.stop()


class Collector:
    """A ``Deliver`` that keeps what it is given, and lets a test wait for what it expects."""

    def __init__(self) -> None:
        self.messages: list[Inbound] = []
        self._changed = threading.Condition()

    def __call__(self, message: Inbound) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    @property
    def readings(self) -> list[Reading]:
        with self._changed:
            return [r for m in self.messages for r in m.payload if isinstance(r, Reading)]

    def wait_messages(self, count: int, timeout: float = 20.0) -> list[Inbound]:
        """The first ``count`` messages, once they have come; fail with what came otherwise."""
        with self._changed:
            met = self._changed.wait_for(lambda: len(self.messages) >= count, timeout)
            assert met, f"timed out with {len(self.messages)} of {count} messages"
            return self.messages[:count]

    def wait_for(self, condition: Callable[[list[Reading]], bool], timeout: float = 20.0) -> None:
        """Wait until ``condition(readings)`` holds; fail with what arrived otherwise."""
        with self._changed:
            met = self._changed.wait_for(lambda: condition(self.readings), timeout)
        assert met, f"timed out; readings: {self.readings[-5:]}"


@pytest.fixture
def collector() -> Collector:
    return Collector()
