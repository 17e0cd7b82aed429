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
from ._event import Event, events_of
from ._inbound import Deliver, Inbound, Input
from ._mqtt_publish import MqttPublisher
from ._signature import SIGNATURE_HEADER, sign_body, verify_signature

__all__ = [
    "OUTCOMES",
    "SIGNATURE_HEADER",
    "ActionConfig",
    "ActionFailed",
    "Actions",
    "CommandAction",
    "Deliver",
    "Event",
    "FiredLog",
    "Inbound",
    "Input",
    "MemoryFiredLog",
    "MqttAction",
    "MqttPublisher",
    "Publish",
    "RateConfig",
    "SqliteFiredLog",
    "WebhookAction",
    "event_body",
    "events_of",
    "sign_body",
    "verify_signature",
]
