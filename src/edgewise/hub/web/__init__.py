"""The hub's web dashboard: fleet overview, device pages with live charts, alerts, models.

``dashboard_router`` serves it behind the hub's sign-in; ``LiveFeed`` carries the records the
ingest path has just committed to the pages watching their device, within one worker, and
``listen``/``notifier`` across workers through PostgreSQL LISTEN/NOTIFY (``docs/dashboard.md``).
"""

from __future__ import annotations

from ._feed import LiveFeed, Stored, id_ranges
from ._pg import CHANNEL, listen, notifier
from ._queries import STALE_AFTER_S
from ._router import SignedIn, dashboard_router

__all__ = [
    "CHANNEL",
    "STALE_AFTER_S",
    "LiveFeed",
    "SignedIn",
    "Stored",
    "dashboard_router",
    "id_ranges",
    "listen",
    "notifier",
]
