"""Agents' read-only release routes: the model repository's TUF metadata and target files.

The files are served as they are; what makes them trustworthy is their signatures, which the
agent checks (``docs/releases.md``). A device token is still required, as on every agent route:
the fleet's models are not for strangers, and an assignment is served only to an agent that
covers its device.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from ._auth import Refused, agent
from ._store import Agent

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/releases", tags=["releases"])

AgentToken = Annotated[Agent, Depends(agent)]

_METADATA = re.compile(r"(?:[0-9]+\.)?(?:root|targets|assignments|snapshot|timestamp)\.json")
_TARGET = re.compile(r"(models|assignments)/[0-9a-f]{64}\.([A-Za-z0-9][A-Za-z0-9._-]*)")


def _repository(request: Request) -> Path:
    folder: Path | None = request.app.state.releases
    if folder is None:
        raise Refused(404, "this hub serves no model releases (edgewise hub run --releases DIR)")
    return folder


def _file(path: Path) -> FileResponse:
    if not path.is_file():
        raise Refused(404, "no such release file")
    return FileResponse(path, media_type="application/octet-stream")


@router.get("/metadata/{name}")
def metadata(name: str, request: Request, _who: AgentToken) -> FileResponse:
    """One metadata file: ``N.role.json`` or ``timestamp.json``."""
    folder = _repository(request)
    if _METADATA.fullmatch(name) is None:
        raise Refused(404, "no such metadata")
    return _file(folder / "metadata" / name)


@router.get("/targets/{path:path}")
def target(path: str, request: Request, who: AgentToken) -> FileResponse:
    """One target file, by its consistent-snapshot name ``DIR/<sha256>.<name>``."""
    folder = _repository(request)
    matched = _TARGET.fullmatch(path)
    if matched is None:
        raise Refused(404, "no such target")
    kind, name = matched.groups()
    if kind == "assignments" and name.removesuffix(".json") not in who.covers:
        raise Refused(403, "this token does not cover that device")
    return _file(folder / "targets" / path)
