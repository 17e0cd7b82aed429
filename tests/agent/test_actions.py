"""Local actions: MQTT commands on a real broker, signed webhooks, commands without a shell,
at most once per event key (across restarts), token buckets, and failures that never raise."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from edgewise.agent import (
    SIGNATURE_HEADER,
    ActionConfig,
    Actions,
    Event,
    MemoryFiredLog,
    MqttPublisher,
    SqliteFiredLog,
    sign_body,
    verify_signature,
)
from edgewise.agent._outbox import Outbox
from edgewise.agent._secret import SecretError

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
EVENT = Event("press-7", "pump-1", 41, "alarm", 1.7e9, 0.98, "temp=95 is high", "default", "1bf")


def event(seq: int = 41, *, name: str = "alarm", stream: str = "pump-1") -> Event:
    return replace(EVENT, seq=seq, name=name, stream=stream)


def action(**fields: Any) -> ActionConfig:
    document = {"name": "act", "on": "*", **fields}
    return ActionConfig.model_validate(document)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Recorder:
    """A ``publish`` callable that keeps what it was given."""

    calls: list[tuple[str, bytes, int, bool]] = field(default_factory=list)

    def __call__(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.calls.append((topic, payload, qos, retain))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- a real broker -------------------------------------------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    """A mosquitto of this test's own on a loopback port; yields the port."""
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def subscriber(broker: int) -> Iterator[list[mqtt.MQTTMessage]]:
    """Messages on ``plant/#`` as the broker delivers them."""
    received: list[mqtt.MQTTMessage] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe("plant/#", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, msg: received.append(msg)
    client.connect("127.0.0.1", broker)
    client.loop_start()
    try:
        assert subscribed.wait(10), "the subscriber never subscribed"
        yield received
    finally:
        client.disconnect()
        client.loop_stop()


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("qos", [0, 1])
def test_mqtt_action_publishes_a_command_on_the_broker(
    broker: int, subscriber: list[mqtt.MQTTMessage], qos: int
) -> None:
    config = action(
        name="stop",
        on="alarm",
        mqtt={"topic": "plant/{device}/{stream}/cmd", "payload": "stop {seq}", "qos": qos},
    )
    with MqttPublisher(host="127.0.0.1", port=broker) as publish:
        actions = Actions([config], publish=publish, fired=MemoryFiredLog())
        actions.submit(EVENT)
        actions.submit(event(name="relearn"))  # not an alarm: nothing to do
        assert actions.close(timeout=10)
    wait_for(lambda: len(subscriber) >= 1)
    assert [(m.topic, m.payload) for m in subscriber] == [("plant/press-7/pump-1/cmd", b"stop 41")]
    assert actions.counters()["stop"]["fired"] == 1


def test_mqtt_action_without_payload_sends_the_event_as_json(
    broker: int, subscriber: list[mqtt.MQTTMessage]
) -> None:
    config = action(name="fwd", mqtt={"topic": "plant/events"})
    with MqttPublisher(host="127.0.0.1", port=broker) as publish:
        actions = Actions([config], publish=publish, fired=MemoryFiredLog())
        actions.submit(EVENT)
        assert actions.close(timeout=10)
    wait_for(lambda: len(subscriber) >= 1)
    body = json.loads(subscriber[0].payload)
    assert body["key"] == EVENT.key and body["action"] == "fwd" and body["score"] == 0.98


def test_mqtt_action_without_a_broker_fails_without_raising() -> None:
    config = action(name="stop", mqtt={"topic": "plant/cmd", "payload": "stop"})
    with MqttPublisher(host="127.0.0.1", port=free_port(), timeout_s=0.2) as publish:
        actions = Actions([config], publish=publish, fired=MemoryFiredLog())
        actions.submit(EVENT)
        assert actions.close(timeout=10)
    assert actions.counters()["stop"]["failed"] == 1
    assert actions.counters()["stop"]["fired"] == 0


# -- webhooks ------------------------------------------------------------------------------------


@dataclass
class Hook:
    """A local HTTP server that records requests and answers with ``status``."""

    url: str
    requests: list[tuple[dict[str, str], bytes]]
    status: list[int]


@pytest.fixture
def hook() -> Iterator[Hook]:
    requests: list[tuple[dict[str, str], bytes]] = []
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            requests.append((dict(self.headers.items()), body))
            self.send_response(status[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield Hook(f"http://127.0.0.1:{port}/hook?token=url-token-123", requests, status)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "hook.secret"
    path.write_text("whsec-xyz\n")
    return path


def test_webhook_body_is_signed_and_a_tampered_body_fails(hook: Hook, secret_file: Path) -> None:
    config = action(name="page", webhook={"url": hook.url, "secret": {"file": str(secret_file)}})
    actions = Actions([config], publish=None, fired=MemoryFiredLog())
    actions.submit(EVENT)
    assert actions.close(timeout=10)
    assert actions.counters()["page"]["fired"] == 1
    [(headers, body)] = hook.requests
    signature = headers[SIGNATURE_HEADER]
    assert json.loads(body)["key"] == EVENT.key
    assert headers["Idempotency-Key"] == EVENT.key
    assert verify_signature(secret="whsec-xyz", header=signature, body=body)
    tampered = body.replace(b'"score":0.98', b'"score":0.10')
    assert tampered != body
    assert not verify_signature(secret="whsec-xyz", header=signature, body=tampered)
    assert not verify_signature(secret="other", header=signature, body=body)


def test_signature_verification_refuses_stale_malformed_and_accepts_rotation() -> None:
    header = sign_body(secret="new", body=b"{}", timestamp=1_700_000_000)
    old = sign_body(secret="old", body=b"{}", timestamp=1_700_000_000).split(",")[1]
    assert verify_signature(secret="new", header=header, body=b"{}", now=1_700_000_299)
    assert not verify_signature(secret="new", header=header, body=b"{}", now=1_700_000_301)
    assert verify_signature(secret="old", header=f"{header},{old}", body=b"{}", now=1.7e9)
    for bad in ["", "t=abc,v1=00", "v1=" + header.split("v1=")[1], "t=1700000000", "t=1,v1=é"]:
        assert not verify_signature(secret="new", header=bad, body=b"{}", now=1.7e9)


def test_failing_webhook_is_counted_and_never_raises(hook: Hook, secret_file: Path) -> None:
    hook.status[0] = 500
    secret = {"file": str(secret_file)}
    refused = f"http://127.0.0.1:{free_port()}/hook"
    configs = [
        action(name="error", webhook={"url": hook.url, "secret": secret}),
        action(name="refused", webhook={"url": refused, "secret": secret, "timeout_s": 2}),
    ]
    actions = Actions(configs, publish=None, fired=MemoryFiredLog())
    actions.submit(EVENT)
    actions.submit(event(seq=42))
    assert actions.close(timeout=20)
    counters = actions.counters()
    assert counters["error"] == {**counters["error"], "failed": 2, "fired": 0}
    assert counters["refused"] == {**counters["refused"], "failed": 2, "fired": 0}
    assert len(hook.requests) == 2


def test_failures_are_logged_rarely_and_without_secrets(
    secret_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    clock = FakeClock()
    url = "https://hooks.example/in?token=url-token-123"
    config = action(name="page", webhook={"url": url, "secret": {"file": str(secret_file)}})
    actions = Actions(
        [config],
        publish=None,
        fired=MemoryFiredLog(),
        clock=clock,
        transport=httpx.MockTransport(refuse),
    )
    with caplog.at_level(logging.WARNING, logger="edgewise.agent.actions"):
        for seq in range(3):
            actions.submit(event(seq))
        wait_for(lambda: actions.counters()["page"]["failed"] == 3)
        clock.now += 61
        actions.submit(event(99))
        assert actions.close(timeout=10)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "page failed: ConnectError" in messages[0]
    assert "(3 failure(s) since the last report)" in messages[1]
    assert not any("token" in m or "whsec" in m for m in messages)


def test_webhook_secret_that_cannot_be_read_is_an_error_at_start(tmp_path: Path) -> None:
    missing = {"file": str(tmp_path / "nope")}
    config = action(name="page", webhook={"url": "https://h.example", "secret": missing})
    with pytest.raises(SecretError, match="nope"):
        Actions([config], publish=None, fired=MemoryFiredLog())


def test_webhook_does_not_follow_redirects(secret_file: Path) -> None:
    seen: list[str] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(307, headers={"Location": "https://elsewhere.example/"})

    url = "https://hooks.example/in"
    config = action(name="page", webhook={"url": url, "secret": {"file": str(secret_file)}})
    transport = httpx.MockTransport(redirect)
    actions = Actions([config], publish=None, fired=MemoryFiredLog(), transport=transport)
    actions.submit(EVENT)
    assert actions.close(timeout=10)
    assert seen == [url]
    assert actions.counters()["page"]["failed"] == 1


# -- commands ------------------------------------------------------------------------------------

WRITE = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text('|'.join(sys.argv[2:]))"


def test_command_writes_a_file_and_shell_metacharacters_stay_literal(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    stream = f"x; touch {tmp_path}/a && echo $(touch {tmp_path}/b) `touch {tmp_path}/c` | >{{d}}"
    config = action(
        name="log",
        command={"argv": [sys.executable, "-c", WRITE, str(out), "{stream}", "{seq}", "{score}"]},
    )
    actions = Actions([config], publish=None, fired=MemoryFiredLog())
    actions.submit(event(stream=stream))
    assert actions.close(timeout=30)
    assert actions.counters()["log"]["fired"] == 1
    assert out.read_text() == f"{stream}|41|0.98"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.parametrize(
    ("argv", "timeout_s"),
    [
        ([sys.executable, "-c", "raise SystemExit(3)"], 10.0),
        (["/nonexistent/edgewise-no-such-program"], 10.0),
        ([sys.executable, "-c", "import time; time.sleep(30)"], 0.3),
    ],
    ids=["exit-code", "missing-program", "timeout"],
)
def test_failing_command_is_counted(argv: list[str], timeout_s: float) -> None:
    config = action(name="run", command={"argv": argv, "timeout_s": timeout_s})
    actions = Actions([config], publish=None, fired=MemoryFiredLog())
    actions.submit(EVENT)
    assert actions.close(timeout=30)
    assert actions.counters()["run"] == {**actions.counters()["run"], "failed": 1, "fired": 0}


# -- at most once per key ------------------------------------------------------------------------


def test_the_same_event_fires_each_action_once() -> None:
    publish = Recorder()
    configs = [
        action(name="a", mqtt={"topic": "t/a", "payload": "{key}"}),
        action(name="b", mqtt={"topic": "t/b", "payload": "{key}"}),
    ]
    actions = Actions(configs, publish=publish, fired=MemoryFiredLog())
    end = event(name="end:temp")
    for _ in range(3):
        actions.submit(EVENT)
    actions.submit(end)
    assert actions.close(timeout=10)
    assert sorted(publish.calls) == sorted(
        (f"t/{n}", key.encode(), 1, False) for n in "ab" for key in (EVENT.key, end.key)
    )
    assert actions.counters()["a"] == {
        "fired": 2,
        "failed": 0,
        "rate_limited": 0,
        "duplicate": 2,
        "dropped": 0,
    }


def test_a_fired_event_stays_fired_across_a_reopened_sqlite_log(tmp_path: Path) -> None:
    path = tmp_path / "fired.db"
    config = action(name="stop", mqtt={"topic": "t", "payload": "{seq}"})
    first = Recorder()
    with SqliteFiredLog(path) as fired:
        actions = Actions([config], publish=first, fired=fired)
        actions.submit(EVENT)
        assert actions.close(timeout=10)
    second = Recorder()
    with SqliteFiredLog(path) as fired:
        actions = Actions([config], publish=second, fired=fired)
        actions.submit(EVENT)
        actions.submit(event(seq=42))
        assert actions.close(timeout=10)
    assert [c[1] for c in first.calls] == [b"41"]
    assert [c[1] for c in second.calls] == [b"42"]
    assert actions.counters()["stop"]["duplicate"] == 1


def test_the_claim_comes_before_the_firing() -> None:
    """A firing that fails is not retried on a replay: at most once, never twice."""
    attempts: list[str] = []

    def flaky(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        attempts.append(topic)
        raise ConnectionError("broker went away")

    fired = MemoryFiredLog()
    config = action(name="stop", mqtt={"topic": "t", "payload": "stop"})
    actions = Actions([config], publish=flaky, fired=fired)
    actions.submit(EVENT)
    actions.submit(EVENT)
    assert actions.close(timeout=10)
    assert attempts == ["t"]
    assert actions.counters()["stop"]["failed"] == 1
    assert actions.counters()["stop"]["duplicate"] == 1


def test_a_fired_log_that_fails_counts_a_failure() -> None:
    class Broken:
        def claim(self, action: str, key: str) -> bool:
            raise sqlite3.OperationalError("disk I/O error")

    publish = Recorder()
    config = action(name="stop", mqtt={"topic": "t", "payload": "stop"})
    actions = Actions([config], publish=publish, fired=Broken())
    actions.submit(EVENT)
    assert actions.close(timeout=10)
    assert publish.calls == []
    assert actions.counters()["stop"]["failed"] == 1


# -- rate limits, queues, latency ----------------------------------------------------------------


def test_a_burst_over_the_bucket_is_rate_limited() -> None:
    clock = FakeClock()
    publish = Recorder()
    config = action(
        name="stop", mqtt={"topic": "t", "payload": "{seq}"}, rate={"per_s": 2, "burst": 5}
    )
    actions = Actions([config], publish=publish, fired=MemoryFiredLog(), clock=clock)
    for seq in range(100):
        actions.submit(event(seq))
    wait_for(lambda: sum(actions.counters()["stop"].values()) == 100)
    assert actions.counters()["stop"]["fired"] == 5
    assert actions.counters()["stop"]["rate_limited"] == 95
    clock.now += 1.0  # two tokens back
    for seq in range(100, 110):
        actions.submit(event(seq))
    assert actions.close(timeout=10)
    assert [int(c[1]) for c in publish.calls] == [0, 1, 2, 3, 4, 100, 101]
    assert actions.counters()["stop"]["rate_limited"] == 95 + 8


def test_duplicates_spend_no_tokens() -> None:
    publish = Recorder()
    config = action(
        name="stop", mqtt={"topic": "t", "payload": "{seq}"}, rate={"per_s": 1, "burst": 2}
    )
    fired = MemoryFiredLog()
    fired.claim("stop", EVENT.key)  # fired before a restart
    actions = Actions([config], publish=publish, fired=fired, clock=FakeClock())
    for _ in range(5):
        actions.submit(EVENT)
    actions.submit(event(seq=42))
    actions.submit(event(seq=43))
    assert actions.close(timeout=10)
    assert [c[1] for c in publish.calls] == [b"42", b"43"]
    assert actions.counters()["stop"]["duplicate"] == 5


def test_a_full_queue_drops_and_submit_never_blocks() -> None:
    started, release = threading.Event(), threading.Event()
    publish = Recorder()

    def slow(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        started.set()
        assert release.wait(10)
        publish(topic, payload, qos, retain)

    config = action(
        name="stop", mqtt={"topic": "t", "payload": "{seq}"}, rate={"per_s": 1, "burst": 10}
    )
    actions = Actions([config], publish=slow, fired=MemoryFiredLog(), queue_size=2)
    actions.submit(event(0))
    assert started.wait(10)
    t0 = time.monotonic()
    for seq in range(1, 5):
        actions.submit(event(seq))
    assert time.monotonic() - t0 < 1.0
    release.set()
    assert actions.close(timeout=10)
    actions.submit(event(5))  # after close: dropped, not raised
    assert [c[1] for c in publish.calls] == [b"0", b"1", b"2"]
    assert actions.counters()["stop"]["dropped"] == 3


def test_latency_is_measured_from_submit_to_done() -> None:
    clock = FakeClock()

    def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        clock.now += 0.25

    config = action(
        name="stop", mqtt={"topic": "t", "payload": "x"}, rate={"per_s": 1, "burst": 10}
    )
    actions = Actions([config], publish=publish, fired=MemoryFiredLog(), clock=clock)
    actions.submit(event(0))
    wait_for(lambda: actions.counters()["stop"]["fired"] == 1)
    actions.submit(event(1))
    assert actions.close(timeout=10)
    assert actions.latencies() == {"stop": [0.25, 0.25]}


def test_each_action_has_its_own_worker() -> None:
    """A stuck action does not hold back another one."""
    release = threading.Event()
    fast = Recorder()

    def stuck(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if topic == "slow":
            assert release.wait(10)
        else:
            fast(topic, payload, qos, retain)

    configs = [
        action(name="slow", mqtt={"topic": "slow", "payload": "x"}),
        action(name="fast", mqtt={"topic": "fast", "payload": "x"}),
    ]
    actions = Actions(configs, publish=stuck, fired=MemoryFiredLog())
    actions.submit(EVENT)
    wait_for(lambda: len(fast.calls) == 1)
    release.set()
    assert actions.close(timeout=10)


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mqtt": {"topic": "plant/{host}"}}, "field 'host' is not one of"),
        ({"mqtt": {"topic": "{stream.__class__}"}}, "field 'stream.__class__'"),
        ({"mqtt": {"topic": "t", "payload": "{stream[0]}"}}, "field 'stream[0]'"),
        ({"mqtt": {"topic": "{}"}}, "field '' is not one of"),
        ({"mqtt": {"topic": "{device:.2f}"}}, "Unknown format code"),
        ({"mqtt": {"topic": "{score:{width}}"}}, "field 'width'"),
        ({"mqtt": {"topic": "{stream"}}, "template '{stream'"),
        ({"mqtt": {"topic": "t", "qos": 2}}, "qos"),
        ({"command": {"argv": ["{stream}", "x"]}}, "must be a fixed program"),
        ({"command": {"argv": []}}, "argv"),
        ({"webhook": {"url": "ftp://x", "secret": {"env": "S"}}}, "url"),
        ({"webhook": {"url": "https://x", "secret": {}}}, "exactly one of env or file"),
        ({}, "exactly one of mqtt, webhook, command; got none"),
        ({"mqtt": {"topic": "t"}, "command": {"argv": ["true"]}}, "got ['mqtt', 'command']"),
        ({"on": "alarms", "mqtt": {"topic": "t"}}, "unknown event 'alarms'"),
        ({"on": "relearn:x", "mqtt": {"topic": "t"}}, "unknown event 'relearn:x'"),
        ({"rate": {"per_s": 0, "burst": 1}, "mqtt": {"topic": "t"}}, "per_s"),
        ({"name": "a b", "mqtt": {"topic": "t"}}, "name"),
    ],
)
def test_bad_configuration_is_refused_at_load(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ActionConfig.model_validate({"name": "act", **fields})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("on", "streams", "name", "stream", "expected"),
    [
        ("alarm", "*", "alarm", "pump-1", True),
        ("alarm", "*", "relearn", "pump-1", False),
        ("end", "*", "end:temp", "pump-1", True),
        ("end:temp", "*", "end:pressure", "pump-1", False),
        ("accept", "*", "accept:temp", "pump-1", True),
        ("*", "pump-*", "relearn", "pump-2", True),
        ("*", "pump-*", "alarm", "fan-1", False),
        (["relearn", "alarm"], "fan-?", "alarm", "fan-1", True),
    ],
)
def test_which_events_trigger_an_action(
    on: str | list[str], streams: str, name: str, stream: str, expected: bool
) -> None:
    config = action(on=on, streams=streams, mqtt={"topic": "t"})
    assert config.matches(event(name=name, stream=stream)) is expected


def test_the_dispatcher_refuses_what_it_cannot_run() -> None:
    mqtt_action = action(name="a", mqtt={"topic": "t"})
    with pytest.raises(ValueError, match="need a publish callable"):
        Actions([mqtt_action], publish=None, fired=MemoryFiredLog())
    with pytest.raises(ValueError, match="unique"):
        Actions([mqtt_action, mqtt_action], publish=Recorder(), fired=MemoryFiredLog())


def test_the_documented_examples_load() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "actions.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    configs = [c for block in blocks for c in yaml.safe_load(block)["actions"]]
    loaded = [ActionConfig.model_validate(c) for c in configs]
    assert [c.kind for c in loaded] == ["mqtt", "webhook", "command"]
    # PyYAML reads the key `on` as true; the model takes it back.
    assert [c.on for c in loaded] == [["alarm"], ["alarm", "accept"], ["*"]]


def test_the_outbox_is_a_fired_log(tmp_path: Path) -> None:
    config = action(name="stop", mqtt={"topic": "t", "payload": "{seq}"})
    publish = Recorder()
    for _ in range(2):
        outbox = Outbox(tmp_path / "outbox.db", max_bytes=1 << 20)
        actions = Actions([config], publish=publish, fired=outbox)
        actions.submit(EVENT)
        assert actions.close(timeout=10)
        assert actions.close(timeout=10)  # a second close does nothing
        outbox.close()
    assert [c[1] for c in publish.calls] == [b"41"]
    assert actions.counters()["stop"]["duplicate"] == 1
