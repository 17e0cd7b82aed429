"""The streams of a step: one lane each, in memory or evicted to a state store."""

from __future__ import annotations

import math
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._base import Step

__all__ = ["FolderStore", "Lanes", "MemoryStore", "StateStore"]


class StateStore(Protocol):
    """Where evicted streams wait: saved state by key (a stream name)."""

    def save(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key``, replacing what was there."""

    def load(self, key: str) -> bytes | None:
        """The data under ``key``, or ``None``."""

    def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens if it is not there)."""


class MemoryStore:
    """A state store in a dict: for tests, and for streams that need not survive a restart."""

    def __init__(self) -> None:
        self.saved: dict[str, bytes] = {}

    def save(self, key: str, data: bytes) -> None:
        self.saved[key] = data

    def load(self, key: str) -> bytes | None:
        return self.saved.get(key)

    def delete(self, key: str) -> None:
        self.saved.pop(key, None)


class FolderStore:
    """A state store in a folder: one versioned state file (``.npz``) per stream.

    File names are the stream names, percent-encoded, so any stream name is a safe file name.

    Examples
    --------
    >>> import tempfile
    >>> store = FolderStore(tempfile.mkdtemp())
    >>> store.save("plant/pump 1", b"...")
    >>> sorted(p.name for p in store.folder.iterdir())
    ['plant%2Fpump%201.npz']
    >>> store.load("plant/pump 1"), store.load("pump 2")
    (b'...', None)
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / f"{urllib.parse.quote(key, safe='')}.npz"

    def save(self, key: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # a crash leaves the old state or the new one, never half of one

    def load(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class Lanes:
    """The lanes of a step: the streams in memory, and where silent ones are evicted to."""

    def __init__(self, owner: Step) -> None:
        self.owner = owner
        self.active: dict[str, Any] = {}
        self.store: StateStore | None = None
        self.evict_after: float | None = None
        self.newest: dict[str, float] = {}  # newest timestamp per stream, while evicting

    def get(self, stream: str) -> Any:
        lane = self.active.get(stream)
        if lane is None:
            lane = self._bring_back(stream)
            if lane is None:
                lane = self.owner._new_lane(stream)
            self.active[stream] = lane
        return lane

    def seen(self, stream: str, timestamp: float) -> None:
        if timestamp > self.newest.get(stream, -math.inf):
            self.newest[stream] = timestamp

    def _bring_back(self, stream: str) -> Any:
        if self.store is None:
            return None
        data = self.store.load(stream)
        if data is None:
            return None
        from ._persist import restore_lane

        lane = restore_lane(self.owner, stream, data)
        self.store.delete(stream)
        return lane

    def evict(self, stream: str) -> None:
        if self.store is None:
            raise ValueError("no state store: give one with keep_streams(store=...)")
        lane = self.active.pop(stream, None)
        if lane is None:
            return
        from ._persist import lane_document

        self.store.save(stream, lane_document(self.owner, lane))
        self.newest.pop(stream, None)

    def evict_idle(self, now: float) -> None:
        if self.evict_after is None:
            return
        for stream in [s for s, t in self.newest.items() if t < now - self.evict_after]:
            self.evict(stream)
