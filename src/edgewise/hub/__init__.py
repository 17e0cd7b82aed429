"""The edgewise hub's receiving end: agents send batches of records, the hub stores each once.

``docs/protocol.md`` is the wire protocol; ``edgewise hub`` the command line. The database is
SQLite by default and PostgreSQL by URL, its schema made and evolved by the migrations shipped
in ``edgewise/hub/migrations`` (:func:`upgrade`).
"""

from __future__ import annotations

from ._app import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_CONCURRENT, create_app
from ._db import DEFAULT_DB_URL, session, upgrade
from ._errors import HubError
from ._models import Base, Command, Device, StoredRecord, Token, TokenDevice
from ._protocol import PROTOCOL_VERSION
from ._store import RecordKey, add_device, queue_command, revoke_device, stored_keys

__all__ = [
    "DEFAULT_DB_URL",
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_CONCURRENT",
    "PROTOCOL_VERSION",
    "Base",
    "Command",
    "Device",
    "HubError",
    "RecordKey",
    "StoredRecord",
    "Token",
    "TokenDevice",
    "add_device",
    "create_app",
    "queue_command",
    "revoke_device",
    "session",
    "stored_keys",
    "upgrade",
]
