"""The device registry: provisioning, token rotation, revocation, decommissioning, commands.

Each function takes a database URL (its own transaction) or an open session (the caller's), so
the command line and the HTTP API share it; each change is audited in the same transaction.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ._audit import audit
from ._db import Db, within
from ._errors import ConflictError, HubError, NotFoundError
from ._models import Command, Device, Token, TokenDevice
from ._secrets import digest, new_secret
from ._text import has_control

__all__ = [
    "LOCAL_ACTOR",
    "add_device",
    "decommission_device",
    "list_devices",
    "queue_command",
    "revoke_device",
    "rotate_device",
]

LOCAL_ACTOR = "local"
"""Who a change is audited as when the caller names no one: code with the database's URL."""


def _device(s: Session, name: str) -> Device | None:
    if has_control(name):  # never stored, and PostgreSQL refuses NUL even in a query
        return None
    return s.scalars(sa.select(Device).where(Device.name == name)).one_or_none()


def _existing(s: Session, name: str) -> Device:
    device = _device(s, name)
    if device is None:
        raise NotFoundError(f"no device named {name!r}")
    return device


def _active(s: Session, name: str) -> Device:
    device = _existing(s, name)
    if device.revoked is not None:
        raise ConflictError(f"device {name!r} is revoked")
    return device


def _signing_key(key: str) -> str:
    """``key`` as canonical base64 if it is a raw Ed25519 public key (32 bytes)."""
    try:
        raw = base64.b64decode(key.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise HubError("the signing key is not base64") from None
    if len(raw) != 32:
        raise HubError(f"an Ed25519 public key has 32 bytes, this one {len(raw)}")
    return base64.b64encode(raw).decode()


def _issue(s: Session, owner: Device, covered: Sequence[Device], now: float) -> str:
    token = new_secret()
    made = Token(device_id=owner.id, sha256=digest(token), created=now)
    s.add(made)
    s.flush()
    s.add_all(TokenDevice(token_id=made.id, device_id=d.id) for d in covered)
    return token


def _revoke_tokens(s: Session, device: Device, now: float) -> None:
    s.execute(
        sa.update(Token)
        .where(Token.device_id == device.id, Token.revoked.is_(None))
        .values(revoked=now)
    )


def add_device(
    db: Db,
    name: str,
    *,
    covers: Sequence[str] = (),
    signing_key: str | None = None,
    actor: str = LOCAL_ACTOR,
) -> str:
    """Add an agent's device and return its new token, the only time it is shown.

    The token covers ``name`` and every device in ``covers`` (devices the agent fronts);
    ``signing_key`` is the device's Ed25519 public key in base64, kept for attestation.

    >>> import tempfile, os
    >>> from edgewise.hub import upgrade
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "hub.db")
    >>> upgrade(url)
    >>> token = add_device(url, "press-7", covers=["plc-1"])
    >>> len(token)  # 256 random bits, URL-safe base64
    43
    """
    names = list(dict.fromkeys([name, *covers]))
    for each in names:
        if not each or len(each) > 200:
            raise HubError(f"a device name has 1 to 200 characters, not {len(each)}")
        if has_control(each):
            raise HubError(f"a device name has no control characters: {each!r}")
    key = None if signing_key is None else _signing_key(signing_key)
    now = time.time()
    with within(db) as s:
        if _device(s, name) is not None:
            raise ConflictError(f"device {name!r} exists already")
        devices = []
        for each in names:
            device = _device(s, each)
            if device is None:
                device = Device(name=each, created=now)
                s.add(device)
            elif device.revoked is not None:
                raise ConflictError(f"device {each!r} is revoked")
            devices.append(device)
        devices[0].signing_key = key
        s.flush()
        token = _issue(s, devices[0], devices, now)
        detail = {"covers": names[1:], "signing_key": key is not None}
        audit(s, actor=actor, action="device.add", target=name, detail=detail)
    return token


def rotate_device(db: Db, name: str, *, actor: str = LOCAL_ACTOR) -> str:
    """A new token for device ``name``, covering what its old one did; the old one is revoked."""
    now = time.time()
    with within(db) as s:
        device = _active(s, name)
        covered = s.scalars(
            sa.select(Device)
            .join(TokenDevice, TokenDevice.device_id == Device.id)
            .join(Token, Token.id == TokenDevice.token_id)
            .where(Token.device_id == device.id, Token.revoked.is_(None))
            .distinct()
        ).all()
        if not covered:
            raise ConflictError(
                f"device {name!r} has no token of its own: rotate the agent that fronts it"
            )
        _revoke_tokens(s, device, now)
        # The owner first, as add_device made it; then what it fronts.
        ordered = [device, *sorted((d for d in covered if d.id != device.id), key=_name)]
        token = _issue(s, device, ordered, now)
        audit(s, actor=actor, action="device.rotate", target=name)
    return token


def _name(device: Device) -> str:
    return device.name


def revoke_device(db: Db, name: str, *, actor: str = LOCAL_ACTOR) -> None:
    """Revoke a device and every token it owns: its agent gets 401, its records 403."""
    _retire(db, name, action="device.revoke", actor=actor)


def decommission_device(db: Db, name: str, *, actor: str = LOCAL_ACTOR) -> None:
    """Retire a device for good: revoked, marked decommissioned; its stored records are kept."""
    _retire(db, name, action="device.decommission", actor=actor)


def _retire(db: Db, name: str, *, action: str, actor: str) -> None:
    now = time.time()
    with within(db) as s:
        device = _existing(s, name)
        device.revoked = device.revoked or now
        if action == "device.decommission":
            device.decommissioned = device.decommissioned or now
        _revoke_tokens(s, device, now)
        audit(s, actor=actor, action=action, target=name)


def list_devices(db: Db) -> list[dict[str, Any]]:
    """Every device: name, status (active, revoked, decommissioned), created, what it covers.

    >>> import tempfile, os
    >>> from edgewise.hub import upgrade
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "hub.db")
    >>> upgrade(url)
    >>> _ = add_device(url, "press-7", covers=["plc-1"])
    >>> [(d["name"], d["status"], d["covers"]) for d in list_devices(url)]
    [('plc-1', 'active', []), ('press-7', 'active', ['plc-1', 'press-7'])]
    """
    with within(db) as s:
        covers: dict[int, set[str]] = {}
        rows = s.execute(
            sa.select(Token.device_id, Device.name)
            .join(TokenDevice, TokenDevice.token_id == Token.id)
            .join(Device, Device.id == TokenDevice.device_id)
            .where(Token.revoked.is_(None))
        )
        for owner, covered in rows:
            covers.setdefault(owner, set()).add(covered)
        return [
            {
                "name": d.name,
                "status": _status(d),
                "created": d.created,
                "covers": sorted(covers.get(d.id, ())),
                "signing_key": d.signing_key,
            }
            for d in s.scalars(sa.select(Device).order_by(Device.name))
        ]


def _status(device: Device) -> str:
    if device.decommissioned is not None:
        return "decommissioned"
    return "active" if device.revoked is None else "revoked"


def queue_command(
    db: Db,
    device: str,
    kind: Literal["relearn", "pipeline"],
    *,
    stream: str | None = None,
    body: dict[str, Any] | None = None,
    actor: str = LOCAL_ACTOR,
) -> int:
    """Queue a command for ``device``; its id. The next ingest of a covering agent carries it.

    ``relearn`` names a ``stream``; ``pipeline`` has ``body={"spec": {...}, "streams": glob}``.
    """
    body = body or {}
    if kind == "relearn" and not stream:
        raise HubError("a relearn command names the stream to relearn")
    if stream is not None and has_control(stream):
        raise HubError(f"a stream name has no control characters: {stream!r}")
    if kind == "pipeline" and not (
        isinstance(body.get("spec"), dict) and isinstance(body.get("streams"), str)
    ):
        raise HubError('a pipeline command has body {"spec": {...}, "streams": "<glob>"}')
    if kind not in ("relearn", "pipeline"):
        raise HubError(f"unknown command kind {kind!r}: relearn or pipeline")
    with within(db) as s:
        found = _active(s, device)
        command = Command(
            device_id=found.id, kind=kind, stream=stream, body=body, created=time.time()
        )
        s.add(command)
        s.flush()
        detail = {"command": command.id, "kind": kind, "stream": stream}
        audit(s, actor=actor, action="command.queue", target=device, detail=detail)
        return command.id
