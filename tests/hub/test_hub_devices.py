"""The device registry through the API and the CLI: provision, rotate, revoke, decommission."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hubtest import Hub, person, reading
from typer.testing import CliRunner

from edgewise.cli import app
from edgewise.hub import audit_entries, list_devices, stored_keys, upgrade

KEY = base64.b64encode(bytes(range(32))).decode()


def test_an_admin_provisions_a_device_whose_token_covers_what_it_fronts(staffed: Hub) -> None:
    with person(staffed.url, "ada") as ada:
        new = {"name": "press-8", "covers": ["plc-3"], "signing_key": KEY}
        added = ada.post("/api/v1/devices", json=new)
        assert added.status_code == 201 and added.json()["name"] == "press-8"
        token = added.json()["token"]
        listed = {d["name"]: d for d in ada.get("/api/v1/devices").json()}
    assert listed["press-8"]["covers"] == ["plc-3", "press-8"]
    assert listed["press-8"]["signing_key"] == KEY and listed["plc-3"]["status"] == "active"
    ok = staffed.post([reading(0, "plc-3")], agent="press-8", token=token)
    assert ok.status_code == 200 and ok.json()["stored"] == 1
    entry = audit_entries(staffed.db_url, limit=1)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("ada", "device.add", "press-8")
    assert entry["detail"] == {"covers": ["plc-3"], "signing_key": True}


def test_rotation_replaces_the_token_and_keeps_what_it_covers(staffed: Hub) -> None:
    with person(staffed.url, "ada") as ada:
        rotated = ada.post("/api/v1/devices/press-7/rotate")
    assert rotated.status_code == 200
    new = rotated.json()["token"]
    assert staffed.post([reading(0)]).status_code == 401  # the old token
    answer = staffed.post([reading(0), reading(0, "plc-2")], token=new)
    assert answer.status_code == 200 and answer.json()["stored"] == 2


def test_revoke_and_decommission_refuse_the_agent_and_keep_its_records(staffed: Hub) -> None:
    assert staffed.post([reading(0)]).status_code == 200
    with person(staffed.url, "ada") as ada:
        assert ada.post("/api/v1/devices/plc-1/revoke").json() == {
            "name": "plc-1",
            "status": "revoked",
        }
        refused = staffed.post([reading(1, "plc-1")])
        assert refused.status_code == 403  # the agent stays, the device it fronted does not
        retired = ada.post("/api/v1/devices/press-7/decommission")
        assert retired.json()["status"] == "decommissioned"
        assert staffed.post([reading(2)]).status_code == 401
        status = {d["name"]: d["status"] for d in ada.get("/api/v1/devices").json()}
        again = ada.post("/api/v1/devices/press-7/rotate")
    assert status == {"plc-1": "revoked", "plc-2": "active", "press-7": "decommissioned"}
    assert again.status_code == 409 and again.json() == {"error": "device 'press-7' is revoked"}
    assert stored_keys(staffed.db_url) == [("press-7", "pump-1", "reading", 0, "")]
    actions = [e["action"] for e in audit_entries(staffed.db_url) if e["actor"] == "ada"]
    assert actions[:2] == ["device.decommission", "device.revoke"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("post", "/api/v1/devices", {"name": "press-7"}, 409, "device 'press-7' exists already"),
        ("post", "/api/v1/devices", {"name": "x", "signing_key": "!!"}, 400, "not base64"),
        ("post", "/api/v1/devices", {"name": "x", "signing_key": "AAAA"}, 400, "32 bytes, this"),
        ("post", "/api/v1/devices/nope/rotate", None, 404, "no device named 'nope'"),
        ("post", "/api/v1/devices/plc-1/rotate", None, 409, "has no token of its own"),
        ("post", "/api/v1/devices/nope/decommission", None, 404, "no device named 'nope'"),
    ],
)
def test_bad_device_requests_say_why_and_change_nothing(
    staffed: Hub, method: str, path: str, body: object, status: int, error: str
) -> None:
    before = list_devices(staffed.db_url)
    with person(staffed.url, "ada") as ada:
        answer = ada.request(method, path, json=body)
    assert answer.status_code == status and error in answer.json()["error"]
    assert list_devices(staffed.db_url) == before


def test_an_operator_queues_a_relearn_the_agent_receives(staffed: Hub) -> None:
    with person(staffed.url, "otto") as otto:
        queued = otto.post("/api/v1/devices/plc-1/relearn", json={"stream": "temp"})
        assert otto.post("/api/v1/devices/plc-1/revoke").status_code == 403
    assert queued.status_code == 202
    command = queued.json()["command"]
    commands = staffed.post([]).json()["commands"]
    assert [(c["id"], c["device"], c["stream"]) for c in commands] == [(command, "plc-1", "temp")]
    entry = audit_entries(staffed.db_url, limit=1)[0]
    assert (entry["actor"], entry["action"], entry["detail"]["command"]) == (
        "otto",
        "command.queue",
        command,
    )


def test_the_cli_mirrors_the_api(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(db)
    key = tmp_path / "press-8.pub"
    key.write_text(KEY + "\n")
    runner = CliRunner()

    def hub(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, ["hub", "device", *args, "--db", db])
        return result.exit_code, result.stdout, result.stderr

    code, token, _ = hub("add", "press-8", "--covers", "plc-3", "--signing-key", str(key))
    assert code == 0
    code, rotated, err = hub("rotate", "press-8")
    assert code == 0 and rotated != token and "shown once" in err
    assert hub("decommission", "plc-3")[0] == 0
    code, out, _ = hub("list")
    assert out.splitlines() == [
        "name     status          covers         signing_key",
        "plc-3    decommissioned  -              -",
        f"press-8  active          plc-3,press-8  {KEY}",
    ]
    bad = tmp_path / "bad.pub"
    bad.write_text("AAAA")
    code, _, err = hub("add", "press-9", "--signing-key", str(bad))
    assert code == 2 and err == (
        "edgewise: error: an Ed25519 public key has 32 bytes, this one 3\n"
    )
    code, _, err = hub("add", "press-9", "--signing-key", str(tmp_path / "missing.pub"))
    assert code == 2 and err.startswith("edgewise: error: ") and "missing.pub" in err
    actors = {e["actor"] for e in audit_entries(db)}
    assert len(actors) == 1 and actors.pop().startswith("cli:")
