"""Alembic's entry point for the hub: runs on the connection ``edgewise.hub.upgrade`` passes."""

from __future__ import annotations

from alembic import context

from edgewise.hub._models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the hub's migrations run through edgewise.hub.upgrade(url)")
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
