"""Upgrading a database made by schema 0001, with data in it, to the newest schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hubtest import PASSWORD, reading

from edgewise.hub import (
    Base,
    add_user,
    audit_entries,
    list_devices,
    person_of,
    rotate_device,
    session,
    sign_in,
    stored_keys,
    upgrade,
)
from edgewise.hub._db import engine
from edgewise.hub._protocol import WireRecord
from edgewise.hub._secrets import digest
from edgewise.hub._store import authenticate_in, ingest

TOKEN = "t" * 43

# Rows as schema 0001 held them, written with SQL of that time (today's models have more).
_ROWS_0001 = [
    "INSERT INTO devices (name, created, revoked) VALUES "
    "('press-7', 1.0, NULL), ('plc-1', 1.0, NULL), ('old-1', 1.0, 2.0)",
    "INSERT INTO tokens (device_id, sha256, created) "
    f"SELECT id, '{digest(TOKEN)}', 1.0 FROM devices WHERE name = 'press-7'",
    "INSERT INTO token_devices (token_id, device_id) "
    "SELECT tokens.id, devices.id FROM tokens, devices WHERE devices.name IN ('press-7', 'plc-1')",
    "INSERT INTO records (device, stream, kind, seq, name, timestamp, received, stored_at, body) "
    "VALUES ('plc-1', 'pump-1', 'reading', 0, '', 1.0, 1.0, 1.0, '{\"values\": {}}')",
    "INSERT INTO commands (device_id, kind, stream, body, created) "
    "SELECT id, 'relearn', 'pump-1', '{}', 1.0 FROM devices WHERE name = 'plc-1'",
]


@pytest.fixture(params=["sqlite", "postgresql"])
def at_0001(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at schema 0001 holding devices, a token, a record and a pending command."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    upgrade(url, to="0001")
    made = engine(url)
    try:
        with made.begin() as connection:
            for statement in _ROWS_0001:
                connection.execute(sa.text(statement))
    finally:
        made.dispose()
    return url


def test_upgrading_from_0001_keeps_the_data_and_the_new_tables_work(at_0001: str) -> None:
    upgrade(at_0001)
    made = engine(at_0001)
    try:
        with made.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == "0002"
            assert compare_metadata(context, Base.metadata) == []
    finally:
        made.dispose()
    # The old token still authenticates, covers what it did, and gets its pending command.
    with session(at_0001) as s:
        agent = authenticate_in(s, TOKEN)
        assert agent is not None and agent.covers == {"press-7", "plc-1"}
        stored, commands = ingest(s, agent, [WireRecord.model_validate(reading(1))], [])
    assert stored == 1 and [(c["device"], c["stream"]) for c in commands] == [("plc-1", "pump-1")]
    assert len(stored_keys(at_0001)) == 2
    status = {d["name"]: (d["status"], d["covers"]) for d in list_devices(at_0001)}
    assert status == {
        "old-1": ("revoked", []),
        "plc-1": ("active", []),
        "press-7": ("active", ["plc-1", "press-7"]),
    }
    # The new tables: people, sessions, the audit log; rotation of an old device.
    add_user(at_0001, "ada", role="admin", password=PASSWORD)
    cookie = sign_in(at_0001, "ada", PASSWORD).cookie
    assert cookie is not None and person_of(at_0001, cookie) is not None
    rotate_device(at_0001, "press-7", actor="ada")
    with session(at_0001) as s:
        assert authenticate_in(s, TOKEN) is None
    assert [e["action"] for e in audit_entries(at_0001)] == ["device.rotate", "login", "user.add"]


def test_the_new_schema_downgrades_to_0001_and_back(at_0001: str) -> None:
    from alembic import command

    from edgewise.hub._db import _config

    upgrade(at_0001)
    made = engine(at_0001)
    try:
        with made.begin() as connection:
            command.downgrade(_config(connection), "0001")
        assert "users" not in sa.inspect(made).get_table_names()
    finally:
        made.dispose()
    upgrade(at_0001)
    assert len(stored_keys(at_0001)) == 1
