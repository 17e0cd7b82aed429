"""People: accounts with argon2 password hashes and roles, sign-in with a rate limit, sessions.

Like ``_devices``, each function takes a database URL or an open session; changes are audited.
"""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from typing import Any, Literal, get_args

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from ._audit import audit, count_since
from ._db import Db, within
from ._devices import LOCAL_ACTOR
from ._errors import ConflictError, HubError, NotFoundError
from ._models import LoginSession, User
from ._secrets import digest, new_secret

__all__ = [
    "LOGIN_LIMIT",
    "LOGIN_WINDOW_S",
    "MIN_PASSWORD",
    "ROLES",
    "SESSION_S",
    "Person",
    "Role",
    "SignIn",
    "add_user",
    "csrf_token",
    "disable_user",
    "end_session",
    "list_users",
    "person_of",
    "sign_in",
]

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
"""The roles, each allowed what the ones before it are: viewer < operator < admin."""

MIN_PASSWORD = 12
"""The shortest password accepted."""

_MAX_PASSWORD = 1024  # argon2 hashes anything; a cap keeps a huge form field cheap to refuse
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")

LOGIN_LIMIT = 5
"""Failed sign-ins allowed per name in :data:`LOGIN_WINDOW_S`; more are refused unchecked."""

LOGIN_WINDOW_S = 900

SESSION_S = 12 * 3600
"""How long a session lasts after sign-in."""

_hasher = PasswordHasher()
# Verified when the name is unknown, so a wrong name costs as long as a wrong password.
_DECOY = _hasher.hash(new_secret())


@dataclass(frozen=True, slots=True)
class Person:
    """A signed-in person; ``csrf`` is the token their unsafe requests must carry."""

    name: str
    role: Role
    csrf: str

    def may(self, role: Role) -> bool:
        """Whether this person's role is ``role`` or above.

        >>> Person("ann", "operator", "").may("viewer"), Person("ann", "operator", "").may("admin")
        (True, False)
        """
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True, slots=True)
class SignIn:
    """A sign-in's outcome: a session cookie, or why not (``retry_after_s`` when throttled)."""

    cookie: str | None
    retry_after_s: int = 0


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise HubError(
            f"a person's name is 1 to 64 letters, digits and . _ @ - (starting with a letter "
            f"or digit), not {name!r}"
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise HubError(f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > _MAX_PASSWORD:
        raise HubError(f"a password has at most {_MAX_PASSWORD} characters")


def _role(role: str) -> Role:
    for each in ROLES:
        if role == each:
            return each
    raise HubError(f"unknown role {role!r}: {', '.join(ROLES)}")


def _user(s: Session, name: str) -> User | None:
    if not _NAME.fullmatch(name):  # never stored (and may hold a NUL PostgreSQL refuses)
        return None
    return s.scalars(sa.select(User).where(User.name == name)).one_or_none()


def add_user(db: Db, name: str, *, role: str, password: str, actor: str = LOCAL_ACTOR) -> None:
    """Add a person with ``role``; the password is kept as its argon2 hash only.

    >>> import tempfile, os
    >>> from edgewise.hub import upgrade
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "hub.db")
    >>> upgrade(url)
    >>> add_user(url, "ann", role="admin", password="correct horse battery")
    >>> [(u["name"], u["role"], u["status"]) for u in list_users(url)]
    [('ann', 'admin', 'active')]
    >>> add_user(url, "bob", role="viewer", password="short")
    Traceback (most recent call last):
    edgewise.hub._errors.HubError: a password has at least 12 characters
    """
    _check_name(name)
    checked = _role(role)
    _check_password(password)
    with within(db) as s:
        if _user(s, name) is not None:
            raise ConflictError(f"a person named {name!r} exists already")
        hashed = _hasher.hash(password)
        s.add(User(name=name, password_hash=hashed, role=checked, created=time.time()))
        audit(s, actor=actor, action="user.add", target=name, detail={"role": checked})


def disable_user(db: Db, name: str, *, actor: str = LOCAL_ACTOR) -> None:
    """Disable a person and end their sessions; the last active admin cannot be disabled."""
    with within(db) as s:
        user = _user(s, name)
        if user is None:
            raise NotFoundError(f"no person named {name!r}")
        if user.role == "admin" and user.disabled is None:
            admins = s.scalar(
                sa.select(sa.func.count())
                .select_from(User)
                .where(User.role == "admin", User.disabled.is_(None))
            )
            if admins == 1:
                raise ConflictError(f"{name!r} is the last active admin: add another first")
        user.disabled = user.disabled or time.time()
        s.execute(sa.delete(LoginSession).where(LoginSession.user_id == user.id))
        audit(s, actor=actor, action="user.disable", target=name)


def list_users(db: Db) -> list[dict[str, Any]]:
    """Every person: name, role, created, status (active or disabled)."""
    with within(db) as s:
        return [
            {
                "name": u.name,
                "role": u.role,
                "created": u.created,
                "status": "active" if u.disabled is None else "disabled",
            }
            for u in s.scalars(sa.select(User).order_by(User.name))
        ]


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def sign_in(db: Db, name: str, password: str, *, now: float | None = None) -> SignIn:
    """Check a name and password; a new session cookie if they match an active person.

    Every failure is audited, and after :data:`LOGIN_LIMIT` failures for a name in
    :data:`LOGIN_WINDOW_S` seconds that name is refused without checking until the window
    passes. A failure never says whether the name exists.
    """
    now = time.time() if now is None else now
    with within(db) as s:
        failures = count_since(s, action="login.failed", target=name, since=now - LOGIN_WINDOW_S)
        if failures >= LOGIN_LIMIT:
            audit(s, actor=name, action="login.throttled", target=name, at=now)
            return SignIn(None, retry_after_s=LOGIN_WINDOW_S)
        user = _user(s, name)
        matched = _verify(_DECOY if user is None else user.password_hash, password)
        if user is None or not matched or user.disabled is not None:
            audit(s, actor=name, action="login.failed", target=name, at=now)
            return SignIn(None)
        # Sessions that ran out are dropped as their owner signs in again.
        s.execute(
            sa.delete(LoginSession).where(
                LoginSession.user_id == user.id, LoginSession.expires <= now
            )
        )
        cookie = new_secret()
        s.add(
            LoginSession(
                user_id=user.id, sha256=digest(cookie), created=now, expires=now + SESSION_S
            )
        )
        audit(s, actor=name, action="login", target=name, at=now)
        return SignIn(cookie)


def csrf_token(cookie: str) -> str:
    """The CSRF token of the session ``cookie``: derived from it, so only its holder knows it."""
    return hmac.new(cookie.encode(), b"edgewise csrf", "sha256").hexdigest()


def person_of(db: Db, cookie: str, *, now: float | None = None) -> Person | None:
    """The active person whose unexpired session ``cookie`` is, else None."""
    now = time.time() if now is None else now
    with within(db) as s:
        user = s.scalars(
            sa.select(User)
            .join(LoginSession, LoginSession.user_id == User.id)
            .where(
                LoginSession.sha256 == digest(cookie),
                LoginSession.expires > now,
                User.disabled.is_(None),
            )
        ).one_or_none()
        if user is None:
            return None
        return Person(user.name, _role(user.role), csrf_token(cookie))


def end_session(db: Db, cookie: str) -> None:
    """Sign out: the session ``cookie`` no longer authenticates anyone."""
    with within(db) as s:
        hashed = digest(cookie)
        name = s.scalar(
            sa.select(User.name)
            .join(LoginSession, LoginSession.user_id == User.id)
            .where(LoginSession.sha256 == hashed)
        )
        if name is not None:
            s.execute(sa.delete(LoginSession).where(LoginSession.sha256 == hashed))
            audit(s, actor=name, action="logout", target=name)
