"""Alerts in the hub: events stored by an ingest become alerts once, triage runs on them, people
act on them through the API (by role, audited), escalations reach signed webhooks."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest
from hubtest import Hub, add_people, person, serve

from edgewise.hub import audit_entries, session, stored_keys
from edgewise.hub._alerts import (
    AlertSettings,
    fold_events,
    list_alerts,
    triage_due,
)
from edgewise.hub._notify import Notifications
from edgewise.hub._protocol import WireRecord
from edgewise.hub.alerts import (
    SIGNATURE_HEADER,
    Alert,
    Event,
    Inbox,
    Triage,
    WebhookNotifier,
    verify,
)

SECRET = b"a webhook secret of 32 bytes...."
END_AFTER = AlertSettings().end_after


def event(
    seq: int,
    name: str,
    *,
    at: float,
    score: float = 0.8,
    device: str = "press-7",
    stream: str = "pump-1",
) -> dict[str, Any]:
    """An event record as the agent sends it."""
    body = {"score": score, "explanation": "temp=95 is outside its range", "detector": "default",
            "model_version": "1bfe908688e7"}  # fmt: skip
    return {"device": device, "stream": stream, "kind": "event", "seq": seq, "name": name,
            "timestamp": at, "received": at, "body": body}  # fmt: skip


# -- the store keeps the library's semantics ---------------------------------------------------


def _both(
    out: list[tuple[dict[str, Any], Event]],
    seq: int,
    name: str,
    at: float,
    score: float,
    *,
    device: str,
    stream: str,
    **more: Any,
) -> None:
    record = event(seq, name, at=at, score=score, device=device, stream=stream)
    where = {"device": device, "site": device, "stream": stream, "kind": "anomaly"}
    out.append((record, Event(at=at, score=score, **where, **more)))


def _scenario(seed: int) -> list[tuple[dict[str, Any], Event]]:
    """Episodes on 3 devices x 2 streams over a day: spikes, repeats, long ones, flapping; each
    event record beside the library event it means (an episode of L readings ends END_AFTER
    readings after its last, one reading a second)."""
    rng = random.Random(seed)
    t0 = 1.7e9
    out: list[tuple[dict[str, Any], Event]] = []
    for device in ("m1", "m2", "m3"):
        for stream in ("temp", "vib"):
            both = partial(_both, out, device=device, stream=stream)
            at, seq = t0 + rng.uniform(0, 3600), 0
            while at < t0 + 86400:
                length = rng.choice([1, 2, 3, 20, 90])
                score = round(rng.uniform(0.5, 1.0), 2)
                both(seq, "alarm", at, score)
                if rng.random() < 0.3:  # a second view fires within the episode
                    both(seq + 1, "alarm", at + 1, score)
                end = seq + length - 1 + END_AFTER
                at += end - seq
                both(end, "end:x", at, score, phase="end", episode_readings=length)
                seq = end + 1
                at += rng.choice([120.0, 600.0, 5000.0, 20000.0])
    out.sort(key=lambda x: (x[1].at, x[1].phase != "alarm"))
    return out


def test_stored_alerts_end_as_the_librarys_would(db_url: str) -> None:
    settings = AlertSettings()
    inbox, triage = Inbox(), Triage()
    scenario = _scenario(seed=3)
    for record, library_event in scenario:
        inbox.ingest(library_event)
        triage.run(inbox, now=library_event.at)
        with session(db_url) as s:  # one transaction per event: the inbox is rebuilt each time
            fold_events(s, [WireRecord(**record)], settings=settings, now=library_event.at)
        with session(db_url) as s:  # and the periodic run, for the other devices' alerts
            triage_due(s, settings=settings, now=library_event.at)
    later = scenario[-1][1].at + 2 * 86400
    triage.run(inbox, now=later)
    with session(db_url) as s:
        triage_due(s, settings=settings, now=later)
    stored = {a["id"]: a for a in list_alerts(db_url, limit=1000)}
    assert len(stored) == len(inbox.alerts) > 40
    fields = ("state", "count", "episodes", "flapping", "group", "longest_episode", "peak_score")
    for alert in inbox.alerts:
        row = stored[alert.id]
        assert [row[f] for f in fields] == [getattr(alert, f) for f in fields], alert.id
        assert [(h["to"], h["by"], h["reason"]) for h in row["history"]] == [
            (t.after, t.by, t.reason) for t in alert.history
        ]
    decided = {a.id: d.reason for a in inbox.alerts if (d := triage.decisions.get(a.id))}
    assert {i: a["triage"]["reason"] for i, a in stored.items() if a["triage"]} == decided
    states = {a["state"] for a in stored.values()}
    assert states >= {"closed", "escalated"}, states
    assert any(a["flapping"] for a in stored.values())
    assert any(a["count"] > 1 for a in stored.values())


# -- through the hub ---------------------------------------------------------------------------


class Receiver:
    """A webhook receiver (httpx's MockTransport): what it was sent; it fails the first
    ``failures`` requests, and holds each request until ``release`` is set."""

    def __init__(self, *, failures: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.failures = failures
        self.release = threading.Event()
        self.release.set()
        self.arrived = threading.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.arrived.set()
        assert self.release.wait(30)
        body = request.read()
        verify(body, header=request.headers[SIGNATURE_HEADER], secret=SECRET, now=time.time())
        if self.failures:
            self.failures -= 1
            return httpx.Response(503)
        self.bodies.append(json.loads(body))
        return httpx.Response(204)

    def notifier(self) -> WebhookNotifier:
        return WebhookNotifier(
            url="https://hooks.example/edgewise", secret=SECRET, transport=httpx.MockTransport(self)
        )


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def alerting(db_url: str, receiver: Receiver) -> Iterator[Hub]:
    server, token = serve(db_url, webhooks=[receiver.notifier()])
    add_people(db_url)
    with server:
        yield Hub(db_url, server.url, token)


def test_an_alarm_stored_twice_makes_one_alert(alerting: Hub) -> None:
    now = time.time()
    alarm = event(41, "alarm", at=now)
    assert alerting.post([alarm]).json()["stored"] == 1
    again = alerting.post([alarm, event(42, "alarm", at=now + 1)])  # a resend, and a new view
    assert again.json() | {"commands": []} == {
        "version": 1, "stored": 1, "duplicates": 1, "commands": []
    }  # fmt: skip
    with person(alerting.url, "vera") as vera:
        [alert] = vera.get("/api/v1/alerts").json()
    assert (alert["state"], alert["count"], alert["device"]) == ("open", 2, "press-7")
    assert alert["explanation"] == "temp=95 is outside its range"
    assert alert["triage"] is None  # its episode is open and the hold has not passed


def test_people_act_on_alerts_by_role_and_every_change_is_audited(
    alerting: Hub, receiver: Receiver
) -> None:
    now = time.time()
    alerting.post([event(1, "alarm", at=now), event(5, "alarm", at=now, stream="fan-2")])
    with person(alerting.url, "vera") as vera, person(alerting.url, "otto") as otto:
        alerts = vera.get("/api/v1/alerts", params={"device": "press-7", "state": "open"}).json()
        fan, pump = sorted(alerts, key=lambda a: a["stream"])
        assert vera.get("/api/v1/alerts", params={"device": "plc-1"}).json() == []
        assert vera.get("/api/v1/alerts", params={"state": "nope"}).status_code == 422
        refused = vera.post(f"/api/v1/alerts/{pump['id']}/acknowledge", json={"reason": "mine"})
        assert refused.status_code == 403 and "operator" in refused.json()["error"]
        without_csrf = httpx.post(
            f"{alerting.url}/api/v1/alerts/{pump['id']}/acknowledge",
            json={"reason": "mine"},
            cookies=otto.cookies,
        )
        assert without_csrf.status_code == 403
        assert otto.post(f"/api/v1/alerts/{pump['id']}/close", json={}).status_code == 422
        acked = otto.post(f"/api/v1/alerts/{pump['id']}/acknowledge", json={"reason": "on it"})
        assert acked.status_code == 200, acked.text
        assert acked.json()["history"][-1] | {"at": 0} == {
            "at": 0, "by": "otto", "from": "open", "to": "acknowledged", "reason": "on it"
        }  # fmt: skip
        escalated = otto.post(
            f"/api/v1/alerts/{pump['id']}/escalate", json={"reason": "bearing noise"}
        )
        assert escalated.json()["state"] == "escalated"
        closed = otto.post(f"/api/v1/alerts/{pump['id']}/close", json={"reason": "replaced"})
        assert closed.json()["state"] == "closed"
        again = otto.post(f"/api/v1/alerts/{pump['id']}/escalate", json={"reason": "again"})
        assert again.status_code == 400
        assert again.json()["error"] == "the alert is closed: it can become open, not escalated"
        assert otto.post("/api/v1/alerts/999/close", json={"reason": "x"}).status_code == 404
        accepted = otto.post(f"/api/v1/alerts/{fan['id']}/accept", json={"reason": "new fan"})
        assert accepted.status_code == 200
        assert accepted.json()["state"] == "closed"
    # The agent's next ingest carries the relearn for that stream.
    [command] = alerting.post([]).json()["commands"]
    assert (command["kind"], command["device"], command["stream"]) == (
        "relearn", "press-7", "fan-2"
    )  # fmt: skip
    assert command["id"] == accepted.json()["command"]
    actions = [(e["actor"], e["action"]) for e in audit_entries(alerting.db_url, limit=20)]
    assert actions[:5] == [
        ("otto", "alert.accept"),
        ("otto", "command.queue"),
        ("otto", "alert.close"),
        ("otto", "alert.escalate"),
        ("otto", "alert.acknowledge"),
    ]
    # The person's escalation reached the webhook, signed (the receiver verified it).
    deadline = time.monotonic() + 30
    while not receiver.bodies and time.monotonic() < deadline:
        time.sleep(0.05)
    [sent] = receiver.bodies
    assert (sent["id"], sent["state"], sent["reason"]) == (pump["id"], "escalated", "bearing noise")


def test_triage_escalates_in_the_ingest_and_a_held_webhook_never_holds_one(db_url: str) -> None:
    receiver = Receiver(failures=2)  # then retried, 1 s and 2 s later
    receiver.release.clear()
    server, token = serve(db_url, webhooks=[receiver.notifier()])
    with server:
        hub = Hub(db_url, server.url, token)
        # Severe alarms on two streams of a device, open for two hours (the agent was offline).
        then = time.time() - 7200
        first = hub.post([event(i, "alarm", at=then, score=0.95, stream=s) for i, s in
                          enumerate(("pump-1", "pump-2"))])  # fmt: skip
        assert first.status_code == 200
        assert receiver.arrived.wait(30)  # a webhook POST is in flight, held by the receiver
        assert hub.post([event(9, "alarm", at=time.time(), stream="fan")]).status_code == 200
        receiver.release.set()
        deadline = time.monotonic() + 30
        while len(receiver.bodies) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    stored = {a["stream"]: a for a in list_alerts(db_url)}
    assert stored["fan"]["state"] == "open"
    for stream, other in (("pump-1", "pump-2"), ("pump-2", "pump-1")):
        assert stored[stream]["state"] == "escalated"
        reason = f"press-7/{stream} still abnormal, with {other} of the same device"
        assert stored[stream]["triage"]["reason"] == reason
        assert stored[stream]["history"][0]["by"] == "triage"
    assert sorted(b["stream"] for b in receiver.bodies) == ["pump-1", "pump-2"]


def test_a_notification_that_keeps_failing_is_dropped_after_its_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = Receiver(failures=3)
    notifications = Notifications([receiver.notifier()], attempts=3, backoff_s=0.0)
    notifications.start()
    alert = Alert(id=4, first=Event(at=0.0, device="m1", site="m1", stream="t", kind="anomaly"))
    with caplog.at_level("WARNING", logger="edgewise.hub"):
        notifications.submit([alert])
        deadline = time.monotonic() + 30
        while "giving up" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        notifications.stop()
    assert receiver.bodies == [] and receiver.failures == 0
    assert "alert 4 not sent to https://hooks.example: giving up" in caplog.text
    assert SECRET.decode() not in caplog.text and "/edgewise" not in caplog.text


def test_concurrent_ingests_of_one_streams_alarms_make_one_alert(alerting: Hub) -> None:
    now = time.time()
    batches = [[event(seq, "alarm", at=now + seq)] for seq in range(8)]
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda b=b: answers.append(alerting.post(b).status_code))
        for b in batches
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [200] * 8
    [alert] = list_alerts(alerting.db_url)
    assert alert["count"] == 8


def test_the_inbox_form_acts_for_operators_only_and_says_what_went_wrong(alerting: Hub) -> None:
    alerting.post([event(1, "alarm", at=time.time())])
    [alert] = list_alerts(alerting.db_url)
    form = {"action": "acknowledge", "reason": "on it"}
    with person(alerting.url, "vera") as vera, person(alerting.url, "otto") as otto:
        page = vera.get("/alerts")
        assert "operators act here" in page.text and 'name="action"' not in page.text
        form_csrf = {**form, "csrf_token": vera.headers["X-CSRF-Token"]}
        assert vera.post(f"/alerts/{alert['id']}", data=form_csrf).status_code == 403
        token = otto.headers.pop("X-CSRF-Token")  # a form carries it as a field
        assert otto.post(f"/alerts/{alert['id']}", data=form).status_code == 403
        done = otto.post(f"/alerts/{alert['id']}", data={**form, "csrf_token": token})
        assert done.status_code == 303
        assert done.headers["location"] == f"/alerts#alert-{alert['id']}"
        again = otto.post(f"/alerts/{alert['id']}", data={**form, "csrf_token": token})
        assert again.status_code == 409
        assert "the alert is acknowledged: it can become closed or escalated" in again.text
        nameless = otto.post(
            f"/alerts/{alert['id']}", data={"action": "close", "csrf_token": token}
        )
        assert "names who made it and why" in nameless.text
        fleet = otto.get("/").text
    assert '<dd id="open-alerts">1</dd>' in fleet
    assert [e["action"] for e in audit_entries(alerting.db_url, limit=1)] == ["alert.acknowledge"]


def test_the_inbox_is_woken_live_when_an_alarm_is_stored(alerting: Hub) -> None:
    heard: list[str] = []
    subscribed = threading.Event()

    def listen(client: httpx.Client) -> None:
        with client.stream("GET", "/alerts/live") as stream:
            for line in stream.iter_lines():
                subscribed.set()  # the first line comes once the feed is subscribed
                if line.startswith("event: "):
                    heard.append(line)
                    return

    with person(alerting.url, "vera") as vera:
        reader = threading.Thread(target=listen, args=(vera,), daemon=True)
        reader.start()
        assert subscribed.wait(10)
        assert alerting.post([event(3, "alarm", at=time.time())]).status_code == 200
        reader.join(30)
        assert heard == ["event: alerts"]
        too_big = vera.post("/api/v1/alerts/99999999999999999999/close", json={"reason": "x"})
        assert too_big.status_code in (403, 422)  # a viewer; never a 500 from the database


def test_a_fault_in_the_alerts_never_costs_the_records(
    db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("a bug in the alerts")

    monkeypatch.setattr("edgewise.hub._app.fold_events", broken)
    server, token = serve(db_url)
    with server, caplog.at_level("ERROR", logger="edgewise.hub"):
        answer = Hub(db_url, server.url, token).post([event(1, "alarm", at=time.time())])
    assert answer.status_code == 200 and answer.json()["stored"] == 1
    assert stored_keys(db_url) == [("press-7", "pump-1", "event", 1, "alarm")]
    assert list_alerts(db_url) == []
    assert "the batch's events were not folded into alerts" in caplog.text
