"""The hub's errors.

HubError            a configuration or database state the hub cannot work with
"""

from __future__ import annotations

__all__ = ["HubError"]


class HubError(Exception):
    """A configuration or database state the hub cannot work with; the message says what to do."""
