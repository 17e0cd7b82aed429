"""The edge agent: inputs, pipelines per stream, events, actions, a durable outbox, uplink."""

from ._event import Event, events_of
from ._inbound import Deliver, Inbound, Input
from ._suppression import DualPredictor, Reconstructor, Suppressor

__all__ = [
    "Deliver",
    "DualPredictor",
    "Event",
    "Inbound",
    "Input",
    "Reconstructor",
    "Suppressor",
    "events_of",
]
