"""Who is calling: FastAPI dependencies for people (session cookie + CSRF) and agents (token).

A route states who may call it in its signature, and nothing else is needed::

    @router.post("/api/v1/things")
    def add_thing(who: Admin) -> ...: ...

Every route not in :data:`PUBLIC_ROUTES` must take one of these (a test walks every route).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import APIKeyCookie
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from ._errors import ConflictError, HubError, NotFoundError
from ._people import Person, Role, person_of
from ._store import Agent, authenticate_in

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "PUBLIC_ROUTES",
    "SESSION_COOKIE",
    "Admin",
    "Operator",
    "Page",
    "Refused",
    "Viewer",
    "agent",
    "bearer_token",
    "install",
    "person",
    "routes",
    "transaction",
]

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/login"),
        ("POST", "/login"),
        # The dashboard's stylesheet, scripts and icon, shipped with the package (the sign-in
        # page wears them too).
        ("GET", "/static/{path:path}"),
    }
)
"""(method, path) of the only routes that answer without a session or token (docs/hub.md)."""

SESSION_COOKIE = "edgewise_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
"""The form field a web form carries the CSRF token in (scripts send :data:`CSRF_HEADER`)."""

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
# Declared so that the OpenAPI description says how people authenticate; refusals are ours.
_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description=f"Set by POST /login; unsafe methods also send {CSRF_HEADER} (GET /api/v1/me).",
    auto_error=False,
)
_STATUS: dict[type[HubError], int] = {NotFoundError: 404, ConflictError: 409}


class Refused(Exception):
    """A request refused: answered ``{"error": message}``, or by a redirect to the sign-in page."""

    def __init__(
        self, status: int, message: str, *, challenge: str = "", to_login: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.challenge = challenge
        self.to_login = to_login


def install(app: FastAPI, sessions: sessionmaker[Session]) -> None:
    """Give ``app`` the database the dependencies use and its answers to refusals and errors."""
    app.state.sessions = sessions
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(HubError, _hub_error)


def _refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, Refused)
    if error.to_login:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)
    headers = {"WWW-Authenticate": error.challenge} if error.status == 401 else None
    return JSONResponse({"error": str(error)}, status_code=error.status, headers=headers)


def _hub_error(_request: Request, error: Exception) -> Response:
    status = next((s for kind, s in _STATUS.items() if isinstance(error, kind)), 400)
    return JSONResponse({"error": str(error)}, status_code=status)


@contextmanager
def transaction(request: Request) -> Iterator[Session]:
    """A session on the app's database in a transaction, committed when the block succeeds."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as s, s.begin():
        yield s


def _signed_in(request: Request, cookie: str) -> Person | None:
    with transaction(request) as s:
        return person_of(s, cookie)


async def _csrf(request: Request) -> str:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        # Parsed once: the route's own form fields read the same parsed form.
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    return sent or ""


def person(
    role: Role = "viewer", *, page: bool = False
) -> Callable[[Request, str | None], Awaitable[Person]]:
    """A dependency: the signed-in person, if their role is ``role`` or above.

    Unsafe methods must carry the session's CSRF token too. Refusals are 401 (no session),
    403 (lower role, no CSRF token); ``page`` routes send 303 to the sign-in page instead of 401.
    """

    async def signed_in(
        request: Request, cookie: Annotated[str | None, Depends(_session_cookie)]
    ) -> Person:
        found = None if not cookie else await run_in_threadpool(_signed_in, request, cookie)
        if found is None:
            raise Refused(
                401,
                "sign in first (POST /login)",
                challenge=f'Cookie realm="edgewise hub", cookie-name="{SESSION_COOKIE}"',
                to_login=page,
            )
        if request.method not in _SAFE and not hmac.compare_digest(
            (await _csrf(request)).encode(), found.csrf.encode()
        ):
            raise Refused(
                403, f"send the session's CSRF token in {CSRF_HEADER} (GET /api/v1/me has it)"
            )
        if not found.may(role):
            raise Refused(403, f"this needs the {role} role; {found.name} is {found.role}")
        return found

    return signed_in


Viewer = Annotated[Person, Depends(person("viewer"))]
Operator = Annotated[Person, Depends(person("operator"))]
Admin = Annotated[Person, Depends(person("admin"))]
Page = Annotated[Person, Depends(person("viewer", page=True))]
"""A person on an HTML page: no session sends the browser to the sign-in page."""


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _authenticate(request: Request, token: str) -> Agent | None:
    with transaction(request) as s:
        return authenticate_in(s, token)


async def agent(request: Request) -> Agent:
    """A dependency: the agent whose token the request carries (401 if none or revoked).

    Routes check what the agent sends against ``Agent.covers`` (403 for another device).
    """
    token = bearer_token(request)
    if token is None:
        raise Refused(401, "send 'Authorization: Bearer <token>'", challenge="Bearer")
    found = await run_in_threadpool(_authenticate, request, token)
    if found is None:
        raise Refused(401, "unknown or revoked token", challenge="Bearer")
    return found


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) ``app`` answers, included routers' routes too, sorted.

    Tests walk it to check that each route but :data:`PUBLIC_ROUTES` refuses strangers.
    """
    found: set[tuple[str, str]] = set()
    pending: list[Any] = list(app.routes)
    while pending:
        route = pending.pop()
        # FastAPI keeps an included router as one lazy entry whose routes it builds on demand.
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            pending.extend(contexts())
            continue
        path = getattr(route, "path", "")
        methods = getattr(getattr(route, "original_route", route), "methods", None) or ()
        found.update((method, path) for method in methods if method != "HEAD")
    return sorted(found)
