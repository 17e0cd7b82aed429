"""What an input hands the agent: a message with its payload and how to acknowledge it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from edgewise.stream import Reading

__all__ = ["Deliver", "Inbound", "Input"]


@dataclass(slots=True)
class Inbound:
    """One message from an input, before decoding.

    Parameters
    ----------
    source
        The configured name of the input it came from.
    topic
        Where it came from within the input: an MQTT topic, an HTTP path, a Modbus unit, an
        OPC-UA node; decoders may take the stream name from it.
    payload
        The raw bytes to decode with ``format``, or readings the input made itself (polled
        Modbus registers, OPC-UA data changes, replayed files, simulators).
    format
        How to decode ``payload``: ``"json"``, ``"senml+json"``, ``"senml+cbor"``, ``"cbor"``;
        ``"readings"`` when the payload already is readings.
    received
        When the message reached the agent (epoch seconds, wall clock).
    ack
        Called once, after everything the message carried is durable in the outbox. ``None``
        when the sender keeps no copy.
    upstream_copy
        Whether the sender keeps the message until ``ack`` (MQTT QoS 1, HTTP push awaiting its
        response): such data is never dropped; with the outbox full the agent stops
        acknowledging instead. Polled values and derived data have no upstream copy.
    """

    source: str
    topic: str
    payload: bytes | list[Reading]
    format: str
    received: float
    ack: Callable[[], None] | None = field(default=None, repr=False)
    upstream_copy: bool = False


Deliver = Callable[[Inbound], None]
"""Where an input puts its messages; thread-safe, never blocks for long."""


class Input(Protocol):
    """A source of messages: started with where to deliver, stopped on shutdown or reload."""

    name: str

    def start(self, deliver: Deliver) -> None:
        """Begin delivering messages (from the input's own thread or event loop)."""

    def stop(self) -> None:
        """Stop delivering; return once no more messages will arrive."""
