"""Two model slots, A and B: the running model in one, the previous one (or the next) in the other.

An install writes the slot that is not active (copy, fsync, rename), self-tests the model there,
and only then switches by replacing ``state.json`` whole. A SIGKILL at any moment leaves
``state.json`` naming a slot that was complete and tested when it was named, and the active slot
is never written: the agent always restarts with a working model (or with none, if it never had
one). When the active slot fails to load anyway (a disk fault), :meth:`Slots.load` falls back
to the previous one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from edgewise._atomic import copy_atomic, write_atomic
from edgewise.models import Model
from edgewise.releases import ReleaseError, self_test

__all__ = ["Installed", "Slots"]

log = logging.getLogger("edgewise.agent.models")

_STATE = "state.json"


@dataclass(frozen=True)
class Installed:
    """What a slot holds: the image's target path, the assignment serial, the file's SHA-256."""

    slot: str
    image: str
    serial: int
    sha256: str


class Slots:
    """The A/B model slots in ``folder``.

    >>> import tempfile
    >>> Slots(Path(tempfile.mkdtemp())).active() is None
    True
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _read_state(self) -> dict[str, Installed | None]:
        try:
            state = json.loads((self.folder / _STATE).read_bytes())
        except FileNotFoundError:
            return {"active": None, "previous": None}
        return {
            key: None if state.get(key) is None else Installed(**state[key])
            for key in ("active", "previous")
        }

    def active(self) -> Installed | None:
        """The installed model the agent runs, if any."""
        return self._read_state()["active"]

    def previous(self) -> Installed | None:
        """The model installed before it, kept in the other slot."""
        return self._read_state()["previous"]

    def path(self, slot: str) -> Path:
        return self.folder / f"slot-{slot}.ewm"

    def load(self) -> tuple[Model, Installed] | None:
        """The active model, self-tested; the previous one if the active one fails; or None."""
        state = self._read_state()
        for which in ("active", "previous"):
            installed = state[which]
            if installed is None:
                continue
            try:
                return self._checked(installed), installed
            except ReleaseError as error:
                log.error("models: the %s model (slot %s) fails: %s", which, installed.slot, error)
        return None

    def _checked(self, installed: Installed) -> Model:
        path = self.path(installed.slot)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as error:
            raise ReleaseError(f"{path.name}: unreadable ({error})") from None
        if digest != installed.sha256:
            raise ReleaseError(f"{path.name}: its bytes changed since it was installed")
        return self_test(path)

    def renumber(self, serial: int) -> Installed:
        """The active model stays, under a newer assignment's ``serial`` (the same image again)."""
        state = self._read_state()
        active = state["active"]
        if active is None:
            raise ReleaseError("no model is installed")
        renumbered = replace(active, serial=serial)
        self._write_state(renumbered, state["previous"])
        return renumbered

    def install(self, source: Path, *, image: str, serial: int) -> Installed:
        """Copy ``source`` into the free slot, self-test it, switch to it; the old one stays.

        A model that fails its self-test is refused (:class:`ReleaseError`) and nothing changes.
        """
        state = self._read_state()
        current = state["active"]
        slot = "b" if current is not None and current.slot == "a" else "a"
        target = self.path(slot)
        copy_atomic(source, target)
        installed = Installed(
            slot=slot,
            image=image,
            serial=serial,
            sha256=hashlib.sha256(target.read_bytes()).hexdigest(),
        )
        self._checked(installed)
        # The switch: one rename. Before it the old model runs, after it the new one.
        self._write_state(installed, current)
        return installed

    def _write_state(self, active: Installed, previous: Installed | None) -> None:
        state = {
            "active": asdict(active),
            "previous": None if previous is None else asdict(previous),
        }
        write_atomic(self.folder / _STATE, json.dumps(state, sort_keys=True).encode())
