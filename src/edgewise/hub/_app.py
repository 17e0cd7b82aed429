"""The hub's HTTP API: agents' ``POST /api/v1/ingest`` (``docs/protocol.md``), ``GET /healthz``,
the routers for people (``docs/hub.md``) and the web dashboard (``web/``, ``docs/dashboard.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from . import _routes_alerts, _routes_devices, _routes_people, _routes_releases
from ._alerts import AlertSettings, Folded, fold_events, triage_due
from ._auth import bearer_token, install, person
from ._db import check_schema, engine
from ._errors import HubError
from ._notify import Notifications
from ._protocol import PROTOCOL_VERSION, Batch, BatchError, BatchTooLarge, decode
from ._store import Agent, authenticate_in, ingest
from .alerts import WebhookNotifier
from .web import INBOX, LiveFeed, dashboard_router, listen, notifier

__all__ = ["DEFAULT_MAX_BATCH_BYTES", "DEFAULT_MAX_CONCURRENT", "create_app"]

DEFAULT_MAX_BATCH_BYTES = 4 << 20
"""The largest batch the hub accepts, decompressed: 4 MiB."""

DEFAULT_MAX_CONCURRENT = 8
"""Ingests handled at once; more are answered 503 with ``Retry-After``."""

log = logging.getLogger("edgewise.hub")


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _busy(message: str, retry_after_s: int) -> JSONResponse:
    return JSONResponse(
        {"error": message}, status_code=503, headers={"Retry-After": str(retry_after_s)}
    )


StoredHook = Callable[[Collection[str]], None]
"""Called after an ingest's commit with the devices its batch had records of, if any was new."""


def create_app(
    *,
    db_url: str,
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    retry_after_s: int = 1,
    alert_settings: AlertSettings | None = None,
    webhooks: Sequence[WebhookNotifier] = (),
    triage_every_s: float = 60.0,
    releases: Path | None = None,
) -> FastAPI:
    """The hub's API on the database at ``db_url``, which must be at the newest schema.

    >>> import tempfile, os
    >>> from edgewise.hub import upgrade
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "hub.db")
    >>> upgrade(url)
    >>> from edgewise.hub import routes
    >>> [r for r in routes(create_app(db_url=url)) if r[1] in ("/healthz", "/api/v1/ingest")]
    [('GET', '/healthz'), ('POST', '/api/v1/ingest')]

    ``app.state.on_stored`` is the list of :data:`StoredHook` the ingest calls after each commit:
    the dashboard's live feed on SQLite (one worker), a NOTIFY to every worker on PostgreSQL.

    Event records become alerts in the ingest's transaction (``docs/hub.md``, "Alerts"); triage
    also runs every ``triage_every_s`` seconds for alerts whose hold has passed, and escalations
    are POSTed to ``webhooks`` from a thread of their own.

    ``releases`` is the model repository whose metadata and targets agents fetch
    (``docs/releases.md``); without it those routes answer 404.
    """
    if max_batch_bytes < 1024:
        raise ValueError(f"max_batch_bytes must be at least 1024, got {max_batch_bytes}")
    if max_concurrent < 1:
        raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
    if triage_every_s <= 0:
        raise ValueError(f"triage_every_s must be positive, got {triage_every_s}")
    if releases is not None and not (releases / "metadata").is_dir():
        raise HubError(f"{releases} is not a model repository (edgewise model keys init)")
    settings = alert_settings or AlertSettings()
    notifications = Notifications(webhooks)
    made = engine(db_url)
    check_schema(made)
    sessions = sessionmaker(made)
    slots = asyncio.Semaphore(max_concurrent)
    feed = LiveFeed()
    across_workers = made.dialect.name == "postgresql"

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        feed.bind(asyncio.get_running_loop())
        notifications.start()
        tasks = [asyncio.create_task(triaging())]
        if across_workers:
            tasks.append(asyncio.create_task(listen(made, feed)))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        notifications.stop()
        made.dispose()

    # /openapi.json is served to signed-in people only, by _routes_people (docs/hub.md).
    app = FastAPI(
        title="edgewise hub", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    install(app, sessions)
    app.include_router(_routes_people.router)
    app.include_router(_routes_devices.router)
    app.include_router(_routes_alerts.router)
    app.include_router(_routes_releases.router)
    app.state.releases = releases
    on_stored: list[StoredHook] = [notifier(made) if across_workers else feed.on_stored]
    app.state.on_stored = on_stored
    app.state.alert_settings = settings
    app.state.notifications = notifications

    def woken(devices: Collection[str]) -> None:
        for hook in on_stored:
            try:
                hook(devices)
            except Exception:
                # The change is committed: its answer must not turn into a retry over a view.
                log.exception("a stored-records hook failed")

    def alerts_changed(folded: Folded | None = None) -> None:
        """After a commit: escalations to the webhooks, inbox pages woken."""
        if folded is not None:
            notifications.submit(folded.escalated)
        woken([INBOX])

    app.state.alerts_changed = alerts_changed

    def alerts_of(s: Session, batch: Batch) -> Folded:
        try:
            with s.begin_nested():
                return fold_events(s, batch.records, settings=settings, now=time.time())
        except Exception:
            # A fault in the alerts must not stop the fleet's records: they are stored anyway.
            log.exception("ingest: the batch's events were not folded into alerts")
            return Folded()

    def triage_tick() -> None:
        with sessions() as s, s.begin():
            folded = triage_due(s, settings=settings, now=time.time())
        if folded.decided:
            alerts_changed(folded)

    async def triaging() -> None:
        while True:
            await asyncio.sleep(triage_every_s)
            try:
                await run_in_threadpool(triage_tick)
            except Exception:
                log.exception("triage: the periodic run failed; next one in %s s", triage_every_s)

    app.include_router(
        dashboard_router(
            sessions=sessions,
            feed=feed,
            viewer=person("viewer"),
            page_viewer=person("viewer", page=True),
            page_operator=person("operator", page=True),
        )
    )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def authenticate(token: str) -> Agent | None:
        with sessions() as s:
            return authenticate_in(s, token)

    def store(agent: Agent, batch: Batch, devices: Collection[str]) -> dict[str, Any]:
        with sessions() as s, s.begin():
            stored, commands = ingest(
                s,
                agent,
                batch.records,
                batch.acked_commands,
                batch.refused_commands,
                readings=batch.readings,
            )
            folded = alerts_of(s, batch) if stored else Folded()
        # Only now, after the commit, may the agent forget what it sent, and pages show it.
        if stored:
            woken([*devices, INBOX] if folded.events else devices)
            notifications.submit(folded.escalated)
        return {
            "version": PROTOCOL_VERSION,
            "stored": stored,
            "duplicates": batch.size - stored,
            "commands": commands,
        }

    @app.post("/api/v1/ingest")
    async def ingest_batch(request: Request) -> JSONResponse:
        token = bearer_token(request)
        if token is None:
            return _error(401, "send 'Authorization: Bearer <token>'")
        if slots.locked():
            return _busy("the hub is busy; retry later", retry_after_s)
        async with slots:
            try:
                agent = await run_in_threadpool(authenticate, token)
            except OperationalError as error:
                log.warning("ingest: database unavailable (%s)", type(error.orig).__name__)
                return _busy("the hub's database is unavailable; retry later", retry_after_s)
            if agent is None:
                return _error(401, "unknown or revoked token")
            raw = bytearray()
            async for chunk in request.stream():
                raw += chunk
                if len(raw) > max_batch_bytes:
                    return _error(413, f"the batch is larger than {max_batch_bytes} bytes")
            try:
                batch = decode(
                    bytes(raw),
                    encoding=request.headers.get("content-encoding", ""),
                    max_bytes=max_batch_bytes,
                )
            except BatchTooLarge as error:
                return _error(413, str(error))
            except BatchError as error:
                # 422 names the records refused, so the agent can set them aside and send the
                # rest; 400 is a batch the agent cannot mend record by record.
                status = 422 if error.rejected else 400
                return _error(status, str(error), rejected=error.rejected)
            if batch.agent != agent.name:
                return _error(403, f"this token belongs to agent {agent.name!r}")
            devices = batch.devices
            foreign = sorted(devices - agent.covers)
            if foreign:
                return _error(403, f"this token does not cover device(s) {', '.join(foreign)}")
            try:
                answer = await run_in_threadpool(store, agent, batch, devices)
            except OperationalError as error:
                log.warning("ingest: database unavailable (%s)", type(error.orig).__name__)
                return _busy("the hub's database is unavailable; retry later", retry_after_s)
        log.debug(
            "ingest from %s: %d stored, %d duplicates",
            agent.name,
            answer["stored"],
            answer["duplicates"],
        )
        return JSONResponse(answer)

    return app
