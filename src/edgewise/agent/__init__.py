"""The edge agent: inputs, pipelines per stream, events, actions, a durable outbox, uplink."""

from ._decode import DEFAULT_MAX_BYTES, Decoded, PayloadError, PayloadKind, decode
from ._event import Event, events_of
from ._gate import Gate, Rejections, StreamRule
from ._inbound import Deliver, Inbound, Input
from ._secret import Secret

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Decoded",
    "Deliver",
    "Event",
    "Gate",
    "Inbound",
    "Input",
    "PayloadError",
    "PayloadKind",
    "Rejections",
    "Secret",
    "StreamRule",
    "decode",
    "events_of",
]
