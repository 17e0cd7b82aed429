"""The alert inbox: repeats fold into one alert, flapping is held, related alerts form groups."""

from __future__ import annotations

import bisect
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ._model import Alert, AlertError, Event

__all__ = ["Inbox", "Ingested", "RelearnCommand"]

Key = tuple[str, str, str]


@dataclass(frozen=True, kw_only=True)
class Ingested:
    """What one event did: the alert it opened or joined, and whether to notify anyone."""

    alert: Alert
    new: bool
    notify: bool


@dataclass(frozen=True, kw_only=True)
class RelearnCommand:
    """The command an "accept as new normal" sends to the device's agent.

    The hub queues it with ``edgewise.hub.queue_command(db_url, command.device,
    kind=command.kind, stream=command.stream)``; the agent's detector then relearns
    that stream from its current readings.
    """

    device: str
    stream: str
    kind: str = "relearn"


class Inbox:
    """Alerts built from events, in time order.

    * **De-duplication**: an alarm on the same (device, stream, kind) as an alert that is not
      closed and was active less than ``dedup_window`` seconds ago joins it (``count`` grows).
    * **Flapping**: a key whose episodes started ``flap_episodes`` times within ``flap_window``
      seconds is flapping: its new episodes join its open alert, or open one marked
      ``flapping`` that notifies nobody.
    * **Correlation**: a new alert joins the group of every alert on the same device, or at the
      same site, active less than ``correlate_window`` seconds ago, data and security alike; a
      group spans at most ``group_span`` seconds, so a busy site does not chain into one group.

    Examples
    --------
    >>> inbox = Inbox()
    >>> spike = dict(device="m1", site="s1", stream="temp", kind="range", score=0.9)
    >>> first = inbox.ingest(Event(at=0.0, **spike))
    >>> again = inbox.ingest(Event(at=60.0, **spike))
    >>> again.alert is first.alert, again.alert.count, again.notify
    (True, 2, False)
    >>> login = inbox.ingest(Event(at=120.0, device="gw", site="s1", stream="auth",
    ...                            kind="login_failure", category="security", score=0.7))
    >>> [a.id for a in inbox.group(login.alert)]
    [1, 2]
    """

    def __init__(
        self,
        *,
        dedup_window: float = 1800.0,
        flap_window: float = 7200.0,
        flap_episodes: int = 3,
        correlate_window: float = 1800.0,
        group_span: float = 21600.0,
    ) -> None:
        if min(dedup_window, flap_window, correlate_window, group_span) <= 0 or flap_episodes < 2:
            raise AlertError("windows must be positive and flap_episodes at least 2")
        self.dedup_window = dedup_window
        self.flap_window = flap_window
        self.flap_episodes = flap_episodes
        self.correlate_window = correlate_window
        self.group_span = group_span
        self.alerts: list[Alert] = []
        self._latest: dict[Key, Alert] = {}
        self._starts: dict[Key, deque[float]] = defaultdict(deque)
        self._in_episode: set[Key] = set()
        self._opened: dict[tuple[str, str], list[float]] = defaultdict(list)
        self._members: dict[int, list[Alert]] = {}
        self._recent: deque[Alert] = deque()
        self._next_id = 1

    def restore(
        self,
        alerts: Iterable[Alert],
        *,
        starts: Mapping[Key, Iterable[float]],
        opened: Iterable[tuple[str, str, float]] = (),
        next_id: int = 1,
    ) -> None:
        """Take up where a store left off, before any :meth:`ingest`.

        ``alerts`` are the stored alerts recent enough to matter (each key's latest among them),
        ``starts`` each key's recent episode starts (flapping), ``opened`` the (device, stream,
        time) of older alerts still counted by :meth:`opened_before`, ``next_id`` the next id.

        >>> inbox = Inbox()
        >>> old = Alert(id=7, first=Event(at=0.0, device="m1", site="s1", stream="temp",
        ...                               kind="range", score=0.8))
        >>> inbox.restore([old], starts={old.key: [0.0]}, next_id=8)
        >>> again = inbox.ingest(Event(at=60.0, device="m1", site="s1", stream="temp",
        ...                            kind="range", score=0.9))
        >>> again.alert is old, old.count, old.peak_score
        (True, 2, 0.9)
        >>> other = Event(at=60.0, device="m2", site="s1", stream="temp", kind="range")
        >>> inbox.ingest(other).alert.id
        8
        """
        if self.alerts:
            raise AlertError("restore an inbox before it ingests anything")
        self.alerts = sorted(alerts, key=lambda a: (a.first.at, a.id))
        self._next_id = max([next_id, *(a.id + 1 for a in self.alerts)])
        for alert in self.alerts:
            latest = self._latest.get(alert.key)
            if latest is None or latest.id < alert.id:
                self._latest[alert.key] = alert
            self._opened[(alert.first.device, alert.first.stream)].append(alert.first.at)
            self._members.setdefault(alert.group, []).append(alert)
            self._recent.append(alert)
        self._in_episode = {key for key, a in self._latest.items() if a.episode_open}
        for key, times in starts.items():
            self._starts[key] = deque(sorted(times))
        for device, stream, at in opened:
            self._opened[(device, stream)].append(at)
        for times in self._opened.values():
            times.sort()

    def starts(self, key: Key) -> list[float]:
        """The episode starts of ``key`` that flapping still counts (what a store keeps)."""
        return list(self._starts.get(key, ()))

    def ingest(self, event: Event) -> Ingested | None:
        """Fold ``event`` in; ``None`` for the end of an episode no alert knows."""
        key = event.key
        latest = self._latest.get(key)
        if event.phase == "end":
            self._in_episode.discard(key)
            if latest is None:
                return None
            self._touch(latest, event)
            latest.episode_open = False
            return Ingested(alert=latest, new=False, notify=False)
        starts = self._starts[key]
        new_episode = key not in self._in_episode
        if new_episode:
            self._in_episode.add(key)
            starts.append(event.at)
        while starts and starts[0] < event.at - self.flap_window:
            starts.popleft()
        flapping = len(starts) >= self.flap_episodes
        if latest is not None and latest.state != "closed":
            recent = event.at - latest.last_at <= self.dedup_window
            if recent or (flapping and new_episode):
                self._touch(latest, event)
                latest.count += 1
                latest.episodes += new_episode
                latest.episode_open = True
                latest.flapping = latest.flapping or flapping
                return Ingested(alert=latest, new=False, notify=False)
        alert = Alert(id=self._next_id, first=event, flapping=flapping)
        self._next_id += 1
        self.alerts.append(alert)
        self._latest[key] = alert
        self._opened[(event.device, event.stream)].append(event.at)
        self._correlate(alert)
        return Ingested(alert=alert, new=True, notify=not flapping)

    def group(self, alert: Alert) -> list[Alert]:
        """The alerts correlated with ``alert`` (itself included), oldest first."""
        return self._members[alert.group]

    def opened_before(self, alert: Alert, *, within: float) -> int:
        """Alerts opened on ``alert``'s device and stream in the ``within`` seconds before it."""
        times = self._opened[(alert.first.device, alert.first.stream)]
        at = alert.first.at
        return bisect.bisect_left(times, at) - bisect.bisect_left(times, at - within)

    def accept_as_normal(self, alert: Alert, *, by: str, at: float) -> RelearnCommand:
        """Close ``alert`` as a lasting change that is the new normal; the command to relearn."""
        alert.close(by=by, at=at, reason="accepted as the new normal: the detector relearns")
        return RelearnCommand(device=alert.first.device, stream=alert.first.stream)

    def _touch(self, alert: Alert, event: Event) -> None:
        alert.last_at = max(alert.last_at, event.at)
        alert.peak_score = max(alert.peak_score, event.score)
        alert.longest_episode = max(alert.longest_episode, event.episode_readings)

    def _correlate(self, alert: Alert) -> None:
        at, device, site = alert.first.at, alert.first.device, alert.first.site
        while self._recent and self._recent[0].last_at < at - self.group_span:
            self._recent.popleft()
        groups = {
            other.group
            for other in self._recent
            if other.last_at >= at - self.correlate_window
            and (other.first.device == device or other.first.site == site)
            and self._members[other.group][0].first.at >= at - self.group_span
        }
        self._recent.append(alert)
        if not groups:
            self._members[alert.group] = [alert]
            return
        target = min(groups)
        members = self._members[target]
        for group in sorted(groups - {target}):
            for other in self._members.pop(group):
                other.group = target
                members.append(other)
        alert.group = target
        members.append(alert)
        members.sort(key=lambda a: (a.first.at, a.id))
