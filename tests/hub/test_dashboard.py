"""The dashboard over HTTP: who may see it, what its pages and chart data hold, and live points
by Server-Sent Events, within one worker (SQLite) and across two (PostgreSQL LISTEN/NOTIFY)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from dashboard_data import run
from hubtest import Hub, Server, add_people, person

from edgewise.hub import add_device, create_app, queue_command, upgrade
from edgewise.hub.web._queries import Points
from hub.hub_fixtures import PG_URL, _pg_admin_url

T0 = 1.7e9


def prepare(url: str) -> str:
    """The database at ``url`` upgraded, with agent press-7 (fronting plc-1) and the test
    people (vera is the viewer)."""
    upgrade(url)
    token = add_device(url, "press-7", covers=["plc-1"])
    add_people(url)
    return token


def ingest(
    url: str, token: str, records: list[dict[str, Any]], *, acked: tuple[int, ...] = ()
) -> None:
    body = {"version": 1, "agent": "press-7", "records": records, "acked_commands": acked}
    answer = httpx.post(
        f"{url}/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text


class Watch:
    """A page's live feed of ``device``, read in a thread until its first batch of points."""

    def __init__(self, client: httpx.Client, device: str, *, after: str, **headers: str) -> None:
        self.client, self.device, self.after, self.headers = client, device, after, headers
        self.subscribed = threading.Event()
        self.points: dict[str, Any] | None = None
        self.event_id = ""
        self.thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        path = f"/devices/{self.device}/live?after={self.after}"
        with self.client.stream("GET", path, headers=self.headers) as stream:
            for line in stream.iter_lines():
                self.subscribed.set()  # the first line comes once the feed is subscribed
                if line.startswith("id: "):
                    self.event_id = line[4:]
                elif line.startswith("data: "):
                    self.points = json.loads(line[6:])
                    return

    def __enter__(self) -> Watch:
        self.thread.start()
        assert self.subscribed.wait(10), "the live feed did not answer"
        return self

    def __exit__(self, *_: object) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive(), "no live points arrived"


@pytest.fixture
def sqlite_hub(tmp_path: Path) -> Iterator[Hub]:
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    token = prepare(db_url)
    with Server(create_app(db_url=db_url)) as server:
        yield Hub(db_url, server.url, token)


def test_static_files_are_public_and_stay_in_their_folder(sqlite_hub: Hub) -> None:
    # Every other route refuses strangers: tests/hub/test_hub_route_security.py walks them.
    with person(sqlite_hub.url, None) as stranger:
        css = stranger.get("/static/dashboard.css")  # the sign-in page wears it too
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert stranger.get("/static/vendor/uplot/LICENSE").status_code == 200
        assert stranger.get("/static/../_app.py").status_code == 404
        assert stranger.get("/static/%2e%2e/_app.py").status_code == 404
        assert stranger.get("/static/vendor").status_code == 404  # a folder
        target = stranger.get("/devices/press-7?range=1h").headers["location"]
        assert target == "/login?next=/devices/press-7%3Frange%3D1h"


def test_a_viewer_sees_the_fleet_and_a_devices_history(sqlite_hub: Hub) -> None:
    url, token = sqlite_hub.url, sqlite_hub.token
    spec = {"version": 1, "steps": [{"step": "hampel"}, {"step": "default"}]}
    body = {"spec": spec, "streams": "pump-*"}
    assigned = queue_command(sqlite_hub.db_url, "press-7", "pipeline", body=body)
    ingest(url, token, run(0, 260, T0), acked=(assigned,))
    with person(url, "vera") as vera:
        fleet = vera.get("/")
        assert vera.get("/devices/press-7").status_code == 200
        assert vera.get("/devices/nope").status_code == 404
        history = vera.get("/devices/press-7/history").json()
    assert fleet.status_code == 200
    assert "default-src 'self'" in fleet.headers["content-security-policy"]
    assert '<span class="badge live">live</span>' in fleet.text  # by hub time, not device time
    assert '<span class="badge silent">silent</span>' in fleet.text  # plc-1 sent nothing
    pump = history["streams"]["pump-1"]
    assert len(pump["t"]) == 260
    assert set(pump["values"]) == {"temp_c", "vibration_mm_s"}
    assert pump["alarm"].count(True) == 1
    [alarm] = history["events"]
    assert alarm["name"] == "alarm"
    assert alarm["explanation"].startswith("vibration")
    assert history["cursor"] == "1.1"  # one event, one chunk of 260 readings
    [pump_pipeline] = history["pipelines"].values()
    assert pump_pipeline["steps"] == ["hampel", "default"]
    assert pump_pipeline["applied"] is not None  # the agent acknowledged it


def test_live_points_arrive_by_server_sent_events(sqlite_hub: Hub) -> None:
    url, token = sqlite_hub.url, sqlite_hub.token
    ingest(url, token, run(0, 10, T0))
    with person(url, "vera") as vera:
        # The cursor: the last event's id, the last chunk's (each batch here is one chunk).
        with Watch(vera, "press-7", after="0.1") as watch:
            ingest(url, token, run(10, 13, T0))
        # A reconnecting page says what it saw last and gets what it missed at once.
        ingest(url, token, run(13, 15, T0))
        with Watch(vera, "press-7", after="0.0", **{"Last-Event-ID": "0.2"}) as again:
            pass
        assert vera.get("/devices/press-7/live?after=13").status_code == 422
    assert watch.points is not None
    assert watch.points["streams"]["pump-1"]["t"] == [T0 + 10, T0 + 11, T0 + 12]
    assert watch.points["streams"]["pump-1"]["id"] == [10, 11, 12]  # their seq
    assert watch.event_id == "0.2"
    assert again.points is not None
    assert again.points["streams"]["pump-1"]["t"] == [T0 + 13, T0 + 14]


def test_history_keeps_the_highest_score_of_each_bucket() -> None:
    points = Points()
    i = np.arange(100)
    score = np.where(i == 37, 0.9, 0.1)
    points.add_columns("s", i.tolist(), i.astype(float), {"x": np.ones(100)}, score, i == 37)
    series = points.downsampled(10).to_json()["streams"]["s"]
    assert len(series["t"]) == 10
    assert series["score"][3] == 0.9
    assert series["alarm"] == [i == 3 for i in range(10)]
    assert series["values"]["x"] == [1.0] * 10


@pytest.fixture
def dashboard_pg() -> Iterator[str]:
    """A fresh schema in database ``test_dashboard`` (made if missing), dropped afterwards."""
    import psycopg

    admin = _pg_admin_url()
    with psycopg.connect(admin, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = 'test_dashboard'")
        if found.fetchone() is None:
            connection.execute("CREATE DATABASE test_dashboard")
    own = PG_URL.rsplit("/", 1)[0] + "/test_dashboard"
    schema = f"dashboard_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(own, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{own}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(own, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_live_points_cross_workers_through_postgresql(dashboard_pg: str) -> None:
    token = prepare(dashboard_pg)
    # Two hub workers on one database: the page watches one, the agent sends to the other.
    with (
        Server(create_app(db_url=dashboard_pg)) as one,
        Server(create_app(db_url=dashboard_pg)) as two,
    ):
        ingest(one.url, token, run(0, 5, T0))
        with person(two.url, "vera") as vera, Watch(vera, "press-7", after="0.1") as watch:
            ingest(one.url, token, run(5, 8, T0))
        assert watch.points is not None
        assert watch.points["streams"]["pump-1"]["t"] == [T0 + 5, T0 + 6, T0 + 7]
        assert watch.event_id == "0.2"
