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

    hold: float = 5400.0
    """Seconds an alert waits for its episode to end and related alerts to arrive; an episode
    still open then is sustained."""
    drift_hold: float = 43200.0
    """Seconds a sustained, moderate alert alone waits before it is closed as a lasting change."""
    together: float = 300.0
    """Seconds within which alerts of several devices, or streams, start together."""
    site_devices: int = 3
    """Devices of one site alarming together that make an incident."""
    device_streams: int = 3
    """Streams of one device going abnormal together that point at the device itself."""
    short_readings: int = 8
    """Episodes this short that ended are short (spikes, brief excursions)."""
    noisy_alerts: int = 4
    """Alerts on a stream within the last week that make it a known-noisy stream."""
    sustained_readings: int = 60
    """Abnormal readings that make an ended episode sustained."""
    severe_score: float = 0.9
    """A peak score this high is never closed as a spike, flapping or noise."""
    broken_kinds: tuple[str, ...] = ("stuck", "range")
    """Kinds that, sustained, point at something broken rather than a new level."""
    drift_score: float = 0.7
    """A sustained episode alone below this peak is a benign lasting change."""
    burst_events: int = 10
    """Security events folded into one alert that make a burst."""
    burst_follow: float = 3600.0
    """Seconds after a burst starts in which a data alert at its site is escalated with it."""


class Triage:
    """Decide each alert once: when its episode ends or ``hold`` seconds after it opened.

    Examples
    --------
    >>> from edgewise.hub.alerts import Event, Inbox
    >>> inbox, triage = Inbox(), Triage()
    >>> _ = inbox.ingest(Event(at=0.0, device="m1", site="s1", stream="temp", kind="range",
    ...                        score=0.95))
    >>> _ = inbox.ingest(Event(at=1800.0, device="m1", site="s1", stream="temp", kind="range",
    ...                        score=0.95, phase="end", episode_readings=2))
    >>> [(d.action, d.reason) for d in triage.run(inbox, now=1800.0)]
    [('close', 'a short episode (2 readings) on m1/temp that ended, alone on its device')]
    >>> inbox.alerts[0].state, inbox.alerts[0].history[-1].by
    ('closed', 'triage')
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
            if alert.episode_open and now - alert.first.at < self.rules.hold:
                continue
            decided = self._decide(alert, inbox, now=now)
            if decided is None:
                continue
            action, reason = decided
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

    def _spike(self, alert: Alert) -> bool:
        """Its episodes have ended, each within ``short_readings`` readings."""
        return not alert.episode_open and alert.longest_episode <= self.rules.short_readings

    def _lasting(self, alert: Alert, *, now: float) -> bool:
        """Abnormal for longer than a spike: ended after more readings, or open past the hold."""
        if alert.episode_open:
            return now - alert.first.at >= self.rules.hold
        return alert.longest_episode > self.rules.short_readings

    def _decide(self, alert: Alert, inbox: Inbox, *, now: float) -> tuple[Action, str] | None:
        """The first rule that applies, in the order of docs/triage.md; ``None``: wait."""
        r, first = self.rules, alert.first
        name = f"{first.device}/{first.stream}"
        group = inbox.group(alert)
        near = [a for a in group if abs(a.first.at - first.at) <= r.together]
        # A spike that ended is no sign of a site incident: blips hit many devices at once.
        devices = {a.first.device for a in near if not self._spike(a)}
        mine = [a for a in group if a.first.device == first.device and a is not alert]
        related = sorted({a.first.stream for a in mine if self._lasting(a, now=now)})
        at_once = {a.first.stream for a in mine if abs(a.first.at - first.at) <= r.together}
        bursts = [
            a
            for a in group
            if a.first.category == "security"
            and a.count >= r.burst_events
            and 0 <= first.at - a.first.at <= r.burst_follow
        ]
        severe = alert.peak_score >= r.severe_score
        if self.context.in_maintenance(first.device, first.at):
            return "close", f"{first.device} was in a scheduled maintenance window"
        if first.category == "security":
            if alert.count >= r.burst_events:
                return "escalate", f"a burst of {alert.count} {first.kind} events on {name}"
            return "close", f"{alert.count} {first.kind} event(s) on {name}: no burst"
        if bursts:
            burst = bursts[0]
            return "escalate", (
                f"{name} alarmed at {first.site} around a burst of {burst.count} "
                f"{burst.first.kind} events on {burst.first.device}"
            )
        if len(devices) >= r.site_devices:
            return "escalate", (
                f"{len(devices)} devices at {first.site} alarmed within {r.together:.0f} s"
            )
        if alert.flapping and not severe:
            return "close", (
                f"{name} is flapping ({alert.episodes} short episodes), peak score "
                f"{alert.peak_score:.2f}"
            )
        if not self._lasting(alert, now=now):
            if not related:
                return "close", (
                    f"a short episode ({alert.longest_episode} readings) on {name} that ended, "
                    "alone on its device"
                )
            noisy = inbox.opened_before(alert, within=7 * _DAY)
            if noisy >= r.noisy_alerts and not severe:
                return "close", (
                    f"a short episode on {name}, which raised {noisy} alerts in the last week"
                )
        sustained = alert.episode_open or alert.longest_episode >= r.sustained_readings
        if sustained and len(at_once) + 1 >= r.device_streams:
            return "leave", (
                f"{len(at_once) + 1} streams of {first.device} went abnormal at once: "
                "switched off, in unscheduled maintenance, or failed? For a person"
            )
        if sustained:
            return self._sustained(alert, related, now=now)
        return "leave", f"no rule is sure about {name}: for a person"

    def _sustained(
        self, alert: Alert, related: list[str], *, now: float
    ) -> tuple[Action, str] | None:
        r, first = self.rules, alert.first
        name = f"{first.device}/{first.stream}"
        lasting = "still abnormal" if alert.episode_open else "abnormal"
        if related:
            return "escalate", f"{name} {lasting}, with {', '.join(related)} of the same device"
        if first.kind in r.broken_kinds:
            return "escalate", f"{name} {lasting}: a sustained {first.kind}, not a level change"
        if alert.peak_score >= r.drift_score:
            return "escalate", f"{name} {lasting}, peak score {alert.peak_score:.2f}"
        if alert.episode_open and now - first.at < r.drift_hold:
            return None
        return "close", (
            f"a lasting moderate change on {name} alone (peak score {alert.peak_score:.2f}): "
            "accept it as the new normal if it stays"
        )
