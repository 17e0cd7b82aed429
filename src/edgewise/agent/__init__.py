"""The edge agent: inputs, pipelines per stream, events, actions, a durable outbox, uplink."""

from ._event import Event, events_of
from ._inbound import Deliver, Inbound, Input

__all__ = ["Deliver", "Event", "Inbound", "Input", "events_of"]
