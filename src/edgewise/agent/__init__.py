"""The edge agent: inputs, pipelines per stream, events, actions, a durable outbox, uplink."""

from ._action_config import ActionConfig, CommandAction, MqttAction, RateConfig, WebhookAction
from ._actions import (
    OUTCOMES,
    ActionFailed,
    Actions,
    FiredLog,
    MemoryFiredLog,
    Publish,
    SqliteFiredLog,
    event_body,
)
from ._agent import Agent, AgentStats
from ._config import AgentConfig, ConfigError, StreamConfig, UplinkConfig, load_config, parse_config
from ._decode import DEFAULT_MAX_BYTES, Decoded, PayloadError, PayloadKind, decode
from ._event import Event, events_of
from ._gate import Gate, Rejections, StreamRule
from ._inbound import Deliver, Inbound, Input
from ._mqtt_publish import MqttPublisher
from ._outbox import Outbox, OutboxFull, Record
from ._run import run as run_agent
from ._secret import Secret
from ._signature import SIGNATURE_HEADER, sign_body, verify_signature
from ._slots import Installed, Slots
from ._suppression import DualPredictor, Reconstructor, Suppressor
from ._updater import HubFetcher, ModelUpdater, Outcome
from ._uplink import Uplink

__all__ = [  # noqa: RUF022 (plain sort, as the API test checks)
    "ActionConfig",
    "ActionFailed",
    "Actions",
    "Agent",
    "AgentConfig",
    "AgentStats",
    "CommandAction",
    "ConfigError",
    "DEFAULT_MAX_BYTES",
    "Decoded",
    "Deliver",
    "DualPredictor",
    "Event",
    "FiredLog",
    "Gate",
    "HubFetcher",
    "Inbound",
    "Input",
    "Installed",
    "MemoryFiredLog",
    "ModelUpdater",
    "MqttAction",
    "MqttPublisher",
    "OUTCOMES",
    "Outbox",
    "OutboxFull",
    "Outcome",
    "PayloadError",
    "PayloadKind",
    "Publish",
    "RateConfig",
    "Reconstructor",
    "Record",
    "Rejections",
    "SIGNATURE_HEADER",
    "Secret",
    "Slots",
    "SqliteFiredLog",
    "StreamConfig",
    "StreamRule",
    "Suppressor",
    "Uplink",
    "UplinkConfig",
    "WebhookAction",
    "decode",
    "event_body",
    "events_of",
    "load_config",
    "parse_config",
    "run_agent",
    "sign_body",
    "verify_signature",
]
