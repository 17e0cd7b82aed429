"""Migrations: a fresh database is upgraded to the models' schema; upgrading again is a no-op."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from edgewise.hub import Base, HubError, create_app, stored_keys, upgrade
from edgewise.hub._db import engine, normalise_url


def test_a_fresh_database_is_upgraded_to_the_models_schema(db_url: str) -> None:
    made = engine(db_url)
    try:
        with made.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == "0002"
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
    with pytest.raises(HubError, match="at schema none, not 0002"):
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
    assert sorted(p.name for p in versions.glob("0*.py")) == ["0001_initial.py", "0002_people.py"]


def test_postgresql_stores_bodies_as_jsonb(pg_url: str) -> None:
    upgrade(pg_url)
    made = engine(pg_url)
    try:
        columns = {c["name"]: c["type"] for c in sa.inspect(made).get_columns("records")}
    finally:
        made.dispose()
    assert type(columns["body"]).__name__ == "JSONB"
