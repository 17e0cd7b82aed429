"""The hub's web dashboard: fleet overview, device pages with live charts, alerts, models.

``dashboard_router`` serves it behind the hub's sign-in; ``LiveFeed`` wakes the pages watching a
device when the ingest path has committed records of it, within one worker, and
``listen``/``notifier`` across workers through PostgreSQL LISTEN/NOTIFY (``docs/dashboard.md``).
"""

from __future__ import annotations

from ._feed import INBOX, LiveFeed
from ._pg import CHANNEL, listen, notifier, payloads
from ._queries import STALE_AFTER_S
from ._router import SignedIn, dashboard_router

__all__ = [
    "CHANNEL",
    "INBOX",
    "STALE_AFTER_S",
    "LiveFeed",
    "SignedIn",
    "dashboard_router",
    "listen",
    "notifier",
    "payloads",
]
