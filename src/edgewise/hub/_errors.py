"""The hub's errors.

HubError            a configuration, request or database state the hub cannot work with
├── NotFoundError   no device or person of that name (HTTP 404)
└── ConflictError   the name is taken, or the device or person is retired (HTTP 409)
"""

from __future__ import annotations

__all__ = ["ConflictError", "HubError", "NotFoundError"]


class HubError(Exception):
    """A configuration or database state the hub cannot work with; the message says what to do."""


class NotFoundError(HubError):
    """No device or person of the name given."""


class ConflictError(HubError):
    """The change conflicts with what the hub holds: a name taken, a device revoked."""
