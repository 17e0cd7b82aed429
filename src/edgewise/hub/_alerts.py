"""Alerts in the hub's database: the inbox and triage of ``edgewise.hub.alerts``, persisted.

Each change loads the alerts that can matter into an :class:`~edgewise.hub.alerts.Inbox` (the
recent ones, each key's latest, the ones triage has not decided), lets the library fold events,
triage and move states, and writes back what changed, under one lock so that two ingests never
open the same alert twice. The rules stay in the library; this module only maps and stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ._audit import audit
from ._db import Db, within
from ._devices import queue_command
from ._errors import HubError, NotFoundError
from ._models import AlertEvent, AlertRow, AlertTransition
from ._protocol import WireRecord
from .alerts import Alert, AlertError, Decision, Event, Inbox, State, Triage, TriageRules

__all__ = [
    "DETECTOR_KIND",
    "AlertSettings",
    "Folded",
    "Move",
    "accept_alert",
    "alert_counts",
    "fold_events",
    "list_alerts",
    "move_alert",
    "triage_due",
]

DETECTOR_KIND = "anomaly"
"""The kind of an alert raised by a detector's ``alarm`` (security sensors bring their own)."""

Move = Literal["acknowledge", "escalate", "close", "reopen"]
_WEEK = 7 * 86400.0
_STATES: dict[str, State] = {s: s for s in ("open", "acknowledged", "escalated", "closed")}
_LOCK_KEY = 80_005  # pg_advisory_xact_lock: the alerts' one writer at a time


@dataclass(frozen=True, kw_only=True)
class AlertSettings:
    """How alerts are made: ``inbox`` makes an empty inbox (its windows), ``rules`` are
    triage's, ``end_after`` the detectors' (readings an episode waits, not abnormal, before it
    ends), which gives an ended episode's length.

    >>> from functools import partial
    >>> AlertSettings(inbox=partial(Inbox, dedup_window=600.0)).inbox().dedup_window
    600.0
    """

    inbox: Callable[[], Inbox] = Inbox
    rules: TriageRules = field(default_factory=TriageRules)
    end_after: int = 30


@dataclass(frozen=True, kw_only=True)
class Folded:
    """What a change did: events folded, triage decisions made, alerts escalated (to notify)."""

    events: int = 0
    decided: int = 0
    escalated: tuple[Alert, ...] = ()


def _lock(s: Session) -> None:
    if s.get_bind().dialect.name == "postgresql":
        s.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
    else:
        # SQLite: a write takes the database's write lock now, before anything is read.
        s.execute(sa.update(AlertRow).where(sa.false()).values(state="open"))


def _alert(row: AlertRow) -> Alert:
    first = Event(
        at=row.first_at,
        device=row.device,
        site=row.site,
        stream=row.stream,
        kind=row.kind,
        category="security" if row.category == "security" else "data",
        score=row.first_score,
    )
    return Alert(
        id=row.id,
        first=first,
        last_at=row.last_at,
        count=row.count,
        peak_score=row.peak_score,
        episodes=row.episodes,
        longest_episode=row.longest_episode,
        episode_open=row.episode_open,
        flapping=row.flapping,
        group=row.group_id,
        state=_STATES[row.state],
    )


class _Loaded:
    """An inbox and a triage holding the stored alerts that matter around ``since``; the
    caller holds the alerts' lock (:func:`_lock`)."""

    def __init__(
        self,
        s: Session,
        settings: AlertSettings,
        *,
        since: float,
        sites: Collection[str],
        keys: Collection[tuple[str, str, str]] = (),
        undecided: bool = False,
    ) -> None:
        self.s, self.settings = s, settings
        self.inbox = settings.inbox()
        window = max(
            self.inbox.dedup_window,
            self.inbox.flap_window,
            self.inbox.correlate_window,
            self.inbox.group_span,
        )
        a = AlertRow
        # Correlation stays within a site (the hub's sites are its devices): the alerts of
        # ``sites`` active within the longest window, each of ``keys``' latest, and with
        # ``undecided`` those triage has not decided. One query per index: an OR scans.
        local = a.site.in_(sites)
        ids = set(s.scalars(sa.select(a.id).where(local, a.last_at >= since - window)))
        if undecided:
            waiting = sa.select(a.id).where(a.state == "open", a.triage_action.is_(None), local)
            ids |= set(s.scalars(waiting))
        for device, stream, kind in keys:
            latest = s.scalar(
                sa.select(sa.func.max(a.id)).where(
                    a.device == device, a.stream == stream, a.kind == kind
                )
            )
            if latest is not None:
                ids.add(latest)
        self.rows = {row.id: row for row in s.scalars(sa.select(a).where(a.id.in_(ids)))}
        alerts = [_alert(row) for row in self.rows.values()]
        # The week's other openings at these sites, for the noisy-stream rule.
        older = s.execute(
            sa.select(a.device, a.stream, a.first_at).where(
                local, a.last_at >= since - _WEEK, a.id.not_in(list(self.rows))
            )
        ).all()
        next_id = (s.scalar(sa.select(sa.func.max(a.id))) or 0) + 1
        self.latest: dict[tuple[str, str, str], Alert] = {}
        for alert in alerts:
            if alert.key not in self.latest or self.latest[alert.key].id < alert.id:
                self.latest[alert.key] = alert
        self.inbox.restore(
            alerts,
            starts={key: self.rows[x.id].starts for key, x in self.latest.items()},
            opened=[(r.device, r.stream, r.first_at) for r in older],
            next_id=next_id,
        )
        self.triage = Triage(rules=settings.rules)
        for row in self.rows.values():
            if row.triage_action is not None:
                # Only its presence matters: triage decides each alert once.
                self.triage.decisions[row.id] = Decision(
                    alert=row.id, at=row.triaged_at or 0.0, action="leave", reason=""
                )
        self.episode_seq = {row.id: row.episode_seq for row in self.rows.values()}
        self.explanations: dict[int, str | None] = {}

    def fold(self, record: WireRecord) -> Alert | None:
        """Fold one event record in; the alert it joined or opened, if any."""
        body, name = record.body, record.name
        if not (name == "alarm" or name.startswith(("end:", "accept:"))):
            return None  # relearn and the like: what the agent did, not news of a stream
        phase: Literal["alarm", "end"] = "alarm" if name == "alarm" else "end"
        key = (record.device, record.stream, DETECTOR_KIND)
        before = self.latest.get(key)
        in_episode = before is not None and before.episode_open
        readings = 1
        if phase == "end" and before is not None:
            since = self.episode_seq.get(before.id)
            if since is not None:
                # From the alarm's reading to the end's, less the quiet readings that ended it.
                readings = max(1, record.seq - since + 1 - self.settings.end_after)
        score = float(body.get("score", 0.0))
        done = self.inbox.ingest(
            Event(
                at=record.timestamp,
                device=record.device,
                site=record.device,  # the hub has no sites yet: a device is its own site
                stream=record.stream,
                kind=DETECTOR_KIND,
                score=min(1.0, max(0.0, score)),
                phase=phase,
                episode_readings=readings,
            )
        )
        if done is None:
            return None
        alert = done.alert
        self.latest[key] = alert
        if phase == "alarm" and (done.new or not in_episode):
            self.episode_seq[alert.id] = record.seq
        if done.new:
            explanation = body.get("explanation")
            self.explanations[alert.id] = explanation if isinstance(explanation, str) else None
        return alert

    def triage_now(self, now: float) -> list[Decision]:
        return self.triage.run(self.inbox, now=now)

    def save(self, decisions: Sequence[Decision] = ()) -> tuple[Alert, ...]:
        """Write back every change; the alerts that were escalated meanwhile."""
        for alert in self.inbox.alerts:
            row = self.rows.get(alert.id)
            if row is None:
                row = AlertRow(
                    id=alert.id,
                    device=alert.first.device,
                    site=alert.first.site,
                    stream=alert.first.stream,
                    kind=alert.first.kind,
                    category=alert.first.category,
                    first_at=alert.first.at,
                    first_score=alert.first.score,
                    explanation=self.explanations.get(alert.id),
                )
                self.s.add(row)
                self.rows[alert.id] = row
            row.last_at = alert.last_at
            row.count = alert.count
            row.peak_score = alert.peak_score
            row.episodes = alert.episodes
            row.longest_episode = alert.longest_episode
            row.episode_open = alert.episode_open
            row.episode_seq = self.episode_seq.get(alert.id)
            row.flapping = alert.flapping
            row.group_id = alert.group
            row.state = alert.state
            if self.latest.get(alert.key) is alert:
                row.starts = self.inbox.starts(alert.key)
            elif row.starts is None:
                row.starts = []
        for decision in decisions:
            row = self.rows[decision.alert]
            row.triage_action = decision.action
            row.triage_reason = decision.reason
            row.triaged_at = decision.at
        self.s.flush()  # new alerts first: transitions point at them
        escalated = []
        for alert in self.inbox.alerts:
            for move in alert.history:
                self.s.add(
                    AlertTransition(
                        alert_id=alert.id,
                        at=move.at,
                        actor=move.by,
                        before=move.before,
                        after=move.after,
                        reason=move.reason,
                    )
                )
            if any(move.after == "escalated" for move in alert.history):
                escalated.append(alert)
        self.s.flush()
        return tuple(escalated)


def fold_events(
    s: Session, records: Sequence[WireRecord], *, settings: AlertSettings, now: float
) -> Folded:
    """Fold a batch's event records into the alerts, each record once, then run triage.

    Runs in the ingest's transaction: the alerts change exactly when the records are stored.
    A record whose key was folded before (an agent's resend) changes nothing.
    """
    events = [r for r in records if r.kind == "event"]
    if not events:
        return Folded()
    keys = {(r.device, r.stream, r.seq, r.name) for r in events}
    e = AlertEvent
    _lock(s)
    loaded = _Loaded(
        s,
        settings,
        since=min([now, *(r.timestamp for r in events)]),
        sites={r.device for r in events},
        keys={(r.device, r.stream, DETECTOR_KIND) for r in events},
        undecided=True,
    )
    seen = {
        tuple(k)
        for k in s.execute(
            sa.select(e.device, e.stream, e.seq, e.name).where(
                sa.tuple_(e.device, e.stream, e.seq, e.name).in_(keys)
            )
        )
    }
    fresh: dict[tuple[str, str, int, str], WireRecord] = {}
    for r in events:
        key = (r.device, r.stream, r.seq, r.name)
        if key not in seen:
            fresh.setdefault(key, r)
    # Oldest first, as the inbox expects; an end after its alarm when they share a reading.
    ordered = sorted(fresh.items(), key=lambda kv: (kv[1].timestamp, kv[1].name != "alarm"))
    folded = [(key, loaded.fold(r)) for key, r in ordered]
    decisions = loaded.triage_now(now)
    escalated = loaded.save(decisions)
    for (device, stream, seq, name), alert in folded:
        s.add(
            AlertEvent(
                device=device,
                stream=stream,
                seq=seq,
                name=name,
                alert_id=None if alert is None else alert.id,
            )
        )
    return Folded(events=len(folded), decided=len(decisions), escalated=escalated)


def triage_due(s: Session, *, settings: AlertSettings, now: float) -> Folded:
    """Triage the alerts whose hold has passed since the last change (a periodic tick)."""
    _lock(s)
    waiting = s.execute(
        sa.select(AlertRow.site, sa.func.min(AlertRow.first_at))
        .where(AlertRow.state == "open", AlertRow.triage_action.is_(None))
        .group_by(AlertRow.site)
    ).all()
    if not waiting:
        return Folded()
    since = min([now, *(at for _, at in waiting)])
    loaded = _Loaded(s, settings, since=since, sites={site for site, _ in waiting}, undecided=True)
    decisions = loaded.triage_now(now)
    return Folded(decided=len(decisions), escalated=loaded.save(decisions))


@contextmanager
def _one(s: Session, alert_id: int, settings: AlertSettings) -> Iterator[tuple[_Loaded, Alert]]:
    _lock(s)
    row = s.get(AlertRow, alert_id)
    if row is None:
        raise NotFoundError(f"no alert {alert_id}")
    key = (row.device, row.stream, row.kind)
    loaded = _Loaded(s, settings, since=row.last_at, sites={row.site}, keys={key})
    alert = next(a for a in loaded.inbox.alerts if a.id == alert_id)
    try:
        yield loaded, alert
    except AlertError as error:
        raise HubError(str(error).replace(f"alert {alert_id} is", "the alert is")) from None


def move_alert(
    db: Db,
    alert_id: int,
    move: Move,
    *,
    by: str,
    reason: str,
    settings: AlertSettings | None = None,
) -> tuple[dict[str, Any], tuple[Alert, ...]]:
    """A person acknowledges, escalates, closes or reopens an alert, saying why (audited).

    The alert as :func:`list_alerts` shows it, and the alerts escalated (to notify).
    """
    with within(db) as s, _one(s, alert_id, settings or AlertSettings()) as (loaded, alert):
        getattr(alert, move)(by=by, at=time.time(), reason=reason)
        escalated = loaded.save()
        _audit(s, by, f"alert.{move}", alert, reason=reason)
        return _shown(s, alert_id), escalated


def accept_alert(
    db: Db,
    alert_id: int,
    *,
    by: str,
    reason: str = "",
    settings: AlertSettings | None = None,
) -> tuple[dict[str, Any], int]:
    """Accept an alert's lasting change as the new normal: close it and queue a ``relearn``
    for its device and stream (both audited); the alert and the command's id."""
    with within(db) as s, _one(s, alert_id, settings or AlertSettings()) as (loaded, alert):
        command = loaded.inbox.accept_as_normal(alert, by=by, at=time.time())
        loaded.save()
        queued = queue_command(s, command.device, "relearn", stream=command.stream, actor=by)
        _audit(s, by, "alert.accept", alert, reason=reason, command=queued)
        return _shown(s, alert_id), queued


def _audit(s: Session, by: str, action: str, alert: Alert, **detail: Any) -> None:
    target = f"alert {alert.id} ({alert.first.device}/{alert.first.stream})"
    audit(s, actor=by, action=action, target=target, detail={"alert": alert.id, **detail})


def _shown(s: Session, alert_id: int) -> dict[str, Any]:
    return list_alerts(s, ids=[alert_id])[0]


def list_alerts(
    db: Db,
    *,
    states: Collection[str] | None = None,
    device: str | None = None,
    ids: Sequence[int] | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Alerts, latest activity first (in ``states``, of ``device``), each with its transitions,
    oldest first.

    >>> import tempfile, os
    >>> from edgewise.hub import upgrade
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "hub.db")
    >>> upgrade(url)
    >>> list_alerts(url, states=["open"])
    []
    """
    a = AlertRow
    query = sa.select(a).order_by(a.last_at.desc(), a.id.desc()).limit(limit)
    if states is not None:
        query = query.where(a.state.in_(states))
    if device is not None:
        query = query.where(a.device == device)
    if ids is not None:
        query = query.where(a.id.in_(ids))
    with within(db) as s:
        rows = s.scalars(query).all()
        moves = s.scalars(
            sa.select(AlertTransition)
            .where(AlertTransition.alert_id.in_([r.id for r in rows]))
            .order_by(AlertTransition.id)
        ).all()
        history: dict[int, list[dict[str, Any]]] = {}
        for m in moves:
            history.setdefault(m.alert_id, []).append(
                {"at": m.at, "by": m.actor, "from": m.before, "to": m.after, "reason": m.reason}
            )
        return [_row(r, history.get(r.id, [])) for r in rows]


def _row(r: AlertRow, history: list[dict[str, Any]]) -> dict[str, Any]:
    triage = None
    if r.triage_action is not None:
        triage = {"action": r.triage_action, "reason": r.triage_reason, "at": r.triaged_at}
    return {
        "id": r.id,
        "device": r.device,
        "stream": r.stream,
        "kind": r.kind,
        "category": r.category,
        "state": r.state,
        "first_at": r.first_at,
        "last_at": r.last_at,
        "count": r.count,
        "peak_score": r.peak_score,
        "explanation": r.explanation,
        "flapping": r.flapping,
        "episode_open": r.episode_open,
        "episodes": r.episodes,
        "longest_episode": r.longest_episode,
        "group": r.group_id,
        "triage": triage,
        "history": history,
    }


def alert_counts(db: Db) -> dict[str, int]:
    """How many alerts are in each state (states with none are left out)."""
    with within(db) as s:
        rows = s.execute(sa.select(AlertRow.state, sa.func.count()).group_by(AlertRow.state)).all()
    return {state: n for state, n in rows}
