"""MQTT subscriptions: messages are acknowledged to the broker only once stored.

The client runs MQTT 5 with a persistent session (a fixed client id, no clean start, a session
expiry), so the broker keeps QoS 1 messages while the agent is away. Acknowledgements are manual:
the agent calls each message's ``ack`` after the outbox transaction holding it commits, so a crash
before then makes the broker deliver it again. ``receive_maximum`` caps the messages the broker
sends before their acknowledgements: the agent's window of messages in flight.

The client is our own (the wire format is ``_mqtt_wire``): paho-mqtt's per-packet work caps a
subscriber at about 2,600 QoS 1 messages a second on one core (docs/agent-input.md). One I/O
thread per input reads large chunks from a blocking socket and handles every complete packet in
them; it alone writes to the socket. ``ack`` only queues a packet identifier and, for the first of
a burst, wakes the thread through a pipe, so the agent's acknowledgements of a whole batch leave
in one write.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import ssl
import threading
import time
from functools import partial
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .._inbound import Deliver, Inbound
from .._secret import Secret
from ._backoff import Backoff
from ._mqtt_wire import (
    CONNACK,
    DISCONNECT,
    PINGREQ,
    PINGRESP,
    PUBLISH,
    REASON_STRING,
    SERVER_KEEP_ALIVE,
    SUBACK,
    MalformedPacket,
    Properties,
    decode_connack,
    decode_disconnect,
    decode_publish,
    decode_suback,
    encode_connect,
    encode_disconnect,
    encode_puback,
    encode_subscribe,
    reason_name,
    split_packets,
    topic_name,
)

__all__ = ["MqttInput", "MqttInputConfig", "MqttTls", "Subscription"]

log = logging.getLogger("edgewise.agent.mqtt")

PayloadFormat = Literal["json", "cbor", "senml+json", "senml+cbor"]


class Subscription(BaseModel):
    """One topic filter and its quality of service."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1)
    qos: Literal[0, 1] = 1


class MqttTls(BaseModel):
    """TLS to the broker: its CA, and the agent's own certificate if the broker asks for one."""

    model_config = ConfigDict(extra="forbid")

    ca: Path
    cert: Path | None = None
    key: Path | None = None


class MqttInputConfig(BaseModel):
    """An MQTT input: broker, subscriptions, payload format, where the stream name comes from."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["mqtt"]
    name: str = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topics: list[Subscription] = Field(min_length=1)
    format: PayloadFormat = "senml+json"
    stream_level: int | None = Field(
        default=None,
        description="Take the stream name from this level of the topic (0 = first), for payloads "
        "that do not name their stream.",
    )
    client_id: str = Field(min_length=1)
    session_expiry_s: int = Field(default=86_400, ge=0)
    receive_maximum: int = Field(default=1000, ge=1, le=65_535)
    keepalive_s: int = Field(default=30, ge=5)
    username: str | None = None
    password: Secret | None = None
    tls: MqttTls | None = None


_READ_SIZE = 1 << 18  # bytes a recv may return: a burst of small messages in one system call
_CONNECT_TIMEOUT_S = 10.0
_TOPIC_CACHE = 10_000  # distinct topics whose names are kept decoded
_PROTOCOL_ERROR = 0x82
_MALFORMED = 0x81

Packets = list[tuple[int, bytes]]


class _Lost(Exception):
    """The connection ends: why (logged), and the DISCONNECT reason to tell the broker, if any."""

    def __init__(self, why: str, reason: int | None = None) -> None:
        super().__init__(why)
        self.reason = reason


class MqttInput:
    """Deliver every message of the subscriptions, with an ``ack`` that tells the broker."""

    def __init__(self, config: MqttInputConfig) -> None:
        self.config = config
        self.name = config.name
        self.connected = False
        self._where = f"{config.host}:{config.port}"
        self._filters = [(s.topic, int(s.qos)) for s in config.topics]
        self._tls: ssl.SSLContext | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._topics: dict[bytes, str] = {}
        # Shared with the threads calling ``ack``: packet identifiers to acknowledge, whether the
        # I/O thread was woken for them, and which connection they belong to.
        self._lock = threading.Lock()
        self._acks: list[int] = []
        self._woken = False
        self._generation = 0
        self._wake_r = self._wake_w = -1

    def start(self, deliver: Deliver) -> None:
        tls = self.config.tls
        if tls is not None:
            self._tls = ssl.create_default_context(cafile=tls.ca)
            if tls.cert is not None:
                self._tls.load_cert_chain(tls.cert, tls.key)
        self._stopping.clear()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(
            target=self._run, args=(deliver,), name=f"mqtt-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        with self._lock:
            self._wake()
        self._thread.join()
        self._thread = None
        with self._lock:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    # -- the I/O thread ----------------------------------------------------------------------------

    def _run(self, deliver: Deliver) -> None:
        backoff = Backoff(first=1.0, most=30.0)
        while not self._stopping.is_set():
            sock: socket.socket | None = None
            try:
                sock, packets, rest, keepalive = self._connect()
                backoff.reset()
                self._serve(sock, packets, rest, keepalive, deliver)
                log.info("mqtt %s: disconnected from %s (stopped)", self.name, self._where)
            except (_Lost, MalformedPacket, OSError) as error:
                if isinstance(error, MalformedPacket):
                    reason: int | None = _MALFORMED
                    why = f"malformed packet from the broker: {error}"
                else:
                    reason = error.reason if isinstance(error, _Lost) else None
                    why = str(error)
                if sock is not None and reason is not None:
                    _say_goodbye(sock, reason)
                delay = backoff.next()
                log.warning("mqtt %s: %s; reconnecting in %g s", self.name, why, delay)
                self._stopping.wait(delay)
            finally:
                self.connected = False
                with self._lock:
                    self._generation += 1
                    self._acks.clear()
                if sock is not None:
                    sock.close()

    def _connect(self) -> tuple[socket.socket, Packets, bytes, float]:
        """A connection with its CONNACK read, the packets that came with it, the keepalive."""
        cfg = self.config
        try:
            sock = socket.create_connection((cfg.host, cfg.port), timeout=_CONNECT_TIMEOUT_S)
        except OSError as error:
            raise _Lost(f"cannot connect to {self._where}: {error}") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=cfg.host)
            password = None if cfg.password is None else cfg.password.reveal()
            sock.sendall(
                encode_connect(
                    cfg.client_id,
                    keepalive=cfg.keepalive_s,
                    clean_start=False,
                    session_expiry=cfg.session_expiry_s,
                    receive_maximum=cfg.receive_maximum,
                    username=cfg.username,
                    password=password,
                )
            )
            packets: Packets = []
            rest = b""
            while not packets:
                data = sock.recv(_READ_SIZE)
                if not data:
                    raise _Lost(f"{self._where} closed the connection before its CONNACK")
                packets, rest = split_packets(rest + data)
        except BaseException:
            sock.close()
            raise
        first, body = packets[0]
        if first != CONNACK << 4:
            sock.close()
            raise MalformedPacket(f"a packet of type {first >> 4} where the CONNACK belongs")
        connack = decode_connack(body)
        if connack.reason:
            sock.close()
            raise _Lost(
                f"connection refused by {self._where}: {reason_name(connack.reason)}"
                + _reason_string(connack.properties)
            )
        # A broker may ask for a keepalive of its own; the client must then use it.
        keepalive = connack.properties.get(SERVER_KEEP_ALIVE) or cfg.keepalive_s
        assert isinstance(keepalive, int)
        self.connected = True
        session = "session resumed" if connack.session_present else "new session"
        log.info("mqtt %s: connected to %s (%s)", self.name, self._where, session)
        return sock, packets[1:], rest, float(keepalive)

    def _serve(
        self, sock: socket.socket, packets: Packets, rest: bytes, keepalive: float, deliver: Deliver
    ) -> None:
        """Handle the connection until it fails (raises) or the input stops (returns)."""
        sock.sendall(encode_subscribe(1, self._filters))
        # A broker that stops in the middle of a packet must not hang the thread.
        sock.settimeout(keepalive)
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        tls = sock if isinstance(sock, ssl.SSLSocket) else None
        last_sent = time.monotonic()
        ping_sent: float | None = None
        generation = self._generation
        name, fmt, topics, ack = self.name, self.config.format, self._topics, self._ack
        while True:
            received = time.time()
            for first, body in packets:
                if first >> 4 == PUBLISH:
                    raw, qos, packet_id, payload = decode_publish(first, body)
                    topic = topics.get(raw) or self._topic(raw)
                    if qos == 1:
                        done = partial(ack, packet_id, generation)
                        deliver(Inbound(name, topic, payload, fmt, received, done, True))
                    elif qos == 0:
                        deliver(Inbound(name, topic, payload, fmt, received))
                    else:
                        raise _Lost("a QoS 2 message, though we subscribe with QoS 0 or 1", 0x9B)
                elif first == PINGRESP << 4:
                    ping_sent = None
                elif first == SUBACK << 4:
                    self._check_suback(body)
                elif first == DISCONNECT << 4:
                    reason, props = decode_disconnect(body)
                    why = f"{reason_name(reason)}{_reason_string(props)}"
                    raise _Lost(f"disconnected by {self._where}: {why}")
                else:
                    raise _Lost(f"an unexpected packet of type {first >> 4}", _PROTOCOL_ERROR)
            with self._lock:
                acks, self._acks = self._acks, []
                self._woken = False
            if acks:
                sock.sendall(b"".join(map(encode_puback, acks)))
                last_sent = time.monotonic()
            if self._stopping.is_set():
                sock.sendall(encode_disconnect())
                return
            now = time.monotonic()
            if ping_sent is not None:
                if now - ping_sent >= keepalive:
                    raise _Lost(f"no answer to a ping from {self._where} in {keepalive:g} s")
                wait = ping_sent + keepalive - now
            elif now - last_sent >= keepalive:
                sock.sendall(PINGREQ)
                ping_sent = last_sent = now
                wait = keepalive
            else:
                wait = last_sent + keepalive - now
            packets = []
            # Bytes TLS has already decrypted do not make the socket readable.
            if not (tls and tls.pending()):
                readable = False
                for fd, _ in poller.poll(wait * 1000):
                    if fd == self._wake_r:
                        os.read(fd, 4096)
                    else:
                        readable = True
                if not readable:
                    continue
            data = sock.recv(_READ_SIZE)
            if not data:
                raise _Lost(f"{self._where} closed the connection")
            packets, rest = split_packets(rest + data if rest else data)

    def _topic(self, raw: bytes) -> str:
        """The topic (or its stream level) of a PUBLISH's topic bytes, kept for the next one."""
        topic = topic_name(raw)
        level = self.config.stream_level
        if level is not None:
            levels = topic.split("/")
            topic = levels[level] if level < len(levels) else topic
        if len(self._topics) >= _TOPIC_CACHE:
            self._topics.clear()
        self._topics[raw] = topic
        return topic

    def _check_suback(self, body: bytes) -> None:
        _, codes, props = decode_suback(body)
        if len(codes) != len(self._filters):
            raise MalformedPacket(
                f"a SUBACK with {len(codes)} reason codes for {len(self._filters)} topic filters"
            )
        for (topic, qos), code in zip(self._filters, codes, strict=True):
            if code >= 0x80:
                log.error(
                    "mqtt %s: subscription to %r refused by %s: %s%s",
                    self.name,
                    topic,
                    self._where,
                    reason_name(code),
                    _reason_string(props),
                )
            elif code < qos:
                log.warning(
                    "mqtt %s: subscription to %r granted QoS %d only: messages are not kept "
                    "for the agent",
                    self.name,
                    topic,
                    code,
                )

    # -- any thread --------------------------------------------------------------------------------

    def _ack(self, packet_id: int, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                # Delivered on a connection since lost: the broker sends the message again on the
                # new one, to be acknowledged there. Acknowledging it here could acknowledge a
                # newer message the broker gave the same identifier.
                return
            self._acks.append(packet_id)
            if not self._woken:
                self._woken = True
                self._wake()

    def _wake(self) -> None:
        """Make the I/O thread look at its acknowledgements and flags (hold ``_lock``)."""
        # A full pipe means the thread has wake-ups waiting already.
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\0")


def _reason_string(props: Properties) -> str:
    text = props.get(REASON_STRING)
    return f" ({text})" if isinstance(text, str) else ""


def _say_goodbye(sock: socket.socket, reason: int) -> None:
    """A DISCONNECT with ``reason`` before closing, if the connection still takes it."""
    with contextlib.suppress(OSError):
        sock.sendall(encode_disconnect(reason))
