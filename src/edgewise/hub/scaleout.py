"""Ingestion that scales out: devices publishing MQTT, through NATS JetStream, to N workers.

``edgewise hub bridge`` runs :func:`run_bridge` (MQTT into JetStream), ``edgewise hub consume``
runs :func:`run_worker` (JetStream into the database), as many as the load needs. Kept apart
from :mod:`edgewise.hub` so the HTTP hub loads neither NATS nor the agent's MQTT client;
``docs/scaling.md`` says how the parts fit.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._bridge import DEVICE_TOPICS, MAX_PAYLOAD_BYTES, BridgeSettings, parse_reading, run_bridge
from ._consumer import WorkerSettings, run_worker
from ._jetstream import (
    CONSUMER,
    DEAD_STREAM,
    DEAD_SUBJECT,
    RECORDS_STREAM,
    RECORDS_SUBJECT,
    read_dead_letters,
)
from ._nats import check_nats_url, connect

__all__ = [
    "CONSUMER",
    "DEAD_STREAM",
    "DEAD_SUBJECT",
    "DEVICE_TOPICS",
    "MAX_PAYLOAD_BYTES",
    "RECORDS_STREAM",
    "RECORDS_SUBJECT",
    "BridgeSettings",
    "WorkerSettings",
    "check_nats_url",
    "dead_letters",
    "parse_reading",
    "run_bridge",
    "run_worker",
]


def dead_letters(nats_url: str, *, creds: str | None = None, last: int = 100) -> list[Any]:
    """The newest ``last`` dead letters (``{..., "reason": ..., "at": ...}``), oldest first."""

    async def main() -> list[Any]:
        nc = await connect(nats_url, creds=creds, name="edgewise-dead-letters")
        try:
            return await read_dead_letters(nc.jetstream(), last=last)
        finally:
            await nc.close()

    return asyncio.run(main())
