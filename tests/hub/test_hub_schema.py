"""Migrations: a fresh database is upgraded to the models' schema; upgrading again is a no-op."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from edgewise.hub import Base, HubError, create_app, stored_keys, upgrade
from edgewise.hub._db import engine, normalise_url, schema_head


def test_a_fresh_database_is_upgraded_to_the_models_schema(db_url: str) -> None:
    made = engine(db_url)
    try:
        with made.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == schema_head()
            assert compare_metadata(context, Base.metadata) == []
    finally:
        made.dispose()


def test_upgrading_again_changes_nothing_and_keeps_the_data(db_url: str) -> None:
    from hubtest import reading

    from edgewise.hub import add_device, session
    from edgewise.hub._protocol import WireRecord
    from edgewise.hub._store import authenticate_in, ingest

    token = add_device(db_url, "press-7")
    with session(db_url) as s:
        agent = authenticate_in(s, token)
        assert agent is not None
        ingest(s, agent, [WireRecord.model_validate(reading(0))], [])
    upgrade(db_url)
    upgrade(db_url)
    assert len(stored_keys(db_url)) == 1


def test_the_hub_refuses_a_database_not_upgraded(tmp_path: Path) -> None:
    with pytest.raises(HubError, match=f"at schema none, not {schema_head()}"):
        create_app(db_url=f"sqlite:///{tmp_path / 'empty.db'}")


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_urls_route_postgresql_to_psycopg_3_and_refuse_others() -> None:
    assert normalise_url("postgresql://u:pw@h/db") == "postgresql+psycopg://u:pw@h/db"
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(HubError, match="unsupported database 'mysql'"):
        normalise_url("mysql://u@h/db")
    with pytest.raises(HubError, match="not a URL"):
        normalise_url("hub.db")


def test_the_migrations_ship_in_the_package() -> None:
    from setuptools import find_packages

    import edgewise.hub

    # pyproject.toml ships what setuptools finds under src/: the migrations are packages.
    src = Path(edgewise.hub.__file__).parents[2]
    assert {"edgewise.hub.migrations", "edgewise.hub.migrations.versions"} <= set(
        find_packages(str(src))
    )
    versions = src / "edgewise" / "hub" / "migrations" / "versions"
    assert "0001_initial.py" in {p.name for p in versions.glob("0*.py")}


def test_postgresql_stores_bodies_as_jsonb(pg_url: str) -> None:
    upgrade(pg_url)
    made = engine(pg_url)
    try:
        columns = {c["name"]: c["type"] for c in sa.inspect(made).get_columns("records")}
    finally:
        made.dispose()
    assert type(columns["body"]).__name__ == "JSONB"


def test_a_database_made_by_the_first_schema_upgrades_with_its_data(db_url: str) -> None:
    from alembic import command

    from edgewise.hub import session
    from edgewise.hub._db import _config
    from edgewise.hub._models import Command
    from edgewise.hub._store import authenticate_in

    made = engine(db_url)
    try:  # the fixture's database is at the head: back to the first schema, filled as it was
        with made.begin() as connection:
            command.downgrade(_config(connection), "0001")
            connection.execute(
                sa.text("INSERT INTO devices (id, name, created) VALUES (1, 'press-7', 0)")
            )
            digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # "test"
            connection.execute(
                sa.text("INSERT INTO tokens (id, device_id, sha256, created) VALUES (1, 1, :d, 0)"),
                {"d": digest},
            )
            connection.execute(sa.text("INSERT INTO token_devices VALUES (1, 1)"))
            connection.execute(
                sa.text(
                    "INSERT INTO commands (id, device_id, kind, stream, body, created)"
                    " VALUES (1, 1, 'relearn', 'pump-1', '{}', 0)"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO records (device, stream, kind, seq, name, timestamp, stored_at,"
                    " body) VALUES ('press-7', 'pump-1', 'reading', 0, '', 0, 0, '{}')"
                )
            )
    finally:
        made.dispose()
    upgrade(db_url)
    with session(db_url) as s:
        agent = authenticate_in(s, "test")
        assert agent is not None and agent.name == "press-7"
        relearn = s.get(Command, 1)
        assert relearn is not None and relearn.stream == "pump-1" and relearn.refused is None
    assert len(stored_keys(db_url)) == 1
