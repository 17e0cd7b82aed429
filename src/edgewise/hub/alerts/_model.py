"""An alert, its lifecycle (open, acknowledged, escalated, closed) and who moved it, when, why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["TRIAGE", "Alert", "AlertError", "Event", "State", "Transition"]

State = Literal["open", "acknowledged", "escalated", "closed"]
Category = Literal["data", "security"]
Phase = Literal["alarm", "end"]

TRIAGE = "triage"
"""Who a transition made by the automatic triage names (any other name is a person)."""

# Closed goes back to open only by a person reopening it; nothing else leaves closed.
_NEXT: dict[State, frozenset[State]] = {
    "open": frozenset({"acknowledged", "escalated", "closed"}),
    "acknowledged": frozenset({"escalated", "closed"}),
    "escalated": frozenset({"acknowledged", "closed"}),
    "closed": frozenset({"open"}),
}


class AlertError(ValueError):
    """An illegal alert transition or a malformed event."""


@dataclass(frozen=True, kw_only=True)
class Event:
    """What a detector or a security sensor reported about one stream, as the hub receives it.

    ``phase`` is ``"alarm"`` (an episode starts, or a second view fires within one) or ``"end"``
    (the episode ended); ``episode_readings`` counts the abnormal readings of the episode so far.
    ``at`` is in seconds (any epoch, the same for every event).
    """

    at: float
    device: str
    site: str
    stream: str
    kind: str
    category: Category = "data"
    score: float = 0.0
    phase: Phase = "alarm"
    episode_readings: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise AlertError(f"an event's score is in [0, 1], got {self.score}")
        if self.category not in ("data", "security"):
            raise AlertError(f"an event's category is data or security, got {self.category!r}")
        if self.phase not in ("alarm", "end"):
            raise AlertError(f"an event's phase is alarm or end, got {self.phase!r}")
        if self.episode_readings < 1:
            raise AlertError(f"an episode has at least one reading, got {self.episode_readings}")

    @property
    def key(self) -> tuple[str, str, str]:
        """Repeats of the same (device, stream, kind) fold into one alert."""
        return (self.device, self.stream, self.kind)


@dataclass(frozen=True, kw_only=True)
class Transition:
    """One move of an alert's state: from, to, by whom (a person or ``"triage"``), when, why."""

    before: State
    after: State
    by: str
    at: float
    reason: str


@dataclass(kw_only=True)
class Alert:
    """Repeats of one (device, stream, kind) folded together, and what was done about them.

    Examples
    --------
    >>> alert = Alert(id=1, first=Event(at=0.0, device="m1", site="s1", stream="temp",
    ...                                 kind="range", score=0.8))
    >>> _ = alert.acknowledge(by="ana", at=60.0, reason="looking at it")
    >>> _ = alert.close(by="ana", at=120.0, reason="fan replaced")
    >>> [(t.after, t.by) for t in alert.history]
    [('acknowledged', 'ana'), ('closed', 'ana')]
    >>> alert.escalate(by="ana", at=130.0, reason="again")
    Traceback (most recent call last):
    ...
    edgewise.hub.alerts._model.AlertError: alert 1 is closed: it can become open, not escalated
    """

    id: int
    first: Event
    last_at: float = 0.0
    count: int = 1
    peak_score: float = 0.0
    episodes: int = 1
    longest_episode: int = 1
    episode_open: bool = True
    flapping: bool = False
    group: int = 0
    state: State = "open"
    history: list[Transition] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.last_at = max(self.last_at, self.first.at)
        self.peak_score = max(self.peak_score, self.first.score)
        self.longest_episode = max(self.longest_episode, self.first.episode_readings)
        self.group = self.group or self.id

    @property
    def key(self) -> tuple[str, str, str]:
        return self.first.key

    def acknowledge(self, *, by: str, at: float, reason: str) -> Transition:
        """A person has seen the alert and is on it."""
        return self._move("acknowledged", by=by, at=at, reason=reason)

    def escalate(self, *, by: str, at: float, reason: str) -> Transition:
        """The alert needs someone now (a notification goes out)."""
        return self._move("escalated", by=by, at=at, reason=reason)

    def close(self, *, by: str, at: float, reason: str) -> Transition:
        """Nothing more to do."""
        return self._move("closed", by=by, at=at, reason=reason)

    def reopen(self, *, by: str, at: float, reason: str) -> Transition:
        """A person disagrees with a close."""
        return self._move("open", by=by, at=at, reason=reason)

    def _move(self, after: State, *, by: str, at: float, reason: str) -> Transition:
        if after not in _NEXT[self.state]:
            allowed = " or ".join(sorted(_NEXT[self.state]))
            raise AlertError(
                f"alert {self.id} is {self.state}: it can become {allowed}, not {after}"
            )
        if not by.strip() or not reason.strip():
            raise AlertError(f"alert {self.id}: a transition names who made it and why")
        move = Transition(before=self.state, after=after, by=by, at=at, reason=reason)
        self.history.append(move)
        self.state = after
        return move
