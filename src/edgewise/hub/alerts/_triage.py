"""Automatic triage: close the low-risk alerts, escalate the severe ones, say why in words.

Triage sees only what an alert carries and what the inbox knows around it: scores, kinds,
episode lengths, repeats, the correlated group, the stream's recent alerts and the device's
maintenance calendar. It never sees whether an alert was "really" an incident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ._inbox import Inbox
from ._model import TRIAGE, Alert

__all__ = ["Context", "Decision", "Triage", "TriageRules"]

Action = Literal["close", "escalate", "leave"]
_DAY = 86400.0


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What triage did with an alert, and the reason it gives an operator."""

    alert: int
    at: float
    action: Action
    reason: str


@dataclass(frozen=True, kw_only=True)
class Context:
    """What the hub knows about devices beyond their alerts: scheduled maintenance windows."""

    maintenance: Mapping[str, Sequence[tuple[float, float]]] = field(default_factory=dict)

    def in_maintenance(self, device: str, at: float) -> bool:
        return any(start <= at <= end for start, end in self.maintenance.get(device, ()))


@dataclass(frozen=True, kw_only=True)
class TriageRules:
    """The thresholds of the rules (docs/triage.md explains each; docs/tuning.md how chosen)."""

    hold: float = 3600.0
    """Seconds an alert waits for its episode to end and related alerts to arrive."""
    site_devices: int = 3
    """Devices of one site alarming together that make an incident."""
    spike_readings: int = 3
    """Episodes this short that ended are spikes."""
    noisy_alerts: int = 4
    """Alerts on a stream within the last week that make it a known-noisy stream."""
    sustained_readings: int = 60
    """Abnormal readings that make an episode sustained."""
    severe_score: float = 0.9
    """A peak score this high is never closed as a spike, flapping or noise."""
    drift_score: float = 0.7
    """A sustained episode below this peak on one stream alone is a benign lasting change."""
    login_burst: int = 8
    """Failed logins folded into one alert that make a burst."""


class Triage:
    """Decide each alert once, after ``hold`` seconds or when its episode has ended.

    Examples
    --------
    >>> from edgewise.hub.alerts import Event, Inbox
    >>> inbox, triage = Inbox(), Triage()
    >>> _ = inbox.ingest(Event(at=0.0, device="m1", site="s1", stream="temp", kind="range",
    ...                        score=0.95))
    >>> _ = inbox.ingest(Event(at=1800.0, device="m1", site="s1", stream="temp", kind="range",
    ...                        score=0.95, phase="end", episode_readings=2))
    >>> [(d.action, d.reason) for d in triage.run(inbox, now=1800.0)]
    [('close', 'a spike of 2 readings on m1/temp that ended, with nothing related')]
    """

    def __init__(self, *, rules: TriageRules | None = None, context: Context | None = None) -> None:
        self.rules = rules or TriageRules()
        self.context = context or Context()
        self.decisions: dict[int, Decision] = {}
        self._next = 0

    def run(self, inbox: Inbox, *, now: float) -> list[Decision]:
        """Decide every alert that is due at ``now``; apply closes and escalations."""
        made = []
        for alert in inbox.alerts[self._next :]:
            if alert.id in self.decisions or alert.state != "open":
                continue
            due = not alert.episode_open or now - alert.first.at >= self.rules.hold
            if not due:
                continue
            action, reason = self._decide(alert, inbox)
            decision = Decision(alert=alert.id, at=now, action=action, reason=reason)
            self.decisions[alert.id] = decision
            made.append(decision)
            if action == "close":
                alert.close(by=TRIAGE, at=now, reason=reason)
            elif action == "escalate":
                alert.escalate(by=TRIAGE, at=now, reason=reason)
        while self._next < len(inbox.alerts) and inbox.alerts[self._next].id in self.decisions:
            self._next += 1
        return made

    def _decide(self, alert: Alert, inbox: Inbox) -> tuple[Action, str]:
        r, first = self.rules, alert.first
        name = f"{first.device}/{first.stream}"
        group = inbox.group(alert)
        others = [a for a in group if a is not alert]
        devices = {a.first.device for a in group}
        same_device = {a.first.stream for a in others if a.first.device == first.device}
        categories = {a.first.category for a in group}
        severe = alert.peak_score >= r.severe_score
        if self.context.in_maintenance(first.device, first.at):
            return "close", f"{first.device} was in a scheduled maintenance window"
        if len(categories) == 2:
            return "escalate", (
                f"security and data alerts together at {first.site} "
                f"({len(group)} alerts on {len(devices)} devices)"
            )
        if len(devices) >= r.site_devices:
            return "escalate", f"{len(devices)} devices at {first.site} alarmed together"
        if first.category == "security":
            if alert.count >= r.login_burst:
                return "escalate", f"a burst of {alert.count} {first.kind} events on {name}"
            return "close", f"{alert.count} {first.kind} event(s) on {name}: no burst, no data"
        if alert.flapping and not severe:
            return "close", (
                f"{name} is flapping ({alert.episodes} short episodes), peak score "
                f"{alert.peak_score:.2f}"
            )
        if not alert.episode_open and alert.longest_episode <= r.spike_readings and not same_device:
            return "close", (
                f"a spike of {alert.longest_episode} readings on {name} that ended, "
                "with nothing related"
            )
        noisy = inbox.opened_before(alert, within=7 * _DAY)
        if noisy >= r.noisy_alerts and not severe:
            return "close", f"{name} raised {noisy} alerts in the last week; this one is no worse"
        if alert.longest_episode >= r.sustained_readings:
            if same_device:
                return "escalate", (
                    f"{name} abnormal for {alert.longest_episode} readings, with "
                    f"{', '.join(sorted(same_device))} of the same device"
                )
            if alert.peak_score < r.drift_score:
                return "close", (
                    f"a lasting moderate change on {name} alone (peak score "
                    f"{alert.peak_score:.2f}): accept it as the new normal if it stays"
                )
            return "escalate", (
                f"{name} abnormal for {alert.longest_episode} readings, peak score "
                f"{alert.peak_score:.2f}"
            )
        return "leave", f"no rule is sure about {name}: for a person"
