"""A loopback TCP proxy that misbehaves on demand: drops, blackholes, delays, loses answers.

Put between the agent and the hub, it makes the network faults of the durability benchmark:
``drop`` closes every connection and refuses new ones, ``blackhole`` takes bytes and forwards
none, ``latency`` delays everything by :attr:`TcpProxy.latency_s`, and ``lose_answer`` lets the
next request through to the hub but closes the connection when the hub answers: the hub has
committed the batch, the agent never hears so.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Literal

__all__ = ["Mode", "TcpProxy"]

Mode = Literal["pass", "drop", "blackhole", "latency", "lose_answer"]

_CHUNK = 65_536


class TcpProxy:
    """Forward ``127.0.0.1:port`` to ``127.0.0.1:upstream`` in the current :attr:`mode`."""

    def __init__(self, upstream: int, *, latency_s: float = 2.0) -> None:
        self.upstream = upstream
        self.latency_s = latency_s
        self.mode: Mode = "pass"
        self.answers_lost = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="proxy", daemon=True).start()

    def set_mode(self, mode: Mode) -> None:
        """Switch behaviour; ``drop`` also cuts the connections open now."""
        self.mode = mode
        if mode == "drop":
            self._cut_all()

    def _cut_all(self) -> None:
        with self._lock:
            for conn in self._connections:
                _close(conn)
            self._connections.clear()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.mode == "drop":
                _close(client)
                continue
            try:
                hub = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
                hub.settimeout(None)
            except OSError:
                _close(client)  # the hub is down: the agent sees a refused connection
                continue
            with self._lock:
                self._connections.update((client, hub))
            threading.Thread(target=self._pump, args=(client, hub, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(hub, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                mode = self.mode
                if mode == "blackhole":
                    continue
                if mode == "latency":
                    time.sleep(self.latency_s)
                if answers and mode == "lose_answer":
                    self.mode = "pass"  # one answer lost per switch to this mode
                    self.answers_lost += 1
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.discard(source)
                self._connections.discard(sink)
            _close(source)
            _close(sink)

    def close(self) -> None:
        self._closed = True
        _close(self._server)
        self._cut_all()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
