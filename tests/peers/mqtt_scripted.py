"""A scripted MQTT broker, for what no real broker sends: malformed packets, protocol errors.

Everything else about the MQTT input is tested against Mosquitto (``edgewise.bench._services``).
The packet encoders here are the broker's side of the wire, which the client never writes.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from edgewise.agent.inputs._mqtt_wire import (
    Properties,
    encode_properties,
    encode_varint,
    split_packets,
)

CONNECT, SUBSCRIBE, PINGREQ = 1, 8, 12


def packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + encode_varint(len(body)) + body


def connack(reason: int = 0, props: Properties | None = None, *, session: bool = False) -> bytes:
    return packet(0x20, bytes((int(session), reason)) + encode_properties(props or {}))


def suback(packet_id: int, codes: list[int]) -> bytes:
    return packet(0x90, packet_id.to_bytes(2, "big") + b"\x00" + bytes(codes))


def publish(
    topic: bytes,
    payload: bytes,
    *,
    qos: int = 0,
    packet_id: int = 0,
    props: Properties | None = None,
) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += packet_id.to_bytes(2, "big")
    return packet(0x30 | qos << 1, body + encode_properties(props or {}) + payload)


class ScriptedBroker:
    """Answers CONNECT, SUBSCRIBE and PINGREQ on loopback, each connection from its own script.

    ``scripts[i]`` maps a packet type to the bytes sent when the ``i``-th connection sends it
    (the last script serves every later connection); by default CONNACK success, a SUBACK
    granting QoS 1 to one filter, PINGRESP. ``received[i]`` is what that connection sent.
    """

    def __init__(self, scripts: list[dict[int, bytes]]) -> None:
        self.scripts = scripts
        self.received: list[list[tuple[int, bytes]]] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._changed = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._changed:
                number = len(self.received)
                self.received.append([])
                self._changed.notify_all()
            script = self.scripts[min(number, len(self.scripts) - 1)]
            threading.Thread(target=self._serve, args=(conn, number, script), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int, script: dict[int, bytes]) -> None:
        answers = {CONNECT: connack(), SUBSCRIBE: suback(1, [1]), PINGREQ: b"\xd0\x00"} | script
        rest = b""
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                packets, rest = split_packets(rest + data)
                for first, body in packets:
                    with self._changed:
                        self.received[number].append((first, body))
                        self._changed.notify_all()
                    conn.sendall(answers.get(first >> 4, b""))

    def wait_connections(self, count: int, timeout: float = 20.0) -> None:
        with self._changed:
            met = self._changed.wait_for(lambda: len(self.received) >= count, timeout)
        assert met, f"{len(self.received)} of {count} connections came"

    def close(self) -> None:
        self._server.close()
