"""The inbox: de-duplication, flapping, correlation, and accepting a change as the new normal."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgewise.hub import Command, add_device, queue_command, session, upgrade
from edgewise.hub.alerts import Event, Inbox, Ingested


def _event(at: float, **fields: object) -> Event:
    base: dict[str, object] = {
        "device": "m1",
        "site": "s1",
        "stream": "temp",
        "kind": "range",
        "score": 0.8,
    }
    return Event(at=at, **{**base, **fields})  # type: ignore[arg-type]


def _ingest(inbox: Inbox, event: Event) -> Ingested:
    done = inbox.ingest(event)
    assert done is not None
    return done


def test_repeats_within_the_window_fold_into_one_alert_with_a_count() -> None:
    inbox = Inbox(dedup_window=600.0)
    first = _ingest(inbox, _event(0.0, score=0.6))
    assert first.new and first.notify
    for at in (100.0, 500.0, 1000.0):  # each within 600 s of the previous activity
        again = _ingest(inbox, _event(at, score=0.9))
        assert again.alert is first.alert and not again.new and not again.notify
    assert (first.alert.count, first.alert.peak_score, first.alert.last_at) == (4, 0.9, 1000.0)
    other_kind = _ingest(inbox, _event(1001.0, kind="level"))
    assert other_kind.new
    later = _ingest(inbox, _event(1700.0))  # 700 s after the last repeat: a new alert
    assert later.new and later.alert is not first.alert
    assert len(inbox.alerts) == 3


def test_a_closed_alert_is_not_joined_by_a_repeat() -> None:
    inbox = Inbox()
    first = _ingest(inbox, _event(0.0))
    first.alert.close(by="ana", at=10.0, reason="checked")
    again = _ingest(inbox, _event(20.0))
    assert again.new and again.alert.state == "open" and first.alert.count == 1


def test_an_episode_end_updates_its_alert_and_an_unknown_end_is_ignored() -> None:
    inbox = Inbox()
    alert = _ingest(inbox, _event(0.0)).alert
    assert inbox.ingest(_event(10.0, stream="other", phase="end")) is None
    ended = _ingest(inbox, _event(1800.0, phase="end", episode_readings=42, score=0.95))
    assert ended.alert is alert and not ended.notify
    assert (alert.episode_open, alert.longest_episode, alert.peak_score) == (False, 42, 0.95)


def _flap(inbox: Inbox, start: float, episodes: int, gap: float) -> list[Ingested]:
    done = []
    for k in range(episodes):
        at = start + k * gap
        done.append(_ingest(inbox, _event(at)))
        _ingest(inbox, _event(at + 60.0, phase="end"))
    return done


def test_flapping_is_held_in_one_alert_without_new_notifications() -> None:
    inbox = Inbox(dedup_window=300.0, flap_window=3600.0, flap_episodes=3)
    done = _flap(inbox, 0.0, episodes=6, gap=600.0)  # episodes 10 min apart, beyond dedup
    alerts = {d.alert.id for d in done}
    assert [d.new for d in done] == [True, True, False, False, False, False]
    assert len(alerts) == 2 and sum(d.notify for d in done) == 2
    assert inbox.alerts[-1].flapping and inbox.alerts[-1].episodes == 5


def test_a_closed_flapping_key_opens_a_held_alert_that_notifies_nobody() -> None:
    inbox = Inbox(dedup_window=300.0, flap_window=3600.0, flap_episodes=3)
    _flap(inbox, 0.0, episodes=3, gap=600.0)
    inbox.alerts[-1].close(by="triage", at=1300.0, reason="flapping")
    again = _flap(inbox, 1800.0, episodes=1, gap=600.0)[0]
    assert again.new and again.alert.flapping and not again.notify


def test_related_alerts_share_a_group_data_and_security_together() -> None:
    inbox = Inbox(correlate_window=600.0)
    a = _ingest(inbox, _event(0.0)).alert
    same_device = _ingest(inbox, _event(100.0, stream="current")).alert
    login = _ingest(
        inbox,
        _event(200.0, device="gw", stream="auth", kind="login", category="security", score=0.5),
    ).alert
    elsewhere = _ingest(inbox, _event(300.0, device="m9", site="s2")).alert
    too_late = _ingest(inbox, _event(2000.0, device="m2")).alert
    assert inbox.group(a) == [a, same_device, login]
    assert a.group == same_device.group == login.group
    assert inbox.group(elsewhere) == [elsewhere]
    assert inbox.group(too_late) == [too_late]


def test_an_alert_related_to_two_groups_merges_them() -> None:
    inbox = Inbox(correlate_window=600.0)
    a = _ingest(inbox, _event(0.0)).alert
    b = _ingest(inbox, _event(700.0, device="m2")).alert  # a was last active 700 s before
    assert a.group != b.group
    _ingest(inbox, _event(750.0))  # a repeats: active again
    c = _ingest(inbox, _event(800.0, device="m3")).alert  # related to both
    assert inbox.group(c) == [a, b, c] and a.group == b.group == c.group == 1


def test_groups_do_not_chain_beyond_their_span() -> None:
    inbox = Inbox(correlate_window=600.0, group_span=1000.0)
    alerts = [_ingest(inbox, _event(k * 500.0, device=f"m{k}")).alert for k in range(4)]
    assert [a.group for a in alerts] == [1, 1, 1, 4]


def test_accept_as_normal_closes_the_alert_and_gives_the_relearn_command(tmp_path: Path) -> None:
    inbox = Inbox()
    alert = _ingest(inbox, _event(0.0, kind="level")).alert
    command = inbox.accept_as_normal(alert, by="ana", at=60.0)
    assert alert.state == "closed"
    assert (alert.history[-1].by, alert.history[-1].reason) == (
        "ana",
        "accepted as the new normal: the detector relearns",
    )
    assert (command.device, command.stream, command.kind) == ("m1", "temp", "relearn")
    # The seam the hub wires after merge: the command's fields are queue_command's arguments.
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    add_device(url, "m1")
    queue_command(url, command.device, kind="relearn", stream=command.stream)
    with session(url) as s:
        stored = s.query(Command).one()
        assert (stored.kind, stored.stream) == ("relearn", "temp")


def test_accept_as_normal_of_a_closed_alert_is_refused() -> None:
    inbox = Inbox()
    alert = _ingest(inbox, _event(0.0)).alert
    alert.close(by="ana", at=1.0, reason="done")
    with pytest.raises(ValueError, match="is closed"):
        inbox.accept_as_normal(alert, by="ana", at=2.0)


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="windows must be positive"):
        Inbox(dedup_window=0.0)
