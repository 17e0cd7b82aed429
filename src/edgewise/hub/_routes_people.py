"""People's routes: the sign-in page, sign-in and sign-out, who am I, people, the audit log.

The HTML here is minimal on purpose (labelled fields, no script): the dashboard styles it.
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from ._audit import audit_entries
from ._auth import SESSION_COOKIE, Admin, Refused, Viewer, transaction
from ._people import (
    MIN_PASSWORD,
    SESSION_S,
    Role,
    add_user,
    disable_user,
    end_session,
    list_users,
    sign_in,
)

__all__ = ["router"]

router = APIRouter()

# No script, no frames, forms only back to the hub; the dashboard's stylesheet and icon.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def _page(title: str, body: str, *, status: int = 200, **headers: str) -> HTMLResponse:
    html = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{escape(title)} · edgewise hub</title>"
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/static/dashboard.css"></head>'
        f'<body class="plain"><main><h1>{escape(title)}</h1>{body}</main></body></html>\n'
    )
    return HTMLResponse(html, status_code=status, headers={**_PAGE_HEADERS, **headers})


def _local(target: str) -> str:
    """``target`` if it is a path on this hub, else ``/`` (no open redirect).

    >>> _local("/devices?x=1"), _local("//evil.example/"), _local("https://evil.example/")
    ('/devices?x=1', '/', '/')
    """
    ok = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if ok else "/"


def _login_page(next_: str, *, message: str = "", status: int = 200, **headers: str) -> Response:
    alert = f'<p role="alert">{escape(message)}</p>' if message else ""
    form = (
        f'{alert}<form method="post" action="/login">'
        '<p><label for="name">Name</label> '
        '<input id="name" name="name" autocomplete="username" required></p>'
        '<p><label for="password">Password</label> '
        '<input id="password" name="password" type="password" '
        'autocomplete="current-password" required></p>'
        f'<input type="hidden" name="next" value="{escape(_local(next_))}">'
        '<p><button type="submit">Sign in</button></p></form>'
    )
    return _page("Sign in", form, status=status, **headers)


@router.get("/login", response_class=HTMLResponse, tags=["people"])
def login_page(next: str = "/") -> Response:
    """The sign-in form."""
    return _login_page(next)


def _same_origin(request: Request) -> bool:
    # A sign-in needs no CSRF token (there is no session yet), but another site's page must
    # not sign a browser in: browsers send Origin on every cross-site form post.
    origin = request.headers.get("origin")
    return origin is None or origin.partition("://")[2] == request.url.netloc


@router.post("/login", response_class=HTMLResponse, tags=["people"])
def login(
    request: Request,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Sign in: a session cookie (HttpOnly, SameSite=Strict, Secure over TLS) and 303 to ``next``.

    A wrong name or password is 401; too many failures for a name are 429 with Retry-After.
    """
    if not _same_origin(request):
        raise Refused(403, "sign in from the hub's own page")
    with transaction(request) as s:
        outcome = sign_in(s, name, password)
    if outcome.retry_after_s:
        message = "Too many failed sign-ins for this name: try again later."
        retry = str(outcome.retry_after_s)
        return _login_page(next, message=message, status=429, **{"Retry-After": retry})
    if outcome.cookie is None:
        return _login_page(next, message="Wrong name or password.", status=401)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        outcome.cookie,
        max_age=SESSION_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", tags=["people"])
def logout(request: Request, _who: Viewer) -> Response:
    """Sign out: the session ends, its cookie is cleared, 303 to the sign-in page."""
    with transaction(request) as s:
        end_session(s, request.cookies[SESSION_COOKIE])
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


class Me(BaseModel):
    name: str
    role: Role
    csrf_token: str = Field(description="Send it as X-CSRF-Token on POST, PUT, PATCH, DELETE.")


@router.get("/api/v1/me", tags=["people"])
def me(who: Viewer) -> Me:
    """Who is signed in, their role, and the CSRF token their unsafe requests carry."""
    return Me(name=who.name, role=who.role, csrf_token=who.csrf)


class UserOut(BaseModel):
    name: str
    role: Role
    created: float
    status: str


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: Role
    password: str = Field(min_length=MIN_PASSWORD, max_length=1024)


@router.get("/api/v1/users", tags=["people"])
def users(request: Request, _who: Admin) -> list[UserOut]:
    """Every person and their role."""
    with transaction(request) as s:
        return [UserOut.model_validate(u) for u in list_users(s)]


@router.post("/api/v1/users", status_code=201, tags=["people"])
def user_add(request: Request, new: NewUser, who: Admin) -> UserOut:
    """Add a person."""
    with transaction(request) as s:
        add_user(s, new.name, role=new.role, password=new.password, actor=who.name)
        added = next(u for u in list_users(s) if u["name"] == new.name)
    return UserOut.model_validate(added)


@router.post("/api/v1/users/{name}/disable", tags=["people"])
def user_disable(request: Request, name: str, who: Admin) -> dict[str, str]:
    """Disable a person and end their sessions (not the last active admin)."""
    with transaction(request) as s:
        disable_user(s, name, actor=who.name)
    return {"name": name, "status": "disabled"}


class AuditOut(BaseModel):
    id: int
    at: float
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


@router.get("/api/v1/audit", tags=["people"])
def audit_log(
    request: Request,
    _who: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, description="Entries older than this id.")] = None,
) -> list[AuditOut]:
    """The newest audit entries, newest first; page back with ``before``."""
    with transaction(request) as s:
        return [AuditOut.model_validate(e) for e in audit_entries(s, limit=limit, before=before)]


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, _who: Viewer) -> JSONResponse:
    """The API's OpenAPI description, for signed-in people (docs/hub.md says why)."""
    return JSONResponse(request.app.openapi())
