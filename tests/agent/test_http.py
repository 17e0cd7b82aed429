"""The HTTP push input against a real server on a loopback port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cbor2
import httpx
import pytest
from pydantic import ValidationError

from edgewise.agent import Inbound, Secret, decode
from edgewise.agent.inputs.http import HttpInput, HttpInputConfig, stream_from_path

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODY = json.dumps({"stream": "pump-1", "timestamp": 1.7e9, "values": {"temp": 21.5}}).encode()


class Agent:
    """Stores what it is given and acknowledges it, after ``delay`` seconds, or never."""

    def __init__(self, delay: float | None = 0.0) -> None:
        self.delay = delay
        self.inbound: list[Inbound] = []
        self.acked_at: list[float] = []

    def deliver(self, inbound: Inbound) -> None:
        self.inbound.append(inbound)
        if self.delay is not None:
            threading.Timer(self.delay, self._ack, [inbound]).start()

    def _ack(self, inbound: Inbound) -> None:
        self.acked_at.append(time.monotonic())
        assert inbound.ack is not None
        inbound.ack()


def serve(agent: Agent, **kwargs: float) -> Iterator[tuple[HttpInput, str]]:
    source = HttpInput("push", token=TOKEN, port=0, **kwargs)  # type: ignore[arg-type]
    source.start(agent.deliver)
    host, port = source.address
    try:
        yield source, f"http://{host}:{port}"
    finally:
        source.stop()


@pytest.fixture
def agent() -> Agent:
    return Agent()


@pytest.fixture
def server(agent: Agent) -> Iterator[tuple[HttpInput, str]]:
    yield from serve(agent, max_bytes=4096)


def post(
    url: str, body: bytes, content_type: str = "application/json", **headers: str
) -> httpx.Response:
    return httpx.post(url, content=body, headers={"Content-Type": content_type, **AUTH, **headers})


def test_accepted_once_stored(agent: Agent, server: tuple[HttpInput, str]) -> None:
    source, url = server
    response = post(url + "/ingest", BODY)
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "rejected": []}
    (inbound,) = agent.inbound
    assert (inbound.source, inbound.topic, inbound.format) == ("push", "/ingest", "json")
    assert inbound.payload == BODY and inbound.upstream_copy
    assert source.rejections.counts == {}


def test_the_answer_waits_for_the_ack() -> None:
    agent = Agent(delay=0.3)
    for _, url in serve(agent):
        response = post(url + "/ingest", BODY)
        answered = time.monotonic()
        assert response.status_code == 202
        assert answered >= agent.acked_at[0]


def test_503_when_not_stored_in_time() -> None:
    agent = Agent(delay=None)
    for source, url in serve(agent, ack_timeout=0.2):
        response = post(url + "/ingest", BODY)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert source.rejections.counts == {"not_stored": 1}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/cbor", cbor2.dumps({"values": {"temp": 1.5}})),
        ("application/senml+json", b'[{"n": "temp", "v": 1.5}]'),
        ("application/senml+cbor; charset=binary", cbor2.dumps([{0: "temp", 2: 1.5}])),
    ],
)
def test_content_type_selects_the_format_and_path_the_stream(
    agent: Agent, server: tuple[HttpInput, str], content_type: str, body: bytes
) -> None:
    _, url = server
    assert post(url + "/ingest/pump-9", body, content_type).status_code == 202
    (inbound,) = agent.inbound
    decoded = decode(inbound, stream=stream_from_path(inbound.topic))
    assert [(r.stream, r.values) for r in decoded.readings] == [("pump-9", {"temp": 1.5})]


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "kind"),
    [
        ("/ingest", {"Authorization": "Bearer wrong"}, BODY, 401, "unauthorized"),
        ("/ingest", {"Authorization": TOKEN}, BODY, 401, "unauthorized"),
        ("/ingest", {"Content-Type": "text/plain"}, BODY, 415, "unsupported_type"),
        ("/ingest", {}, b"x" * 5000, 413, "oversize"),
        ("/ingest", {}, b"{not json", 400, "malformed"),
        ("/ingest", {}, b'{"stream": "a", "values": {"x": "hot"}}', 400, "wrong_type"),
        ("/other", {}, BODY, 404, "not_found"),
        ("/ingest/a/b", {}, BODY, 404, "not_found"),
    ],
)
def test_refusals(
    agent: Agent,
    server: tuple[HttpInput, str],
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    kind: str,
) -> None:
    source, url = server
    response = post(url + path, body, **headers)
    assert response.status_code == status
    assert kind in response.text
    assert agent.inbound == []
    assert source.rejections.counts == {kind: 1}
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_partly_bad_message_is_accepted_with_its_rejections(
    agent: Agent, server: tuple[HttpInput, str]
) -> None:
    _, url = server
    body = json.dumps([{"stream": "a", "values": {"x": 1}}, {"stream": "a", "values": {"x": "?"}}])
    response = post(url + "/ingest", body.encode())
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    assert [r["kind"] for r in response.json()["rejected"]] == ["wrong_type"]


def test_binds_loopback_and_stops() -> None:
    source = HttpInput("push", token=TOKEN, port=0)
    with pytest.raises(RuntimeError, match="not started"):
        _ = source.address
    source.start(Agent().deliver)
    host, port = source.address
    assert host == "127.0.0.1"
    with pytest.raises(RuntimeError, match="already started"):
        source.start(Agent().deliver)
    source.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"http://{host}:{port}/ingest", content=BODY, headers=AUTH)
    with pytest.raises(ValueError, match="non-empty token"):
        HttpInput("push", token="")


def test_config_reads_the_token_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    cfg = HttpInputConfig.model_validate(
        {"name": "push", "port": 0, "token": {"file": str(tmp_path / "token")}}
    )
    agent = Agent()
    source = cfg.build()
    source.start(agent.deliver)
    try:
        host, port = source.address
        assert post(f"http://{host}:{port}/ingest", BODY).status_code == 202
    finally:
        source.stop()
    assert TOKEN not in repr(cfg) and TOKEN not in repr(source)
    with pytest.raises(ValidationError, match="never written in the configuration"):
        HttpInputConfig.model_validate({"name": "push", "port": 1, "token": TOKEN})


def test_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEWISE_TEST_SECRET", "value-1")
    secret = Secret(env="EDGEWISE_TEST_SECRET")
    assert secret.reveal() == "value-1"
    assert "value-1" not in repr(secret) and "value-1" not in str(secret)
    monkeypatch.delenv("EDGEWISE_TEST_SECRET")
    with pytest.raises(ValueError, match="is not set"):
        secret.reveal()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        Secret(file=tmp_path / "empty").reveal()
    with pytest.raises(ValueError, match="cannot read secret file"):
        Secret(file=tmp_path / "missing").reveal()
    with pytest.raises(ValidationError, match="exactly one"):
        Secret(env="A", file=tmp_path / "empty")
    with pytest.raises(ValidationError, match="exactly one"):
        Secret()
