"""Hub fixtures: a database per test (SQLite file, or a fresh PostgreSQL schema) and a real server.

PostgreSQL is the one at ``EDGEWISE_TEST_PG`` (default: the local test database); tests using it
skip when it does not answer, and fail instead under ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewise.hub import upgrade
from hub.hubtest import Hub, add_people, serve

PG_URL = os.environ.get("EDGEWISE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_admin_url() -> str:
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            pass
    except psycopg.Error as error:
        reason = f"PostgreSQL at EDGEWISE_TEST_PG does not answer: {type(error).__name__}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (under CI it must run: .ci/run starts it)")
        pytest.skip(reason)
    return PG_URL


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose tables live in a fresh schema of their own, dropped afterwards."""
    import psycopg

    admin = _pg_admin_url()
    schema = f"hub_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in admin else "?"
    try:
        yield f"{admin}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An upgraded, empty hub database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    upgrade(url)
    return url


@pytest.fixture
def hub(db_url: str) -> Iterator[Hub]:
    server, token = serve(db_url)
    with server:
        yield Hub(db_url, server.url, token)


@pytest.fixture
def staffed(hub: Hub) -> Hub:
    """A running hub with one person of each role (``hubtest.PEOPLE``)."""
    add_people(hub.db_url)
    return hub
