"""The uplink against a hub double (httpx's mock transport): at least once, in order, obeying."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgewise.agent import Outbox, Record, Secret, Uplink, UplinkConfig


class Hub:
    """Stores records by key like the real hub; loses answers, refuses big batches, throttles."""

    def __init__(self) -> None:
        self.stored: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.order: list[tuple[Any, ...]] = []
        self.lose_answers = 0
        self.max_records: int | None = None
        self.throttle = 0
        self.commands: list[dict[str, Any]] = []
        self.acked: list[int] = []
        self.tokens: list[str] = []
        self.refuse: set[int] = set()  # seqs of records refused for good (422)
        self.too_large: set[int] = set()  # seqs of records no batch may hold (413)
        self.unauthorised = 0  # answers of 401 still to give
        self.answer_422: dict[str, Any] | None = None  # a 422 with this body, whatever is sent

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.tokens.append(request.headers["Authorization"])
        body = json.loads(gzip.decompress(request.content))
        if self.unauthorised:
            self.unauthorised -= 1
            return httpx.Response(401, json={"error": "unknown or revoked token"})
        if self.throttle:
            self.throttle -= 1
            return httpx.Response(429, headers={"Retry-After": "0.25"})
        if self.max_records is not None and len(body["records"]) > self.max_records:
            return httpx.Response(413)
        if any(r["seq"] in self.too_large for r in body["records"]):
            return httpx.Response(413)
        if self.answer_422 is not None:
            return httpx.Response(422, json=self.answer_422)
        rejected = [
            {"index": i, "reason": "body.values: refused"}
            for i, r in enumerate(body["records"])
            if r["kind"] == "reading" and r["seq"] in self.refuse
        ]
        if rejected:
            return httpx.Response(422, json={"error": "malformed", "rejected": rejected})
        for r in body["records"]:
            key = (r["device"], r["stream"], r["kind"], r["seq"], r["name"])
            if key not in self.stored:
                self.stored[key] = r
                self.order.append(key)
        self.acked += body["acked_commands"]
        if self.lose_answers:
            self.lose_answers -= 1
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(200, json={"version": 1, "commands": self.commands})


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    box = Outbox(tmp_path / "o.db", max_bytes=1 << 24)
    box.put(
        [
            Record("d", "s", "reading", i, "", float(i), None, {"values": {"x": i}})
            for i in range(50)
        ]
        + [Record("d", "s", "event", 7, "alarm", 7.0, None, {"score": 1.0})],
        journal=[],
        upstream=True,
    )
    return box


def uplink(outbox: Outbox, hub: Hub, applied: list[Any] | None = None) -> Uplink:
    os.environ["EDGEWISE_TEST_HUB_TOKEN"] = "t0ken"
    config = UplinkConfig(
        url="https://hub.test", token=Secret(env="EDGEWISE_TEST_HUB_TOKEN"), batch_records=16
    )
    sink = [] if applied is None else applied
    return Uplink(
        config,
        agent="d",
        outbox=outbox,
        on_command=lambda c: sink.append(c) is None,
        transport=httpx.MockTransport(hub),
    )


def drain(link: Uplink, limit: int = 100) -> list[float]:
    delays = []
    for _ in range(limit):
        if not link.outbox.pending():
            break
        delays.append(link.send_once())
    return delays


def test_everything_arrives_once_in_order_events_first(outbox: Outbox) -> None:
    hub = Hub()
    drain(uplink(outbox, hub))
    assert outbox.pending() == 0
    assert hub.order[0] == ("d", "s", "event", 7, "alarm")
    assert [k[3] for k in hub.order[1:]] == list(range(50))
    assert set(hub.tokens) == {"Bearer t0ken"}


def test_a_lost_answer_resends_the_batch_and_the_hub_keeps_one_of_each(outbox: Outbox) -> None:
    hub = Hub()
    hub.lose_answers = 2
    link = uplink(outbox, hub)
    delays = drain(link)
    assert outbox.pending() == 0 and len(hub.stored) == 51
    assert link.counts["errors"] == 2 and all(d >= 0 for d in delays)


def test_413_halves_the_batch_and_429_waits_as_told(outbox: Outbox) -> None:
    hub = Hub()
    hub.max_records = 5
    hub.throttle = 1
    link = uplink(outbox, hub)
    delays = drain(link)
    assert delays[0] == 0.25
    assert outbox.pending() == 0 and len(hub.stored) == 51
    assert link.batch_records <= 16


def test_backoff_grows_with_failures_and_is_capped(tmp_path: Path) -> None:
    hub = Hub()
    hub.lose_answers = 10_000
    box = Outbox(tmp_path / "o.db", max_bytes=1 << 20)
    box.put([Record("d", "s", "reading", 0, "", 0.0, None, {})], journal=[], upstream=True)
    link = uplink(box, hub)
    delays = [link.send_once() for _ in range(30)]
    assert max(delays) <= link.config.backoff_max_s
    assert sum(delays[20:]) > sum(delays[:5])  # the ceiling of the jitter grows


def test_commands_are_handed_over_and_acknowledged_in_a_later_request(outbox: Outbox) -> None:
    hub = Hub()
    hub.commands = [{"id": 3, "kind": "relearn", "device": "d", "stream": "s", "body": {}}]
    applied: list[Any] = []
    link = uplink(outbox, hub, applied)
    link.send_once()
    assert applied and applied[0]["id"] == 3
    outbox.put(
        [], journal=[], upstream=False, applied={3: None}
    )  # what the agent does when applying
    link.send_once()
    assert hub.acked == [3] and outbox.unacked_commands() == []


def test_records_the_hub_refuses_are_set_aside_and_the_rest_arrive_once(outbox: Outbox) -> None:
    hub = Hub()
    hub.refuse = {3, 20}  # in the first and the second batch
    link = uplink(outbox, hub)
    delays = drain(link)
    assert outbox.pending() == 0 and link.failures == 0
    assert delays[0] == 0.0  # the rest goes at once, no backoff
    assert sorted(k[3] for k in hub.stored if k[2] == "reading") == [
        i for i in range(50) if i not in (3, 20)
    ]
    letters = outbox.dead_letters()
    assert [(d["record"]["seq"], d["reason"]) for d in letters] == [
        (3, "body.values: refused"),
        (20, "body.values: refused"),
    ]
    assert letters[0]["record"]["body"] == {"values": {"x": 3}}
    assert outbox.counters()["dead_letter_reading"] == 2
    assert link.counts["dead_letters"] == 2


def test_a_single_record_too_large_for_any_batch_is_set_aside(outbox: Outbox) -> None:
    hub = Hub()
    hub.too_large = {9}
    link = uplink(outbox, hub)
    drain(link)
    assert outbox.pending() == 0 and len(hub.stored) == 50
    [letter] = outbox.dead_letters()
    assert letter["record"]["seq"] == 9 and "413" in letter["reason"]


def test_a_422_that_names_no_record_of_the_batch_sets_nothing_aside(outbox: Outbox) -> None:
    hub = Hub()
    for answer in ({"error": "x"}, {"rejected": [{"index": 99}]}, {"rejected": [{"index": "1"}]}):
        hub.answer_422 = answer
        link = uplink(outbox, hub)
        assert link.send_once() > 0.0 and link.failures == 1
    assert outbox.pending() == 51 and outbox.dead_letters() == []


def test_401_drops_nothing_logs_errors_rate_limited_and_is_visible(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    hub = Hub()
    hub.unauthorised = 30
    link = uplink(outbox, hub)
    for _ in range(30):
        link.send_once()
    assert outbox.pending() == 51 and outbox.dead_letters() == []
    assert link.state() == "unauthorised" and link.counts["unauthorised"] == 30
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2  # the 1st and the 10th failure
    assert "401" in errors[0].getMessage() and "t0ken" not in caplog.text
    drain(link)
    assert outbox.pending() == 0 and link.state() == "ok"
