"""Alerts: lifecycle, de-duplication, flapping, correlation, automatic triage, signed webhooks.

A pure library (no database): the hub feeds detections in as :class:`Event` objects and stores
what comes out. ``docs/triage.md`` describes the rules and the bench that measures them.
"""

from __future__ import annotations

from ._inbox import Inbox, Ingested, RelearnCommand
from ._model import TRIAGE, Alert, AlertError, Event, State, Transition
from ._triage import Context, Decision, Triage, TriageRules
from ._webhook import (
    SIGNATURE_HEADER,
    WebhookError,
    WebhookNotifier,
    alert_payload,
    sign,
    verify,
)

__all__ = [
    "SIGNATURE_HEADER",
    "TRIAGE",
    "Alert",
    "AlertError",
    "Context",
    "Decision",
    "Event",
    "Inbox",
    "Ingested",
    "RelearnCommand",
    "State",
    "Transition",
    "Triage",
    "TriageRules",
    "WebhookError",
    "WebhookNotifier",
    "alert_payload",
    "sign",
    "verify",
]
