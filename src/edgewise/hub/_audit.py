"""The audit log: every change to people, devices and commands, every sign-in, who and when."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ._db import Db, within
from ._models import AuditEntry
from ._text import printable

__all__ = ["audit", "audit_entries", "count_since"]


def audit(
    s: Session,
    *,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
    at: float | None = None,
) -> None:
    """Add an entry in the caller's transaction: it is kept exactly when the change is.

    ``detail`` never holds a password or a token; ``at`` is now unless given.
    """
    s.add(
        AuditEntry(
            at=time.time() if at is None else at,
            actor=_column(actor),
            action=action,
            target=_column(target),
            detail=detail or {},
        )
    )


def _column(text: str) -> str:
    # A name typed at the sign-in form may be anything: keep what the column and database take.
    return printable(text[:200])


def count_since(s: Session, *, action: str, target: str, since: float) -> int:
    """How many ``action`` entries ``target`` has had since ``since`` (epoch seconds)."""
    return (
        s.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == action,
                AuditEntry.target == _column(target),
                AuditEntry.at >= since,
            )
        )
        or 0
    )


def audit_entries(db: Db, *, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` entries (older than entry id ``before``), newest first.

    >>> import tempfile, os
    >>> from edgewise.hub import add_device, upgrade
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "hub.db")
    >>> upgrade(url)
    >>> _ = add_device(url, "press-7", actor="alice")
    >>> [(e["actor"], e["action"], e["target"]) for e in audit_entries(url)]
    [('alice', 'device.add', 'press-7')]
    """
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    with within(db) as s:
        return [
            {
                "id": e.id,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "detail": e.detail,
            }
            for e in s.scalars(query)
        ]
