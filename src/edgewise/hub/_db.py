"""The hub's database: engines (SQLite in WAL mode, PostgreSQL through psycopg 3), migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from ._errors import HubError

__all__ = [
    "DEFAULT_DB_URL",
    "Db",
    "engine",
    "normalise_url",
    "schema_head",
    "session",
    "upgrade",
    "within",
]

DEFAULT_DB_URL = "sqlite:///edgewise-hub.db"
"""The hub's database unless told otherwise: a SQLite file in the working directory."""

_MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """``url`` with PostgreSQL routed to psycopg 3 (SQLAlchemy's default is psycopg2).

    >>> normalise_url("postgresql://hub@db.example/hub")
    'postgresql+psycopg://hub@db.example/hub'
    >>> normalise_url("sqlite:///edgewise-hub.db")
    'sqlite:///edgewise-hub.db'
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise HubError("the database URL is not a URL such as sqlite:///hub.db") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise HubError(f"unsupported database {parsed.drivername!r}: use sqlite or postgresql")
    # render_as_string keeps a password in the URL; the URL is never logged or shown.
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    # WAL lets readers go on while an ingest commits; the busy timeout queues writers.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def engine(url: str) -> Engine:
    """A new engine for ``url`` (see :func:`normalise_url`); SQLite files use WAL."""
    made = sa.create_engine(normalise_url(url), pool_pre_ping=True)
    if made.dialect.name == "sqlite":
        sa.event.listen(made, "connect", _sqlite_pragmas)
    return made


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(url: str, *, revision: str = "head") -> None:
    """Bring the database at ``url`` to the newest schema (or to ``revision``, for tests of the
    migrations); a no-op when it is there already."""
    made = engine(url)
    try:
        with made.begin() as connection:
            command.upgrade(_config(connection), revision)
    finally:
        made.dispose()


def schema_head() -> str:
    """The newest schema's revision: the one ``upgrade`` brings a database to."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None  # the package ships its migrations
    return head


def check_schema(made: Engine) -> None:
    """Raise :class:`HubError` unless the database is at the newest schema."""
    with made.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    head = schema_head()
    if current != head:
        raise HubError(
            f"the hub's database is at schema {current or 'none'}, not {head}: "
            "'edgewise hub run' upgrades it"
        )


@contextmanager
def session(url: str) -> Iterator[Session]:
    """A session on the hub's database, for tests, benchmarks and tools; committed on success.

    >>> import tempfile, os
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "hub.db")
    >>> upgrade(url)
    >>> from edgewise.hub import Device
    >>> with session(url) as s:
    ...     s.scalars(sa.select(Device.name)).all()
    []
    """
    made = engine(url)
    try:
        with sessionmaker(made)() as opened, opened.begin():
            yield opened
    finally:
        made.dispose()


Db = str | Session
"""Where a store function works: a database URL (a transaction of its own) or an open session."""


@contextmanager
def within(db: Db) -> Iterator[Session]:
    """``db`` itself when it is a session (the caller commits), else a new one on the URL ``db``."""
    if isinstance(db, Session):
        yield db
    else:
        with session(db) as opened:
            yield opened
