"""Automatic triage: each rule, its action and the reason it states."""

from __future__ import annotations

from edgewise.hub.alerts import TRIAGE, Context, Decision, Event, Inbox, Triage, TriageRules

RULES = TriageRules(hold=3600.0, drift_hold=7200.0)


def _event(at: float, **fields: object) -> Event:
    base: dict[str, object] = {
        "device": "m1",
        "site": "s1",
        "stream": "temp",
        "kind": "level",
        "score": 0.8,
    }
    return Event(at=at, **{**base, **fields})  # type: ignore[arg-type]


def _run(events: list[Event], *, until: float, context: Context | None = None) -> list[Decision]:
    """Events in time order, triage every minute up to ``until``."""
    inbox, triage = Inbox(), Triage(rules=RULES, context=context)
    pending = sorted(events, key=lambda e: e.at)
    made: list[Decision] = []
    for minute in range(int(until // 60) + 1):
        now = minute * 60.0
        while pending and pending[0].at <= now:
            inbox.ingest(pending.pop(0))
        made += triage.run(inbox, now=now)
    return made


def _spike(at: float, **fields: object) -> list[Event]:
    return [_event(at, **fields), _event(at + 1860.0, phase="end", episode_readings=2, **fields)]


def test_a_short_episode_alone_is_closed_with_its_reason() -> None:
    [decision] = _run(_spike(0.0, kind="range", score=0.99), until=4000.0)
    assert (decision.action, decision.at) == ("close", 1860.0)
    assert decision.reason == (
        "a short episode (2 readings) on m1/temp that ended, alone on its device"
    )


def test_the_maintenance_calendar_closes_what_happens_inside_it() -> None:
    context = Context(maintenance={"m1": [(0.0, 7200.0)]})
    [decision] = _run([_event(600.0, score=0.99)], until=8000.0, context=context)
    assert decision.action == "close" and "scheduled maintenance" in decision.reason


def test_a_sustained_strong_episode_is_escalated_at_the_hold() -> None:
    [decision] = _run([_event(0.0, score=0.85)], until=5000.0)
    assert (decision.action, decision.at) == ("escalate", 3600.0)
    assert decision.reason == "m1/temp still abnormal, peak score 0.85"


def test_a_sustained_stuck_stream_is_escalated_whatever_its_score() -> None:
    [decision] = _run([_event(0.0, kind="stuck", score=0.55)], until=5000.0)
    assert (
        decision.action == "escalate" and "a sustained stuck, not a level change" in decision.reason
    )


def test_a_moderate_lasting_change_waits_then_is_closed_as_a_new_normal() -> None:
    [decision] = _run([_event(0.0, score=0.6)], until=9000.0)
    assert (decision.action, decision.at) == ("close", 7200.0)
    assert "accept it as the new normal" in decision.reason


def test_a_sustained_episode_with_another_stream_of_the_device_is_escalated() -> None:
    events = [_event(0.0, score=0.6), _event(60.0, stream="current", score=0.6)]
    decisions = _run(events, until=5000.0)
    assert [d.action for d in decisions] == ["escalate", "escalate"]
    assert "with current of the same device" in decisions[0].reason


def test_every_stream_of_a_device_at_once_is_left_for_a_person() -> None:
    events = [_event(k * 10.0, stream=s, score=0.95) for k, s in enumerate("abc")]
    decisions = _run(events, until=5000.0)
    assert {d.action for d in decisions} == {"leave"}
    assert "3 streams of m1 went abnormal at once" in decisions[0].reason


def test_devices_of_one_site_alarming_together_are_escalated() -> None:
    events = [_event(k * 30.0, device=f"m{k}", score=0.6) for k in range(3)]
    decisions = _run(events, until=4000.0)
    assert [d.action for d in decisions] == ["escalate"] * 3
    assert decisions[0].reason == "3 devices at s1 alarmed within 300 s"


def test_spikes_that_coincide_on_devices_of_one_site_are_closed() -> None:
    events = [e for k in range(3) for e in _spike(k * 30.0, device=f"m{k}")]
    decisions = _run(events, until=4000.0)
    assert [d.action for d in decisions] == ["close"] * 3
    assert "alone on its device" in decisions[0].reason


def _logins(n: int, at: float = 0.0) -> list[Event]:
    return [
        _event(
            at + k * 30.0,
            device="gw",
            stream="auth",
            kind="login_failure",
            category="security",
            score=0.6,
        )
        for k in range(n)
    ]


def test_a_burst_of_failed_logins_is_escalated_a_few_are_closed() -> None:
    [burst] = _run(_logins(12), until=6000.0)
    assert (
        burst.action == "escalate"
        and burst.reason == "a burst of 12 login_failure events on gw/auth"
    )
    [few] = _run(_logins(2), until=6000.0)
    assert few.action == "close" and few.reason == "2 login_failure event(s) on gw/auth: no burst"


def test_a_data_alert_after_a_burst_at_its_site_is_escalated_with_it() -> None:
    decisions = _run([*_logins(12), *_spike(900.0, device="m7", kind="range")], until=6000.0)
    data = [d for d in decisions if d.alert == 2]
    assert data[0].action == "escalate" and "around a burst of 12" in data[0].reason


def test_flapping_is_closed_unless_severe() -> None:
    events = [e for k in range(4) for e in _spike(k * 2400.0, score=0.6)]
    decisions = _run(events, until=12000.0)
    assert decisions[0].action == "close"  # the first short episode, alone
    flapping = [d for d in decisions if "flapping" in d.reason]
    assert flapping and {d.action for d in flapping} == {"close"}


def test_triage_decides_once_and_signs_its_transitions() -> None:
    inbox, triage = Inbox(), Triage(rules=RULES)
    inbox.ingest(_event(0.0, score=0.85))
    assert triage.run(inbox, now=100.0) == []  # not due: waiting for the hold
    [decision] = triage.run(inbox, now=3600.0)
    assert triage.run(inbox, now=3700.0) == []
    alert = inbox.alerts[0]
    assert alert.state == "escalated"
    assert (alert.history[-1].by, alert.history[-1].reason) == (TRIAGE, decision.reason)
