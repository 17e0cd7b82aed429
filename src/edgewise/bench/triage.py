"""Automatic triage over a simulated fleet month, beside an oracle severity-threshold rule.

The month's events (:mod:`edgewise.sim.fleet_month`) go through an :class:`Inbox` in time order
and :class:`Triage` runs every ``tick`` seconds; the ground truth is read only afterwards, to
score. An alert is an *incident alert* when any of its alarms belongs to an incident.

* **handled**: escalated by triage, or closed by triage when it was a nuisance. A closed
  incident alert counts as reopened by the person who finds the incident: not handled.
* **missed incident**: every alert carrying it was closed by triage.
* **false escalation**: an escalated nuisance alert.
* **baseline**: close below peak score ``a``, escalate above ``b``, leave the rest; ``a`` and
  ``b`` chosen on this run's own truth (an oracle) as the widest pair with no missed incident
  and false escalations at most 2% of the alerts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgewise.hub.alerts import Context, Event, Inbox, Triage, TriageRules
from edgewise.sim.fleet_month import Truth, fleet_month

__all__ = ["Replay", "replay", "run_triage", "run_triage_seeds", "score"]

FALSE_ESCALATION_LIMIT = 0.02


@dataclass(frozen=True, kw_only=True)
class Replay:
    """The inbox and triage after the month, and the alert each event went to."""

    inbox: Inbox
    triage: Triage
    alert_of_event: tuple[int | None, ...]
    notifications: int


def replay(
    events: Sequence[Event],
    *,
    context: Context,
    rules: TriageRules | None = None,
    tick: float = 60.0,
) -> Replay:
    """Feed ``events`` in; triage every ``tick`` seconds. Only events and device context go in."""
    inbox, triage = Inbox(), Triage(rules=rules, context=context)
    alert_of: list[int | None] = []
    notifications = 0
    clock = math.floor(events[0].at / tick) * tick if events else 0.0
    for event in events:
        while clock <= event.at:
            triage.run(inbox, now=clock)
            clock += tick
        ingested = inbox.ingest(event)
        alert_of.append(None if ingested is None else ingested.alert.id)
        notifications += bool(ingested and ingested.notify)
    end = clock + triage.rules.hold + tick
    while clock <= end:
        triage.run(inbox, now=clock)
        clock += tick
    return Replay(
        inbox=inbox, triage=triage, alert_of_event=tuple(alert_of), notifications=notifications
    )


def _incidents_of(
    run: Replay, events: Sequence[Event], truth: Sequence[Truth]
) -> dict[int, set[int]]:
    """Alert id -> the incidents among its alarms."""
    found: dict[int, set[int]] = {}
    for event, alert, fact in zip(events, run.alert_of_event, truth, strict=True):
        if alert is not None and event.phase == "alarm":
            incidents = found.setdefault(alert, set())
            if fact.incident is not None:
                incidents.add(fact.incident)
    return found


def _nuisance_types(events: Sequence[Event], run: Replay, truth: Sequence[Truth]) -> dict[int, str]:
    first: dict[int, str] = {}
    for event, alert, fact in zip(events, run.alert_of_event, truth, strict=True):
        if alert is not None and event.phase == "alarm":
            first.setdefault(alert, fact.type)
    return first


def _baseline(
    peaks: Mapping[int, float], incidents_of: Mapping[int, set[int]], incidents: Iterable[int]
) -> dict[str, Any]:
    """The oracle severity rule: the widest (a, b) with no miss and false escalations <= 2%."""
    best: dict[int, float] = {}
    for alert, found in incidents_of.items():
        for incident in found:
            best[incident] = max(best.get(incident, 0.0), peaks[alert])
    a = min((best[i] for i in incidents if i in best), default=math.inf)
    nuisance = sorted((peaks[k] for k, v in incidents_of.items() if not v), reverse=True)
    allowed = math.floor(FALSE_ESCALATION_LIMIT * len(peaks))
    b = max(a, nuisance[allowed] if allowed < len(nuisance) else -math.inf)
    handled = sum((peak < a and not incidents_of[k]) or peak > b for k, peak in peaks.items())
    return {
        "close_below": a,
        "escalate_above": b,
        "auto_handled_pct": 100.0 * handled / max(len(peaks), 1),
    }


def score(run: Replay, events: Sequence[Event], truth: Sequence[Truth]) -> dict[str, Any]:
    """The bench's measures for one replay, reading the ground truth only here."""
    incidents_of = _incidents_of(run, events, truth)
    types = _nuisance_types(events, run, truth)
    decisions = run.triage.decisions
    alerts = run.inbox.alerts
    handled = escalated_nuisance = 0
    left: Counter[str] = Counter()
    false_types: Counter[str] = Counter()
    kept: set[int] = set()  # incidents with an alert escalated or left for a person
    for alert in alerts:
        decision = decisions.get(alert.id)
        action = decision.action if decision else "leave"
        found = incidents_of[alert.id]
        if action != "close":
            kept |= found
        if action == "escalate":
            handled += 1
            if not found:
                escalated_nuisance += 1
                false_types[types[alert.id]] += 1
        elif action == "close":
            handled += not found
        else:
            left["incident" if found else types[alert.id]] += 1
    incidents = {fact.incident for fact in truth if fact.incident is not None}
    missed = sorted(incidents - kept)
    n = max(len(alerts), 1)
    peaks = {alert.id: alert.peak_score for alert in alerts}
    baseline = _baseline(peaks, incidents_of, incidents)
    return {
        "events": len(events),
        "alerts": len(alerts),
        "notifications": run.notifications,
        "incidents": len(incidents),
        "incident_alerts": sum(bool(v) for v in incidents_of.values()),
        "auto_handled_pct": 100.0 * handled / n,
        "missed_incidents": len(missed),
        "missed_incident_types": sorted({t.type for t in truth if t.incident in missed}),
        "false_escalations": escalated_nuisance,
        "false_escalations_pct": 100.0 * escalated_nuisance / n,
        "false_escalation_types": dict(sorted(false_types.items())),
        "left_for_a_person": dict(sorted(left.items())),
        "decisions": dict(sorted(Counter(d.action for d in decisions.values()).items())),
        "baseline_auto_handled_pct": baseline["auto_handled_pct"],
        "baseline_thresholds": {k: baseline[k] for k in ("close_below", "escalate_above")},
    }


def run_triage(
    *,
    seed: int = 0,
    n_devices: int = 50,
    sites: int = 5,
    days: int = 30,
    rules: TriageRules | None = None,
) -> dict[str, Any]:
    """Replay one simulated month (``seed``) through triage and score it; JSON-ready."""
    month = fleet_month(seed=seed, n_devices=n_devices, sites=sites, days=days)
    run = replay(month.events, context=month.context, rules=rules)
    return {"seed": seed, "devices": n_devices, "sites": sites, "days": days} | score(
        run, month.events, month.truth
    )


def run_triage_seeds(
    *, seeds: Sequence[int], rules: TriageRules | None = None, **fleet: int
) -> dict[str, Any]:
    """Several seeds: each one's result, the alerts of all, the worst of each other measure."""
    results = [run_triage(seed=seed, rules=rules, **fleet) for seed in seeds]
    margins = [r["auto_handled_pct"] - r["baseline_auto_handled_pct"] for r in results]
    return {
        "seeds": list(seeds),
        "alerts": sum(r["alerts"] for r in results),
        "auto_handled_pct": min(r["auto_handled_pct"] for r in results),
        "missed_incidents": max(r["missed_incidents"] for r in results),
        "false_escalations": max(r["false_escalations"] for r in results),
        "false_escalations_pct": max(r["false_escalations_pct"] for r in results),
        "baseline_auto_handled_pct": max(r["baseline_auto_handled_pct"] for r in results),
        "smallest_margin_over_baseline": min(margins),
        "per_seed": {str(r["seed"]): r for r in results},
    }
