"""The hub serves the repository to agents with a device token, and an agent installs from it
over real HTTP; the command line makes, publishes, assigns, refreshes and rotates."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from releasetest import DEVICE, Release, make_release, tiny_model
from typer.testing import CliRunner

from edgewise.agent import (
    ConfigError,
    HubFetcher,
    Installed,
    ModelUpdater,
    Slots,
    parse_config,
    run_agent,
)
from edgewise.cli import app
from edgewise.hub import HubError, add_device, create_app, revoke_device, upgrade
from hub.hubtest import Server


@pytest.fixture
def release(tmp_path: Path) -> Release:
    return make_release(tmp_path)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    return url


def test_an_agent_installs_from_a_real_hub(release: Release, db_url: str) -> None:
    token = add_device(db_url, DEVICE)
    other = add_device(db_url, "pump-2")
    with Server(create_app(db_url=db_url, releases=release.repo.folder)) as server:
        fetcher = HubFetcher(token=token)
        updater = ModelUpdater(
            folder=release.agent_dir,
            device=DEVICE,
            hub_url=server.url,
            root=release.root,
            fetcher=fetcher,
        )
        outcome = updater.check()
        assert outcome.status == "installed" and outcome.active is not None
        assert outcome.active.image == release.first
        assignment = next((release.repo.targets / "assignments").glob(f"*.{DEVICE}.json"))
        base = f"{server.url}/api/v1/releases"
        with httpx.Client(headers={"Authorization": f"Bearer {other}"}) as stranger:
            path = f"{base}/targets/assignments/{assignment.name}"
            assert stranger.get(path).status_code == 403  # another device's assignment
            for name in ("1.root.json", "timestamp.json"):
                assert stranger.get(f"{base}/metadata/{name}").status_code == 200
            for missing in (
                "metadata/9.root.json",
                "metadata/..%2Fonline-keys%2Ftimestamp-1.pem",
                "targets/../online-keys/timestamp-1.pem",
                "targets/models/bearing-1.ewm",  # only by its consistent-snapshot name
            ):
                assert stranger.get(f"{base}/{missing}").status_code == 404, missing
        revoke_device(db_url, DEVICE)
        refused = updater.check()
        assert refused.status == "failed" and "401" in refused.detail
        fetcher.close()


def test_a_hub_without_releases_answers_404(db_url: str) -> None:
    token = add_device(db_url, DEVICE)
    with Server(create_app(db_url=db_url)) as server:
        answer = httpx.get(
            f"{server.url}/api/v1/releases/metadata/timestamp.json",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 404 and "serves no model releases" in answer.text


def test_a_hub_refuses_a_folder_that_is_no_repository(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(HubError, match="not a model repository"):
        create_app(db_url=db_url, releases=tmp_path)


def test_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    repo, offline = str(tmp_path / "repo"), str(tmp_path / "offline")
    model = tiny_model(tmp_path / "bearing.ewm")

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    out = run("model", "keys", "init", "--repo", repo, "--offline-keys", offline)
    assert "1.root.json" in out
    assert "published models/bearing.ewm" in run(
        "model", "publish", str(model), "--repo", repo, "--offline-keys", offline
    )
    assert "pump-1 -> models/bearing.ewm (serial 1)" in run(
        "model", "assign", "pump-1", "models/bearing.ewm", "--repo", repo
    )
    assert "refreshed" in run("model", "refresh", "--repo", repo)
    out = run("model", "status", "--repo", repo)
    assert "timestamp" in out and "models/bearing.ewm" in out and "pump-1" in out
    assert "rotated the root keys" in run(
        "model", "keys", "rotate", "root", "--repo", repo, "--offline-keys", offline
    )
    out = run("model", "assign", "pump-1", "models/other.ewm", "--repo", repo, code=2)
    assert "models/other.ewm is not published" in out
    out = run(
        "model", "publish", str(model), "--repo", str(tmp_path), "--offline-keys", offline, code=2
    )
    assert "not a model repository" in out


def test_edgewise_agent_run_installs_its_assigned_model(
    release: Release, db_url: str, tmp_path: Path
) -> None:
    token = add_device(db_url, DEVICE)
    (tmp_path / "feed.csv").write_text("timestamp,stream,temp\n1700000000,pump-1,20.5\n")
    (tmp_path / "root.json").write_bytes(release.root)
    (tmp_path / "token").write_text(token)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with Server(create_app(db_url=db_url, releases=release.repo.folder)) as server:
        path = tmp_path / "agent.yaml"
        path.write_text(
            f"""
version: 1
device: {{id: {DEVICE}}}
inputs: [{{type: replay, name: feed, path: {tmp_path / "feed.csv"}, speed: 0}}]
storage: {{dir: {tmp_path / "state"}}}
uplink: {{url: "{server.url}", token: {{file: {tmp_path / "token"}}}}}
models: {{root: {tmp_path / "root.json"}, every_s: 0.2}}
metrics: {{port: {port}}}
"""
        )
        stop = threading.Event()
        runner = threading.Thread(target=run_agent, args=(path,), kwargs={"stop": stop})
        runner.start()
        slots = Slots(tmp_path / "state" / "models" / "slots")
        deadline = time.monotonic() + 60
        while slots.active() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        release.repo.assign(DEVICE, release.second)  # picked up by the next check
        while (slots.active() or Installed("", "", 0, "")).image != release.second:
            assert time.monotonic() < deadline, "the agent did not install its new assignment"
            time.sleep(0.05)
        installs = 'edgewise_agent_model_updates_total{outcome="installed"} 2.0'
        while installs not in httpx.get(f"http://127.0.0.1:{port}/metrics").text:
            assert time.monotonic() < deadline, "the second install is not counted"
            time.sleep(0.05)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        stop.set()
        runner.join(30)
    assert health["model"] == release.second
    assert slots.previous() is not None and slots.previous().image == release.first  # type: ignore[union-attr]


def test_models_need_an_uplink_and_a_root(tmp_path: Path) -> None:
    text = """
version: 1
device: {id: pump-1}
inputs: [{type: replay, name: feed, path: unused.csv}]
models: {root: missing.json}
"""
    with pytest.raises(ConfigError) as raised:
        parse_config(text, tmp_path / "agent.yaml")
    assert "add an uplink" in str(raised.value) and "missing.json: no such file" in str(
        raised.value
    )
