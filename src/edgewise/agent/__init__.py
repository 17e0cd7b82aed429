"""The edge agent: inputs, pipelines per stream, events, actions, a durable outbox, uplink."""

from ._agent import Agent, AgentStats
from ._config import AgentConfig, ConfigError, StreamConfig, UplinkConfig, load_config, parse_config
from ._decode import DEFAULT_MAX_BYTES, Decoded, PayloadError, PayloadKind, decode
from ._event import Event, events_of
from ._gate import Gate, Rejections, StreamRule
from ._inbound import Deliver, Inbound, Input
from ._outbox import Outbox, OutboxFull, Record
from ._run import run as run_agent
from ._secret import Secret
from ._uplink import Uplink

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Agent",
    "AgentConfig",
    "AgentStats",
    "ConfigError",
    "Decoded",
    "Deliver",
    "Event",
    "Gate",
    "Inbound",
    "Input",
    "Outbox",
    "OutboxFull",
    "PayloadError",
    "PayloadKind",
    "Record",
    "Rejections",
    "Secret",
    "StreamConfig",
    "StreamRule",
    "Uplink",
    "UplinkConfig",
    "decode",
    "events_of",
    "load_config",
    "parse_config",
    "run_agent",
]
