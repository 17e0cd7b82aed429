"""POST /api/v1/ingest against a real server, on SQLite and on PostgreSQL: each record once."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
from hubtest import Hub, reading, serve

from edgewise.hub import RecordKey, add_device, revoke_device, stored_keys


def test_healthz_needs_no_token_and_nothing_else_is_open(hub: Hub) -> None:
    assert httpx.get(f"{hub.url}/healthz").json() == {"status": "ok"}
    for path in ("/docs", "/redoc"):
        assert httpx.get(f"{hub.url}{path}").status_code == 404
    # The API's description is for signed-in people only (docs/hub.md).
    assert httpx.get(f"{hub.url}/openapi.json").status_code == 401


def test_a_resent_batch_is_all_duplicates(hub: Hub) -> None:
    batch = [reading(i) for i in range(20)]
    first = hub.post(batch)
    assert first.status_code == 200
    assert first.json() == {"version": 1, "stored": 20, "duplicates": 0, "commands": []}
    second = hub.post(batch)
    assert second.json()["stored"] == 0 and second.json()["duplicates"] == 20
    keys = stored_keys(hub.db_url)
    assert keys == [RecordKey("press-7", "pump-1", "reading", i, "") for i in range(20)]


def test_a_partly_resent_batch_stores_only_the_new_records(hub: Hub) -> None:
    assert hub.post([reading(i) for i in range(10)]).json()["stored"] == 10
    answer = hub.post([reading(i) for i in range(5, 15)]).json()
    assert (answer["stored"], answer["duplicates"]) == (5, 5)
    assert [k.seq for k in stored_keys(hub.db_url)] == list(range(15))


def test_the_key_is_all_five_fields(hub: Hub) -> None:
    event = {**reading(3), "kind": "event", "name": "alarm"}
    event["body"] = {"score": 0.9, "explanation": "temp=95", "detector": "d", "model_version": "v"}
    records = [
        reading(3),
        reading(3, stream="pump-2"),
        reading(3, device="plc-1"),
        event,
        {**event, "name": "end:temp"},
        reading(3),  # the same key twice in one batch: stored once
    ]
    answer = hub.post(records).json()
    assert (answer["stored"], answer["duplicates"]) == (5, 1)
    assert len(set(stored_keys(hub.db_url))) == 5


def test_every_kind_as_the_agent_sends_it_is_stored_with_its_body(hub: Hub) -> None:
    detection = {
        "stream": "pump-1", "seq": 7, "timestamp": 1.7e9, "score": 0.97, "is_anomaly": True,
        "alarm": True, "explanation": "temp=95 is outside its range", "detector": "default",
        "model_version": "1bfe908688e7", "events": ["end:temp"],
    }  # fmt: skip
    summary = {
        "window_s": 60.0,
        "inputs": {"temp": {"min": 20.0, "mean": 21.0, "max": 22.0, "count": 60}},
        "max_score": 0.2,
        "abnormal": 0,
    }
    records = [
        {**reading(7), "body": {"values": {"temp": 95.0}, "flags": {}, "detections": [detection]}},
        {**reading(1_700_000_000_000), "kind": "summary", "received": None, "body": summary},
        {**reading(52), "kind": "heartbeat", "body": {}},
        {**reading(8), "body": {"values": {"temp": 21.0}}},  # a suppressed stream's reading
    ]
    assert hub.post(records).json()["stored"] == 4
    from edgewise.hub import StoredRecord, session

    with session(hub.db_url) as s:
        bodies = {r.kind: r.body for r in s.query(StoredRecord)}
    assert bodies["summary"] == summary
    assert bodies["heartbeat"] == {}


def test_identity_encoding_is_accepted_too(hub: Hub) -> None:
    assert hub.post([reading(0)], compress=False).json()["stored"] == 1


def test_malformed_records_are_named_in_a_422_and_nothing_is_stored(hub: Hub) -> None:
    bad = [reading(0), {**reading(1), "seq": "1"}, {**reading(2), "body": {"values": {"t": "x"}}}]
    bad.append({**reading(3), "kind": "event"})  # an event without a name
    nul = reading(4)
    nul["body"]["flags"] = {"temp": "odd\x00"}  # PostgreSQL could never store it
    answer = hub.post([*bad, nul, reading(5)])
    assert answer.status_code == 422
    assert [r["index"] for r in answer.json()["rejected"]] == [1, 2, 3, 4]
    assert answer.json()["rejected"][0]["reason"].startswith("seq:")
    assert answer.json()["rejected"][1]["reason"].startswith("body.values.t:")
    assert "U+0000" in answer.json()["rejected"][3]["reason"]
    assert stored_keys(hub.db_url) == []
    # Without them, the rest is stored: the NUL check passes a batch with none.
    assert hub.post([reading(0), reading(5)]).json()["stored"] == 2


def test_malformed_envelopes_are_400(hub: Hub) -> None:
    wrong_version = json.dumps({"version": 2, "agent": "press-7", "records": []}).encode()
    with_nan = b'{"version": 1, "agent": "press-7", "records": [], "x": NaN}'
    for body, gz in [
        (b"not json", False),
        (b"\x1f\x8bnot gzip", True),
        (gzip.compress(b'{"version": 1}')[:-8], True),  # truncated
        (gzip.compress(wrong_version.replace(b"2", b"1")) + b"more", True),  # valid, then junk
        (wrong_version, False),
        (with_nan, False),
    ]:
        answer = hub.send(body, gz=gz)
        assert answer.status_code == 400, body
        assert answer.json()["error"]


def test_tokens_unknown_revoked_or_missing_are_401(hub: Hub) -> None:
    assert hub.post([reading(0)], token="not-a-token").status_code == 401
    missing = httpx.post(f"{hub.url}/api/v1/ingest", content=b"{}")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert hub.post([reading(0)]).status_code == 200
    revoke_device(hub.db_url, "press-7")
    assert hub.post([reading(1)]).status_code == 401
    assert len(stored_keys(hub.db_url)) == 1


def test_records_of_devices_the_token_does_not_cover_are_403(hub: Hub) -> None:
    other = add_device(hub.db_url, "press-8")
    answer = hub.post([reading(0, device="plc-1"), reading(0, device="press-8")])
    assert answer.status_code == 403 and "press-8" in answer.json()["error"]
    assert hub.post([reading(0, device="plc-1")], token=other, agent="press-8").status_code == 403
    assert hub.post([reading(0)], agent="press-8").status_code == 403  # not its own name
    assert stored_keys(hub.db_url) == []


def test_a_batch_too_large_is_413_even_as_a_small_gzip(db_url: str) -> None:
    server, token = serve(db_url, max_batch_bytes=4096)
    with server:
        hub = Hub(db_url, server.url, token)
        big = [reading(i) for i in range(100)]
        assert hub.post(big, compress=False).status_code == 413
        assert hub.post(big).status_code == 413  # small compressed, too large decompressed
        bomb = gzip.compress(b" " * 50_000_000)
        assert len(bomb) < 4096 * 20 and hub.send(bomb).status_code == 413
        assert hub.post(big[:10]).status_code == 200
    assert len(stored_keys(db_url)) == 10


def test_concurrent_resends_store_each_record_once(hub: Hub) -> None:
    batch = [reading(i) for i in range(200)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: hub.post(batch), range(6)))
    stored = [a.json()["stored"] for a in answers if a.status_code == 200]
    busy = [a for a in answers if a.status_code == 503]
    assert all(a.headers["Retry-After"] == "1" for a in busy)
    assert sum(stored) == 200
    assert len(stored_keys(hub.db_url)) == 200


def test_a_busy_hub_answers_503_with_retry_after(db_url: str) -> None:
    server, token = serve(db_url, max_concurrent=1, retry_after_s=3)
    sending, release = threading.Event(), threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield b'{"version": 1, "agent": "press-7", '
        sending.set()  # the headers and the first part are out: the hub takes the slot
        release.wait(10)
        yield b'"records": []}'

    with server:
        hub = Hub(db_url, server.url, token)
        url, headers = f"{server.url}/api/v1/ingest", {"Authorization": f"Bearer {token}"}
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(httpx.post, url, content=slow_body(), headers=headers)
            assert sending.wait(10)
            threading.Event().wait(0.2)
            for _ in range(500):  # until the first request holds the only slot
                answer = hub.post([reading(0)])
                if answer.status_code == 503:
                    break
                threading.Event().wait(0.01)
            release.set()
            assert first.result().status_code == 200
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "3"
        assert hub.post([reading(0)]).status_code == 200
