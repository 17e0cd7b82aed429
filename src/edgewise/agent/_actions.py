"""Local actions: what the agent does on an event by itself, whether or not the hub is there.

:class:`Actions` takes events from the runner without ever blocking it: each action has its own
bounded queue and worker thread, so a slow webhook never delays a command to the local broker.
A worker takes an event, checks the action's token bucket, claims ``(action, event key)`` in a
:class:`FiredLog`, then fires.

**At most once, never twice.** The claim is durable before the action fires. A crash between
the two loses that one firing; the other order (fire, then record) would fire it again on the
replay after a restart. A command that stops a pump, run twice, is worse than one run lost and
logged, and a lost run is visible in the counters; so actions are at most once per event key.

Outcomes are counted per action (``fired``, ``failed``, ``rate_limited``, ``duplicate``,
``dropped``: the queue was full or the dispatcher closed); failures are logged at most once a
minute per action, naming the action and the kind of failure, never a URL or a secret.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ._action_config import ActionConfig, render
from ._event import Event
from ._secret import SecretError
from ._signature import SIGNATURE_HEADER, sign_body

if TYPE_CHECKING:
    import httpx

__all__ = [
    "OUTCOMES",
    "ActionFailed",
    "Actions",
    "FiredLog",
    "MemoryFiredLog",
    "Publish",
    "SqliteFiredLog",
    "event_body",
]

log = logging.getLogger("edgewise.agent.actions")

OUTCOMES = ("fired", "failed", "rate_limited", "duplicate", "dropped")
"""What can become of an event submitted to an action."""

Publish = Callable[[str, bytes, int, bool], None]
"""Publish ``(topic, payload, qos, retain)`` on the local broker; raise if it did not happen."""


class ActionFailed(Exception):
    """An action ran and did not succeed (a status code, an exit code); safe to log."""


class FiredLog(Protocol):
    """Remembers which actions fired for which events (the agent's outbox is one)."""

    def claim(self, action: str, key: str) -> bool:
        """Record that ``action`` fires for event ``key``; true only the first time."""
        ...


class MemoryFiredLog:
    """A :class:`FiredLog` that forgets on restart: for tests and one-off runs.

    >>> fired = MemoryFiredLog()
    >>> fired.claim("stop", "k"), fired.claim("stop", "k")
    (True, False)
    """

    def __init__(self) -> None:
        self._claimed: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def claim(self, action: str, key: str) -> bool:
        """Record that ``action`` fires for event ``key``; true only the first time."""
        with self._lock:
            if (action, key) in self._claimed:
                return False
            self._claimed.add((action, key))
            return True


class SqliteFiredLog:
    """A durable :class:`FiredLog` in its own SQLite file (WAL, ``synchronous=FULL``).

    The agent uses its outbox's table instead; this one serves tests and standalone use.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "fired.db")
    >>> with SqliteFiredLog(path) as fired:
    ...     fired.claim("stop", "k")
    True
    >>> with SqliteFiredLog(path) as fired:
    ...     fired.claim("stop", "k")
    False
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        # A claim must survive power loss, or a restart would fire the action again.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS fired (action TEXT NOT NULL, key TEXT NOT NULL,"
            " PRIMARY KEY (action, key))"
        )

    def claim(self, action: str, key: str) -> bool:
        """Record that ``action`` fires for event ``key``; true only the first time."""
        with self._lock:
            cursor = self._db.execute("INSERT OR IGNORE INTO fired VALUES (?, ?)", (action, key))
            return cursor.rowcount == 1

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteFiredLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def event_body(event: Event, *, action: str) -> bytes:
    """The event as compact JSON, with its key and the action: a webhook's body.

    >>> e = Event("press-7", "pump-1", 41, "alarm", 1.7e9, 0.98, "hot", "default", "1bfe90")
    >>> event_body(e, action="page")[:60]
    b'{"action":"page","detector":"default","device":"press-7","ex'
    """
    document = {**asdict(event), "key": event.key, "action": action}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class _Lane:
    """One action's queue, worker, token bucket and counts."""

    config: ActionConfig
    queue: queue.Queue[tuple[Event, float] | None]
    tokens: float
    refilled: float | None = None
    thread: threading.Thread | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    latencies: deque[float] = field(default_factory=deque)
    unreported: int = 0
    reported: float | None = None


class Actions:
    """Fire the configured actions on events, off the caller's thread.

    ``publish`` serves MQTT actions (:class:`~edgewise.agent.MqttPublisher` makes one);
    ``fired`` remembers what fired across restarts; ``clock`` (seconds, monotonic) drives the
    token buckets, the latencies and the pacing of failure logs; ``transport`` is the httpx
    transport for webhooks (``httpx.MockTransport`` in tests). ``queue_size`` bounds each
    action's queue; ``keep_latencies`` how many recent latencies each action keeps.

    >>> import sys, tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "stopped")
    >>> config = ActionConfig.model_validate({"name": "mark", "on": "alarm",
    ...     "command": {"argv": [sys.executable, "-c",
    ...                          "import sys; open(sys.argv[1], 'w').write(sys.argv[2])",
    ...                          out, "{stream}"]}})
    >>> e = Event("press-7", "pump-1", 41, "alarm", 1.7e9, 0.98, "hot", "default", "1bfe90")
    >>> with Actions([config], publish=None, fired=MemoryFiredLog()) as actions:
    ...     actions.submit(e)
    ...     actions.submit(e)
    >>> actions.counters()["mark"]
    {'fired': 1, 'failed': 0, 'rate_limited': 0, 'duplicate': 1, 'dropped': 0}
    >>> Path(out).read_text()
    'pump-1'
    """

    def __init__(
        self,
        configs: Sequence[ActionConfig],
        *,
        publish: Publish | None,
        fired: FiredLog,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
        queue_size: int = 1000,
        keep_latencies: int = 10_000,
        log_every_s: float = 60.0,
    ) -> None:
        names = [c.name for c in configs]
        if len(set(names)) != len(names):
            raise ValueError(f"action names must be unique: {names}")
        if publish is None and any(c.kind == "mqtt" for c in configs):
            raise ValueError("MQTT actions need a publish callable (MqttPublisher)")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        for config in configs:
            if config.webhook is not None:
                # A secret that cannot be read is a configuration error: report it now.
                config.webhook.secret.reveal()
        self._publish = publish
        self._fired = fired
        self._clock = clock
        self._keep_latencies = keep_latencies
        self._log_every_s = log_every_s
        self._lock = threading.Lock()
        self._closed = False
        self._http: httpx.Client | None = None
        if any(c.kind == "webhook" for c in configs):
            import httpx

            # Redirects are not followed: a signed body goes only where it was configured to.
            self._http = httpx.Client(transport=transport, follow_redirects=False)
        self._lanes = [
            _Lane(config=c, queue=queue.Queue(maxsize=queue_size), tokens=float(c.rate.burst))
            for c in configs
        ]
        for lane in self._lanes:
            lane.thread = threading.Thread(
                target=self._work, args=(lane,), name=f"action-{lane.config.name}", daemon=True
            )
            lane.thread.start()

    # -- the caller's side ---------------------------------------------------------------------

    def submit(self, event: Event) -> None:
        """Queue ``event`` for every action it triggers; never blocks, never raises."""
        now = self._clock()
        for lane in self._lanes:
            if not lane.config.matches(event):
                continue
            try:
                if self._closed:
                    raise queue.Full
                lane.queue.put_nowait((event, now))
            except queue.Full:
                self._count(lane, "dropped")

    def counters(self) -> dict[str, dict[str, int]]:
        """Outcomes so far, per action: ``{action: {outcome: count}}`` (see :data:`OUTCOMES`)."""
        with self._lock:
            return {lane.config.name: dict(lane.counts) for lane in self._lanes}

    def latencies(self) -> dict[str, list[float]]:
        """Seconds from submit to done of each action's recent firings (oldest first)."""
        with self._lock:
            return {lane.config.name: list(lane.latencies) for lane in self._lanes}

    def close(self, timeout: float = 10.0) -> bool:
        """Fire what is queued, then stop; false if ``timeout`` seconds were not enough.

        Events submitted after ``close`` are counted as dropped.
        """
        if not self._closed:
            self._closed = True
            deadline = time.monotonic() + timeout
            for lane in self._lanes:
                try:
                    lane.queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
                except queue.Full:
                    continue
            for lane in self._lanes:
                assert lane.thread is not None
                lane.thread.join(max(0.0, deadline - time.monotonic()))
            for lane in self._lanes:
                assert lane.thread is not None
                # A submit racing with close may have queued behind the stop: count it.
                while not lane.thread.is_alive() and not lane.queue.empty():
                    if lane.queue.get_nowait() is not None:
                        self._count(lane, "dropped")
            if self._http is not None:
                self._http.close()
        return all(lane.thread is None or not lane.thread.is_alive() for lane in self._lanes)

    def __enter__(self) -> Actions:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the workers' side ---------------------------------------------------------------------

    def _work(self, lane: _Lane) -> None:
        while True:
            item = lane.queue.get()
            if item is None:
                return
            self._handle(lane, *item)

    def _handle(self, lane: _Lane, event: Event, submitted: float) -> None:
        name = lane.config.name
        rate = lane.config.rate
        # The bucket refills by submit times, so a worker that fell behind judges events by
        # when they happened, not by when it got to them.
        if lane.refilled is not None:
            elapsed = max(0.0, submitted - lane.refilled)
            lane.tokens = min(float(rate.burst), lane.tokens + elapsed * rate.per_s)
        lane.refilled = submitted
        if lane.tokens < 1.0:
            self._count(lane, "rate_limited")
            return
        try:
            first = self._fired.claim(name, event.key)
        except Exception as error:
            self._failed(lane, error)
            return
        if not first:
            # A duplicate spends no token: a replay after a restart must not starve new events.
            self._count(lane, "duplicate")
            return
        lane.tokens -= 1.0
        try:
            self._fire(lane.config, event)
        except Exception as error:
            self._failed(lane, error)
            return
        latency = self._clock() - submitted
        with self._lock:
            lane.counts["fired"] += 1
            lane.latencies.append(latency)
            if len(lane.latencies) > self._keep_latencies:
                lane.latencies.popleft()

    def _fire(self, config: ActionConfig, event: Event) -> None:
        if config.mqtt is not None:
            mqtt = config.mqtt
            payload = (
                event_body(event, action=config.name)
                if mqtt.payload is None
                else render(mqtt.payload, event).encode()
            )
            assert self._publish is not None
            self._publish(render(mqtt.topic, event), payload, mqtt.qos, mqtt.retain)
        elif config.webhook is not None:
            hook = config.webhook
            body = event_body(event, action=config.name)
            signature = sign_body(
                secret=hook.secret.reveal(), body=body, timestamp=int(time.time())
            )
            assert self._http is not None
            response = self._http.post(
                hook.url,
                content=body,
                timeout=hook.timeout_s,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: signature,
                    # Receivers can de-duplicate too: the key names the event.
                    "Idempotency-Key": event.key,
                },
            )
            if not response.is_success:
                raise ActionFailed(f"HTTP status {response.status_code}")
        elif config.command is not None:
            command = config.command
            argv = [render(arg, event) for arg in command.argv]
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=command.timeout_s,
                check=False,
            )
            if done.returncode != 0:
                raise ActionFailed(f"exit code {done.returncode}")

    def _count(self, lane: _Lane, outcome: str) -> None:
        with self._lock:
            lane.counts[outcome] += 1

    def _failed(self, lane: _Lane, error: Exception) -> None:
        self._count(lane, "failed")
        now = self._clock()
        lane.unreported += 1
        if lane.reported is not None and now - lane.reported < self._log_every_s:
            return
        # Only our own messages are logged whole; others may hold a URL with a token in it.
        why = str(error) if isinstance(error, ActionFailed | SecretError) else type(error).__name__
        log.warning(
            "action %s failed: %s (%d failure(s) since the last report)",
            lane.config.name,
            why,
            lane.unreported,
        )
        lane.unreported = 0
        lane.reported = now
