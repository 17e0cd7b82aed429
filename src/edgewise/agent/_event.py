"""Events: what the agent acts on and forwards, each keyed by the reading that triggered it."""

from __future__ import annotations

from dataclasses import dataclass

from edgewise.stream import Detection

__all__ = ["Event", "events_of"]


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to a stream, triggered by one of its readings.

    ``name`` is ``"alarm"`` (an episode starts), ``"end:<input>"`` (an input's episode ended),
    ``"accept:<input>"`` (a lasting change was accepted as the new normal) or ``"relearn"``.
    ``key`` names the event by the reading that triggered it, so a replay of that reading
    makes the same key: the outbox and the actions keep one event per key.

    >>> e = Event("press-7", "pump-1", 41, "alarm", 1.7e9, 0.98, "temp=95 is outside its range",
    ...           "default", "1bfe908688e7")
    >>> e.key
    'press-7/pump-1/41/alarm'
    """

    device: str
    stream: str
    seq: int
    name: str
    timestamp: float
    score: float
    explanation: str
    detector: str
    model_version: str

    @property
    def key(self) -> str:
        """The idempotency key: device, stream, the triggering reading's number, the name."""
        return f"{self.device}/{self.stream}/{self.seq}/{self.name}"


def events_of(device: str, detection: Detection) -> list[Event]:
    """The events a detection record carries: its alarm first, then its other events."""
    if detection.seq is None:
        raise ValueError(f"detection of {detection.stream!r} has no sequence number")
    if not detection.alarm and not detection.events:
        return []  # most readings: no event, and no explanation to format
    names = (["alarm"] if detection.alarm else []) + list(detection.events)
    explanation = "" if detection.explanation is None else str(detection.explanation)
    return [
        Event(
            device,
            detection.stream,
            detection.seq,
            name,
            detection.timestamp,
            detection.score,
            explanation,
            detection.detector,
            detection.model_version,
        )
        for name in names
    ]
