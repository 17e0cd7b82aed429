"""The agent's model updates: python-tuf's ``ngclient.Updater`` against the hub, then A/B slots.

One check: refresh the TUF metadata (root, timestamp, snapshot, targets, each verified against
the keys of the root the agent was provisioned with and the roots that root signed after it),
read this device's assignment (signed by the online assignment key), look its image up in the
top-level targets (signed offline; the assignment role may not sign image paths), download the
image (length and hash checked as it streams), then install it into the free slot, self-test
it, and switch (:class:`~edgewise.agent._slots.Slots`). Any refusal is logged with its reason
and changes nothing: the running model keeps running.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
from tuf.api import exceptions
from tuf.ngclient import Updater
from tuf.ngclient.fetcher import FetcherInterface

from edgewise.releases import Assignment, ReleaseError, target_of

from ._slots import Installed, Slots

__all__ = ["HubFetcher", "ModelUpdater", "Outcome"]

log = logging.getLogger("edgewise.agent.models")

METADATA_PATH = "/api/v1/releases/metadata/"
TARGETS_PATH = "/api/v1/releases/targets/"
_CHUNK = 64 << 10


class HubFetcher(FetcherInterface):
    """Downloads for ngclient over httpx with the agent's bearer token.

    ``transport`` is httpx's seam: tests serve a repository (or an attacker's version of it)
    without patching anything.
    """

    def __init__(
        self,
        *,
        token: str,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
        timeout_s: float = 30.0,
    ) -> None:
        self._client = httpx.Client(
            transport=transport,
            verify=verify,
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}"},
        )

    def _fetch(self, url: str) -> Iterator[bytes]:
        response = self._client.send(self._client.build_request("GET", url), stream=True)
        if response.status_code != 200:
            response.close()
            raise exceptions.DownloadHTTPError(
                f"{url}: the hub answered {response.status_code}", response.status_code
            )
        return self._chunks(response)

    @staticmethod
    def _chunks(response: httpx.Response) -> Iterator[bytes]:
        # Streamed: ngclient stops reading the moment a file is longer than signed.
        try:
            yield from response.iter_bytes(_CHUNK)
        finally:
            response.close()

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class Outcome:
    """What one check did; ``detail`` says why (the refusal's reason, with its error class)."""

    status: Literal["installed", "current", "unassigned", "refused", "failed"]
    detail: str
    active: Installed | None


class ModelUpdater:
    """Checks the hub for this device's assigned model and installs it (``check``).

    ``root`` is the trusted root metadata the agent was provisioned with (``root.json`` of the
    repository when the device was set up); newer roots are followed from it. ``folder`` holds
    the TUF metadata cache, the downloads and the two slots. :meth:`start` checks every
    ``every_s`` seconds in a thread.
    """

    def __init__(
        self,
        *,
        folder: Path,
        device: str,
        hub_url: str,
        root: bytes,
        fetcher: FetcherInterface,
        every_s: float = 300.0,
    ) -> None:
        self.folder = folder
        self.every_s = every_s
        self.device = device
        self.hub_url = hub_url.rstrip("/")
        self.root = root
        self.fetcher = fetcher
        self.slots = Slots(folder / "slots")
        self._metadata = folder / "tuf"
        self._downloads = folder / "downloads"
        for made in (self._metadata, self._downloads):
            made.mkdir(parents=True, exist_ok=True)
        self.counts = {"installed": 0, "refused": 0, "failed": 0}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Check now, then every ``every_s`` seconds, in a thread of its own, until :meth:`stop`."""
        loaded = self.slots.load()
        log.info(
            "models: %s",
            "none installed yet" if loaded is None else f"running {loaded[1].image}",
        )

        def run() -> None:
            while True:
                self.check()
                if self._stop.wait(self.every_s):
                    return

        self._thread = threading.Thread(target=run, name="models", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop checking; an install under way is left to finish (or is killed safely)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def check(self) -> Outcome:
        """One round: verify, download, install; refusals are logged and counted."""
        try:
            outcome = self._check()
        except (
            exceptions.RepositoryError,
            exceptions.DownloadLengthMismatchError,
            ReleaseError,
        ) as error:
            outcome = Outcome("refused", f"{type(error).__name__}: {error}", self.slots.active())
            log.warning("models: update refused: %s", outcome.detail)
        except (exceptions.DownloadError, OSError) as error:
            outcome = Outcome("failed", f"{type(error).__name__}: {error}", self.slots.active())
            log.warning("models: update failed (retried later): %s", outcome.detail)
        if outcome.status in self.counts:
            self.counts[outcome.status] += 1
        return outcome

    def _check(self) -> Outcome:
        updater = Updater(
            metadata_dir=str(self._metadata),
            metadata_base_url=self.hub_url + METADATA_PATH,
            target_base_url=self.hub_url + TARGETS_PATH,
            target_dir=str(self._downloads),
            fetcher=self.fetcher,
            bootstrap=self.root,
        )
        updater.refresh()
        active = self.slots.active()
        found = updater.get_targetinfo(target_of(self.device))
        if found is None:
            return Outcome("unassigned", f"no assignment for {self.device}", active)
        cached = str(self._downloads / "assignment.json")
        assignment = Assignment.parse(
            Path(
                updater.find_cached_target(found, cached) or updater.download_target(found, cached)
            ).read_bytes()
        )
        if assignment.device != self.device:
            raise ReleaseError(f"the assignment is for {assignment.device!r}, not {self.device!r}")
        if active is not None and assignment.serial < active.serial:
            raise ReleaseError(
                f"assignment serial {assignment.serial} is older than the installed {active.serial}"
            )
        # Image paths resolve in the offline-signed targets only: the delegation to the online
        # assignment role covers assignments/* and nothing else.
        image = updater.get_targetinfo(assignment.image)
        if image is None:
            raise ReleaseError(
                f"{assignment.image} is assigned but not in the offline-signed targets"
            )
        if active is not None and (active.image, active.sha256) == (
            image.path,
            image.hashes.get("sha256"),
        ):
            if assignment.serial > active.serial:  # so that older assignments stay refused
                active = self.slots.renumber(assignment.serial)
            return Outcome("current", f"{image.path} is installed", active)
        download = updater.download_target(image, filepath=str(self._downloads / "incoming.ewm"))
        installed = self.slots.install(Path(download), image=image.path, serial=assignment.serial)
        log.info(
            "models: installed %s (serial %d) in slot %s",
            installed.image,
            installed.serial,
            installed.slot,
        )
        return Outcome("installed", f"{installed.image} in slot {installed.slot}", installed)
