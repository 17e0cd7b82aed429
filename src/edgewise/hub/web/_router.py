"""The dashboard's pages, chart data, live feed and static files, behind the hub's sign-in."""

# No `from __future__ import annotations`: FastAPI must see the local `Who` alias as an object.
import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from .._alerts import Folded, Move, accept_alert, alert_counts, list_alerts, move_alert
from .._auth import CSRF_FIELD
from .._errors import HubError
from ._feed import INBOX, LiveFeed
from ._queries import Cursor, device_exists, fleet, history, parse_cursor, stored

__all__ = ["SignedIn", "dashboard_router"]

_STATIC = Path(__file__).with_name("static").resolve()
_HISTORY_POINTS = 600
# A chart's range in seconds of device time, up to ten years; none: the newest readings.
Span = Annotated[float | None, Query(gt=0, le=10 * 366 * 86400)]
_KEEPALIVE_S = 15.0
_ACTIVE = ("open", "acknowledged", "escalated")


def _active(counts: dict[str, int]) -> int:
    """Alerts not closed yet, from :func:`alert_counts`."""
    return sum(counts.get(state, 0) for state in _ACTIVE)


_MOVES: dict[str, Move] = {m: m for m in ("acknowledge", "escalate", "close")}

# Scripts and styles only from the hub itself: no inline script, no CDN, no framing.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignedIn(Protocol):
    """The person signed in, as the dashboard sees them: a name, a role, a CSRF token."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def csrf(self) -> str: ...


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(seconds: float) -> str:
    """How long ago, in words.

    >>> _ago(5), _ago(125), _ago(7300), _ago(200000)
    ('5 s ago', '2 min ago', '2 h ago', '2 d ago')
    """
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{max(0, int(seconds))} s ago"


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=PackageLoader("edgewise.hub.web", "templates"),
        autoescape=select_autoescape(default=True),
    )
    env.globals["csrf_field"] = CSRF_FIELD
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    return Jinja2Templates(env=env)


def dashboard_router(
    *,
    sessions: sessionmaker[Session],
    feed: LiveFeed,
    viewer: Callable[..., Any],
    page_viewer: Callable[..., Any],
    page_operator: Callable[..., Any],
) -> APIRouter:
    """The dashboard on the hub's database: pages, ``/devices/{name}/history`` (chart data),
    ``/devices/{name}/live`` and ``/alerts/live`` (Server-Sent Events), the inbox's form
    (``POST /alerts/{id}``) and ``/static/*`` (public).

    ``viewer`` and ``page_viewer`` are FastAPI dependencies giving the person signed in with at
    least the viewer role (a :class:`SignedIn`); when nobody is, the first refuses with 401 and
    the second sends the browser to the sign-in page. ``page_operator`` is the second with the
    operator role. The inbox's actions use ``app.state.alert_settings`` and
    ``app.state.alerts_changed`` (set by ``create_app``).
    """
    templates = _templates()
    router = APIRouter(include_in_schema=False)
    Who = Annotated[SignedIn, Depends(viewer)]
    PageWho = Annotated[SignedIn, Depends(page_viewer)]
    PageOperator = Annotated[SignedIn, Depends(page_operator)]

    def page(request: Request, who: SignedIn, template: str, **context: Any) -> Response:
        return templates.TemplateResponse(
            request, template, {"who": who, "now": time.time(), **context}, headers=_HEADERS
        )

    def known(name: str) -> None:
        with sessions() as s:
            if not device_exists(s, name):
                raise HTTPException(404, f"no device named {name!r}")

    @router.get("/")
    def fleet_page(request: Request, who: PageWho) -> Response:
        with sessions() as s:
            devices = fleet(s)
            active = _active(alert_counts(s))
        now = time.time()
        states = [(d, d.health(now)) for d in devices]
        counts = Counter(state for _, state in states)
        return page(
            request, who, "fleet.html", devices=states, counts=counts, active=active, nav="fleet"
        )

    @router.get("/devices/{name}")
    def device_page(request: Request, name: str, who: PageWho) -> Response:
        known(name)
        return page(request, who, "device.html", device=name, nav="fleet")

    def inbox(request: Request, who: SignedIn, *, error: str = "", status: int = 200) -> Response:
        with sessions() as s:
            shown = list_alerts(s, states=_ACTIVE)
            closed = list_alerts(s, states=["closed"], limit=20)
            active = _active(alert_counts(s))
        response = page(
            request,
            who,
            "alerts.html",
            alerts=shown,
            active=active,
            closed=closed,
            error=error,
            nav="alerts",
        )
        response.status_code = status
        return response

    @router.get("/alerts")
    def alerts_page(request: Request, who: PageWho) -> Response:
        return inbox(request, who)

    @router.post("/alerts/{alert_id}")
    def alert_action(
        request: Request,
        alert_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)],
        who: PageOperator,
        action: Annotated[str, Form()],
        reason: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        settings = request.app.state.alert_settings
        escalated: tuple[Any, ...] = ()
        try:
            with sessions() as s, s.begin():
                move = _MOVES.get(action)
                if action == "accept":
                    accept_alert(s, alert_id, by=who.name, reason=reason, settings=settings)
                elif move is not None:
                    _, escalated = move_alert(
                        s, alert_id, move, by=who.name, reason=reason, settings=settings
                    )
                else:
                    raise HubError(f"unknown action {action!r}: {', '.join(_MOVES)} or accept")
        except HubError as error:
            return inbox(request, who, error=str(error), status=409)
        request.app.state.alerts_changed(Folded(escalated=escalated))
        return RedirectResponse(f"/alerts#alert-{alert_id}", status_code=303)

    @router.get("/alerts/live")
    async def alerts_live(_who: Who) -> Response:
        async def events() -> AsyncIterator[str]:
            with feed.subscribe(INBOX) as woken:
                yield "retry: 2000\n\n"
                while True:
                    try:
                        await asyncio.wait_for(woken.wait(), _KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    woken.clear()
                    yield "event: alerts\ndata: {}\n\n"

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/models")
    def models_page(request: Request, who: PageWho) -> Response:
        return page(request, who, "models.html", nav="models")

    @router.get("/devices/{name}/history")
    def device_history(name: str, _who: Who, span: Span = None) -> JSONResponse:
        known(name)
        with sessions() as s:
            points = history(s, name, points=_HISTORY_POINTS, span_s=span)
        return JSONResponse(points.to_json(), headers={"Cache-Control": "no-store"})

    def newer(name: str, after: Cursor) -> dict[str, Any]:
        with sessions() as s:
            return stored(s, name, after=after).to_json()

    @router.get("/devices/{name}/live")
    async def device_live(request: Request, name: str, _who: Who, after: str = "0.0") -> Response:
        await run_in_threadpool(known, name)
        # A reconnecting EventSource says what it saw last; a new page, what its history held.
        try:
            seen = parse_cursor(request.headers.get("last-event-id") or after)
        except ValueError as error:
            raise HTTPException(422, str(error)) from None

        async def events() -> AsyncIterator[str]:
            nonlocal seen
            with feed.subscribe(name) as woken:
                yield "retry: 2000\n\n"
                woken.set()  # first, whatever was stored since `seen`
                while True:
                    try:
                        await asyncio.wait_for(woken.wait(), _KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    woken.clear()
                    points = await run_in_threadpool(newer, name, seen)
                    cursor = points["cursor"]
                    if parse_cursor(cursor) != seen:
                        seen = parse_cursor(cursor)
                        yield f"id: {cursor}\nevent: points\ndata: {json.dumps(points)}\n\n"

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/static/{path:path}")
    def static(path: str) -> FileResponse:
        file = (_STATIC / path).resolve()
        if not file.is_relative_to(_STATIC) or not file.is_file():
            raise HTTPException(404, "no such file")
        return FileResponse(
            file,
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    return router
