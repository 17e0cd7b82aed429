"""The edge agent: inputs, pipelines per stream, events, actions, a durable outbox, uplink."""

from ._agent import Agent, AgentStats
from ._config import AgentConfig, ConfigError, StreamConfig, UplinkConfig, load_config, parse_config
from ._event import Event, events_of
from ._inbound import Deliver, Inbound, Input
from ._outbox import Outbox, OutboxFull, Record
from ._run import run as run_agent
from ._secret import Secret, SecretError
from ._uplink import Uplink

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentStats",
    "ConfigError",
    "Deliver",
    "Event",
    "Inbound",
    "Input",
    "Outbox",
    "OutboxFull",
    "Record",
    "Secret",
    "SecretError",
    "StreamConfig",
    "Uplink",
    "UplinkConfig",
    "events_of",
    "load_config",
    "parse_config",
    "run_agent",
]
