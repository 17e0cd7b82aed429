"""People's device routes: the registry, provisioning, rotation, revocation, commands."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ._auth import Admin, Operator, Viewer, transaction
from ._devices import (
    add_device,
    decommission_device,
    list_devices,
    queue_command,
    revoke_device,
    rotate_device,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

DeviceName = Field(min_length=1, max_length=200)


class DeviceOut(BaseModel):
    name: str
    status: Literal["active", "revoked", "decommissioned"]
    created: float
    covers: list[str] = Field(description="Devices its current token covers (empty if none).")
    signing_key: str | None = Field(description="Ed25519 public key, base64.")


class NewDevice(BaseModel):
    name: str = DeviceName
    covers: list[str] = Field(default=[], description="Other devices the agent fronts.")
    signing_key: str | None = Field(default=None, description="Ed25519 public key, base64.")


class Provisioned(BaseModel):
    name: str
    token: str = Field(description="The agent's bearer token, shown this once only.")


class Retired(BaseModel):
    name: str
    status: Literal["revoked", "decommissioned"]


class Relearn(BaseModel):
    stream: str = Field(min_length=1, max_length=200)


class Queued(BaseModel):
    command: int


@router.get("")
def devices(request: Request, _who: Viewer) -> list[DeviceOut]:
    """Every device the hub knows and its status."""
    with transaction(request) as s:
        return [DeviceOut.model_validate(d) for d in list_devices(s)]


@router.post("", status_code=201)
def device_add(request: Request, new: NewDevice, who: Admin) -> Provisioned:
    """Provision a device; its token is in this answer only (the hub keeps its hash)."""
    with transaction(request) as s:
        token = add_device(
            s, new.name, covers=new.covers, signing_key=new.signing_key, actor=who.name
        )
    return Provisioned(name=new.name, token=token)


@router.post("/{name}/rotate")
def device_rotate(request: Request, name: str, who: Admin) -> Provisioned:
    """A new token covering what the old one did; the old one is refused from now on."""
    with transaction(request) as s:
        token = rotate_device(s, name, actor=who.name)
    return Provisioned(name=name, token=token)


@router.post("/{name}/revoke")
def device_revoke(request: Request, name: str, who: Admin) -> Retired:
    """Revoke a device and its tokens: its agent is refused from the next request on."""
    with transaction(request) as s:
        revoke_device(s, name, actor=who.name)
    return Retired(name=name, status="revoked")


@router.post("/{name}/decommission")
def device_decommission(request: Request, name: str, who: Admin) -> Retired:
    """Retire a device for good; its stored records are kept."""
    with transaction(request) as s:
        decommission_device(s, name, actor=who.name)
    return Retired(name=name, status="decommissioned")


@router.post("/{name}/relearn", status_code=202)
def device_relearn(request: Request, name: str, body: Relearn, who: Operator) -> Queued:
    """Queue a relearn: the stream's lasting change becomes its new normal."""
    with transaction(request) as s:
        command = queue_command(s, name, "relearn", stream=body.stream, actor=who.name)
    return Queued(command=command)
