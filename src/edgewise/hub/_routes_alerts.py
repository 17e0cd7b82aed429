"""People's alert routes: the inbox, and what a person does about an alert (all audited)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from ._alerts import AlertSettings, Folded, accept_alert, list_alerts, move_alert
from ._auth import Operator, Viewer, transaction

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

State = Literal["open", "acknowledged", "escalated", "closed"]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Why, in words.")


class Accepted(BaseModel):
    reason: str = Field(default="", max_length=2000)


def _changed(request: Request, folded: Folded) -> None:
    request.app.state.alerts_changed(folded)


def _settings(request: Request) -> AlertSettings:
    settings: AlertSettings = request.app.state.alert_settings
    return settings


@router.get("")
def alerts(
    request: Request,
    _who: Viewer,
    state: State | None = None,
    device: str | None = Query(default=None, min_length=1, max_length=200),
    limit: int = Query(default=200, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Alerts, newest activity first, with their transitions and triage's decision."""
    with transaction(request) as s:
        return list_alerts(s, states=None if state is None else [state], device=device, limit=limit)


def _move(
    request: Request,
    alert_id: AlertId,
    move: Literal["acknowledge", "escalate", "close", "reopen"],
    who: Operator,
    body: Reason,
) -> dict[str, Any]:
    with transaction(request) as s:
        shown, escalated = move_alert(
            s, alert_id, move, by=who.name, reason=body.reason, settings=_settings(request)
        )
    _changed(request, Folded(escalated=escalated))
    return shown


@router.post("/{alert_id}/acknowledge")
def acknowledge(request: Request, alert_id: AlertId, body: Reason, who: Operator) -> dict[str, Any]:
    """A person is on it."""
    return _move(request, alert_id, "acknowledge", who, body)


@router.post("/{alert_id}/escalate")
def escalate(request: Request, alert_id: AlertId, body: Reason, who: Operator) -> dict[str, Any]:
    """Someone is needed now: the webhooks are told."""
    return _move(request, alert_id, "escalate", who, body)


@router.post("/{alert_id}/close")
def close(request: Request, alert_id: AlertId, body: Reason, who: Operator) -> dict[str, Any]:
    """Nothing more to do."""
    return _move(request, alert_id, "close", who, body)


@router.post("/{alert_id}/reopen")
def reopen(request: Request, alert_id: AlertId, body: Reason, who: Operator) -> dict[str, Any]:
    """A closed alert needs a person after all (triage's close was wrong, say)."""
    return _move(request, alert_id, "reopen", who, body)


@router.post("/{alert_id}/accept")
def accept(request: Request, alert_id: AlertId, body: Accepted, who: Operator) -> dict[str, Any]:
    """The change is the new normal: close the alert, and the device's detector relearns the
    stream (a ``relearn`` command, delivered with the agent's next ingest)."""
    with transaction(request) as s:
        shown, command = accept_alert(
            s, alert_id, by=who.name, reason=body.reason, settings=_settings(request)
        )
    _changed(request, Folded())
    return {**shown, "command": command}
