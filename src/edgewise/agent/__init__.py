"""The edge agent: inputs, pipelines per stream, events, actions, a durable outbox, uplink."""

from ._inbound import Deliver, Inbound, Input

__all__ = ["Deliver", "Inbound", "Input"]
