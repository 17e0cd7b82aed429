"""The edgewise hub's receiving end: agents send batches of records, the hub stores each once.

``docs/protocol.md`` is the wire protocol; ``docs/hub.md`` people, devices, roles and the
routes; ``edgewise hub`` the command line. The database is
SQLite by default and PostgreSQL by URL, its schema made and evolved by the migrations shipped
in ``edgewise/hub/migrations`` (:func:`upgrade`).
"""

from __future__ import annotations

from ._app import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_CONCURRENT, create_app
from ._audit import audit_entries
from ._auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    PUBLIC_ROUTES,
    SESSION_COOKIE,
    Admin,
    Operator,
    Page,
    Viewer,
    agent,
    person,
    routes,
    transaction,
)
from ._db import DEFAULT_DB_URL, Db, session, upgrade
from ._devices import (
    add_device,
    decommission_device,
    list_devices,
    queue_command,
    revoke_device,
    rotate_device,
)
from ._errors import ConflictError, HubError, NotFoundError
from ._models import (
    AuditEntry,
    Base,
    Command,
    Device,
    LoginSession,
    StoredRecord,
    Token,
    TokenDevice,
    User,
)
from ._people import (
    LOGIN_LIMIT,
    LOGIN_WINDOW_S,
    MIN_PASSWORD,
    ROLES,
    SESSION_S,
    Person,
    Role,
    SignIn,
    add_user,
    disable_user,
    list_users,
    person_of,
    sign_in,
)
from ._protocol import PROTOCOL_VERSION
from ._store import Agent, RecordKey, stored_keys

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "DEFAULT_DB_URL",
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_CONCURRENT",
    "LOGIN_LIMIT",
    "LOGIN_WINDOW_S",
    "MIN_PASSWORD",
    "PROTOCOL_VERSION",
    "PUBLIC_ROUTES",
    "ROLES",
    "SESSION_COOKIE",
    "SESSION_S",
    "Admin",
    "Agent",
    "AuditEntry",
    "Base",
    "Command",
    "ConflictError",
    "Db",
    "Device",
    "HubError",
    "LoginSession",
    "NotFoundError",
    "Operator",
    "Page",
    "Person",
    "RecordKey",
    "Role",
    "SignIn",
    "StoredRecord",
    "Token",
    "TokenDevice",
    "User",
    "Viewer",
    "add_device",
    "add_user",
    "agent",
    "audit_entries",
    "create_app",
    "decommission_device",
    "disable_user",
    "list_devices",
    "list_users",
    "person",
    "person_of",
    "queue_command",
    "revoke_device",
    "rotate_device",
    "routes",
    "session",
    "sign_in",
    "stored_keys",
    "transaction",
    "upgrade",
]
