"""``edgewise hub``: devices and tokens, relearn, and a real ``hub run`` that never logs a token."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from hubtest import Hub, reading
from typer.testing import CliRunner

from edgewise.cli import app
from edgewise.cli._common import InputError
from edgewise.cli.hub import DEFAULT_DB, _check_bind
from edgewise.hub import DEFAULT_DB_URL, stored_keys
from peers.certs import self_signed

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


def test_the_cli_default_database_is_the_hubs() -> None:
    assert DEFAULT_DB == DEFAULT_DB_URL


def test_device_add_prints_the_token_once_on_stdout(db: str) -> None:
    added = runner.invoke(app, ["hub", "device", "add", "press-7", "--covers", "plc-1", "--db", db])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert len(token) >= 43 and "\n" not in token
    assert token not in added.stderr and "covers press-7, plc-1" in added.stderr
    again = runner.invoke(app, ["hub", "device", "add", "press-7", "--db", db])
    assert again.exit_code == 2
    assert again.stderr == "edgewise: error: device 'press-7' exists already\n"


def test_relearn_and_revoke_name_unknown_devices_in_one_line(db: str) -> None:
    assert runner.invoke(app, ["hub", "device", "add", "press-7", "--db", db]).exit_code == 0
    queued = runner.invoke(app, ["hub", "relearn", "press-7", "pump-1", "--db", db])
    assert queued.exit_code == 0 and "command 1 queued" in queued.stderr
    for command in (["relearn", "nope", "pump-1"], ["device", "revoke", "nope"]):
        result = runner.invoke(app, ["hub", *command, "--db", db])
        assert result.exit_code == 2
        assert result.stderr == "edgewise: error: no device named 'nope'\n"
    assert runner.invoke(app, ["hub", "device", "revoke", "press-7", "--db", db]).exit_code == 0
    refused = runner.invoke(app, ["hub", "relearn", "press-7", "pump-1", "--db", db])
    assert refused.stderr == "edgewise: error: device 'press-7' is revoked\n"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--host", "0.0.0.0"], "refusing to serve plain HTTP on 0.0.0.0"),
        (["--host", "hub.example"], "refusing to serve plain HTTP on hub.example"),
        (["--tls-cert", "c.pem"], "give both --tls-cert and --tls-key, or neither"),
        (["--host", "0.0.0.0", "--tls-cert", "c.pem", "--tls-key", "k.pem"], "c.pem: no such"),
    ],
)
def test_run_refuses_to_listen_beyond_loopback_without_tls(
    db: str, options: list[str], message: str
) -> None:
    result = runner.invoke(app, ["hub", "run", "--db", db, *options])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"edgewise: error: {message}")
    assert result.stderr.count("\n") == 1


@contextmanager
def hub_process(options: list[str], db: str, log: Path) -> Iterator[str]:
    """``edgewise hub run`` in a process of its own on a free port; its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    scheme = "https" if "--tls-cert" in options else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    command = [sys.executable, "-m", "edgewise", "hub", "run", "--port", str(port), *options]
    env = {**os.environ, "EDGEWISE_HUB_DB": db}
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=out, env=env)
        try:
            for _ in range(300):
                if "Uvicorn running" in log.read_text():
                    break
                assert server.poll() is None, log.read_text()
                time.sleep(0.05)
            yield url
        finally:
            server.terminate()
            server.wait(10)


def test_hub_run_upgrades_serves_and_never_logs_a_token(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    token = runner.invoke(app, ["hub", "device", "add", "press-7", "--db", db]).stdout.strip()
    log = tmp_path / "hub.log"
    with hub_process(["--log-level", "debug"], db, log) as url:
        hub = Hub(db, url, token)
        assert hub.post([reading(0)]).json()["stored"] == 1
        assert hub.post([reading(0)], token=token[::-1]).status_code == 401
        assert hub.post([reading(0)], agent="someone").status_code == 403
    text = log.read_text()
    assert "POST /api/v1/ingest" in text  # the log was written
    assert token not in text and token[::-1] not in text
    assert stored_keys(db) == [("press-7", "pump-1", "reading", 0, "")]


def test_hub_run_serves_https_with_a_certificate(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    cert, key = self_signed(tmp_path)
    options = ["--tls-cert", str(cert), "--tls-key", str(key)]
    with hub_process(options, db, tmp_path / "hub.log") as url:
        trust = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(f"{url}/healthz", verify=trust).json() == {"status": "ok"}
        with pytest.raises(httpx.TransportError):
            httpx.get(url.replace("https", "http") + "/healthz")


def test_tls_lets_the_hub_listen_beyond_loopback(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    _check_bind("0.0.0.0", cert, key)  # no error
    with pytest.raises(InputError, match="refusing to serve plain HTTP"):
        _check_bind("0.0.0.0", None, None)


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["device"],
        ["device", "add"],
        ["device", "rotate"],
        ["device", "revoke"],
        ["device", "decommission"],
        ["device", "list"],
        ["admin"],
        ["admin", "create"],
        ["user"],
        ["user", "add"],
        ["user", "list"],
        ["user", "disable"],
        ["relearn"],
    ],
)
def test_every_hub_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, ["hub", *command, "--help"])
    assert result.exit_code == 0 and "Usage: edgewise hub" in result.stdout
