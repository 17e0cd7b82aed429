"""An alert's lifecycle: who moved it, when and why; illegal moves refused with a clear error."""

from __future__ import annotations

import pytest

from edgewise.hub.alerts import TRIAGE, Alert, AlertError, Event


def _alert() -> Alert:
    event = Event(at=100.0, device="m1", site="s1", stream="temp", kind="range", score=0.8)
    return Alert(id=7, first=event)


def test_every_transition_records_who_when_and_why() -> None:
    alert = _alert()
    alert.escalate(by=TRIAGE, at=200.0, reason="sustained")
    alert.acknowledge(by="ana", at=300.0, reason="on my way")
    alert.close(by="ana", at=400.0, reason="fan replaced")
    alert.reopen(by="bo", at=500.0, reason="hot again")
    assert [(t.before, t.after, t.by, t.at, t.reason) for t in alert.history] == [
        ("open", "escalated", "triage", 200.0, "sustained"),
        ("escalated", "acknowledged", "ana", 300.0, "on my way"),
        ("acknowledged", "closed", "ana", 400.0, "fan replaced"),
        ("closed", "open", "bo", 500.0, "hot again"),
    ]
    assert alert.state == "open"


@pytest.mark.parametrize(
    ("moves", "illegal"),
    [
        ([], "reopen"),  # an open alert cannot be reopened
        (["close"], "acknowledge"),
        (["close"], "escalate"),
        (["acknowledge"], "acknowledge"),
        (["escalate"], "escalate"),
    ],
)
def test_an_illegal_transition_raises_and_changes_nothing(moves: list[str], illegal: str) -> None:
    alert = _alert()
    for move in moves:
        getattr(alert, move)(by="ana", at=1.0, reason="test")
    before = (alert.state, len(alert.history))
    with pytest.raises(AlertError, match=r"alert 7 is \w+: it can become"):
        getattr(alert, illegal)(by="ana", at=2.0, reason="test")
    assert (alert.state, len(alert.history)) == before


@pytest.mark.parametrize(("by", "reason"), [("", "why"), ("ana", " ")])
def test_a_transition_needs_who_and_why(by: str, reason: str) -> None:
    alert = _alert()
    with pytest.raises(AlertError, match="names who made it and why"):
        alert.close(by=by, at=1.0, reason=reason)
    assert alert.state == "open" and not alert.history


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("score", 1.5, "score is in"),
        ("category", "physics", "data or security"),
        ("phase", "maybe", "alarm or end"),
        ("episode_readings", 0, "at least one reading"),
    ],
)
def test_a_malformed_event_is_refused(field: str, value: object, message: str) -> None:
    fields: dict[str, object] = {
        "at": 0.0,
        "device": "m1",
        "site": "s1",
        "stream": "temp",
        "kind": "range",
        field: value,
    }
    with pytest.raises(AlertError, match=message):
        Event(**fields)  # type: ignore[arg-type]


def test_the_public_names_are_exactly_all() -> None:
    import edgewise.hub.alerts as alerts

    public = {name for name in vars(alerts) if not name.startswith("_")} - {"annotations"}
    assert public == set(alerts.__all__)
