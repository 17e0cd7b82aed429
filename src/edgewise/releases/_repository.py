"""The model repository: a TUF repository (python-tuf's Metadata API) in a folder.

::

    REPO/metadata/   1.root.json 2.root.json ...   root, signed offline (root keys)
                     N.targets.json                the images, signed offline (targets keys)
                     N.assignments.json            each device's assignment, signed online
                     N.snapshot.json timestamp.json   signed online
    REPO/targets/    models/<sha256>.<name>.ewm  assignments/<sha256>.<device>.json
    REPO/online-keys/   snapshot-1.pem timestamp-1.pem assignments-1.pem (never served)

The hub serves ``metadata/`` and ``targets/`` only. The top-level targets delegate the paths
``assignments/*`` (and nothing else) to the online ``assignments`` role: a stolen assignment key
can point a device at any *published* image, never at one the offline targets keys did not sign.
Consistent snapshots: every metadata version and target file has a name of its own, so a
client reading while a publish runs never mixes two states of the repository.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import Signer
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from edgewise._atomic import copy_atomic, write_atomic

from ._assignment import ASSIGNMENTS, IMAGES, Assignment, target_of
from ._errors import ReleaseError
from ._keys import OFFLINE_ROLES, generate, load_signers
from ._selftest import self_test

__all__ = ["LIFETIMES", "ROLES", "Repository"]

ROLES = ("root", "targets", "assignments", "snapshot", "timestamp")
LIFETIMES: Mapping[str, timedelta] = {
    "root": timedelta(days=365),
    "targets": timedelta(days=365),
    "assignments": timedelta(days=30),
    "snapshot": timedelta(days=7),
    "timestamp": timedelta(days=1),
}
"""How long each role's metadata stays valid; the hub re-signs the online ones before that."""

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_SERIALIZER = JSONSerializer(compact=False)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Repository:
    """The TUF repository of models in ``folder``; online keys in ``online_keys``.

    >>> import tempfile
    >>> base = Path(tempfile.mkdtemp())
    >>> repo = Repository.create(base / "repo", offline_keys=base / "offline")
    >>> repo.versions()
    {'root': 1, 'targets': 1, 'assignments': 1, 'snapshot': 1, 'timestamp': 1}
    >>> repo.images()
    []
    """

    def __init__(
        self,
        folder: Path,
        *,
        online_keys: Path | None = None,
        lifetimes: Mapping[str, timedelta] = LIFETIMES,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.folder = folder
        self.metadata = folder / "metadata"
        self.targets = folder / "targets"
        self.online_keys = online_keys or folder / "online-keys"
        self.lifetimes = {**LIFETIMES, **lifetimes}
        self.clock = clock
        if not self.metadata.is_dir():
            raise ReleaseError(
                f"{folder} is not a model repository (run: edgewise model keys init)"
            )

    # -- set-up ---------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        folder: Path,
        *,
        offline_keys: Path,
        online_keys: Path | None = None,
        root_keys: int = 1,
        root_threshold: int = 1,
        targets_keys: int = 1,
        targets_threshold: int = 1,
        lifetimes: Mapping[str, timedelta] = LIFETIMES,
    ) -> Repository:
        """A new repository with new keys: offline ones into ``offline_keys``, online ones into
        ``online_keys`` (default ``folder/online-keys``)."""
        for keys, threshold, role in (
            (root_keys, root_threshold, "root"),
            (targets_keys, targets_threshold, "targets"),
        ):
            if not 1 <= threshold <= keys:
                raise ReleaseError(f"{role}: the threshold must be 1 to {keys}, got {threshold}")
        if (folder / "metadata").exists():
            raise ReleaseError(f"{folder} already holds a repository")
        online = online_keys or folder / "online-keys"
        signers = {
            "root": generate(offline_keys, "root", root_keys),
            "targets": generate(offline_keys, "targets", targets_keys),
            **{
                role: generate(online, role, 1) for role in ("snapshot", "timestamp", "assignments")
            },
        }
        (folder / "metadata").mkdir(parents=True)
        (folder / "targets").mkdir()
        root = Root(expires=_now() + {**LIFETIMES, **lifetimes}["root"], consistent_snapshot=True)
        for role in ("root", "targets", "snapshot", "timestamp"):
            for signer in signers[role]:
                root.add_key(signer.public_key, role)
        root.roles["root"].threshold = root_threshold
        root.roles["targets"].threshold = targets_threshold
        repository = cls(folder, online_keys=online, lifetimes=lifetimes)
        targets = Targets(expires=root.expires)
        assignment_key = signers["assignments"][0].public_key
        targets.delegations = Delegations(
            keys={assignment_key.keyid: assignment_key},
            roles={
                "assignments": DelegatedRole(
                    name="assignments",
                    keyids=[assignment_key.keyid],
                    threshold=1,
                    terminating=True,
                    paths=[f"{ASSIGNMENTS}*"],
                )
            },
        )
        root_md = Metadata(root)
        repository._sign(root_md, signers["root"])
        repository._write("root", root_md)
        repository._commit(
            {
                "targets": (Metadata(targets), signers["targets"]),
                "assignments": (Metadata(Targets(expires=root.expires)), signers["assignments"]),
            },
            first=True,
        )
        return repository

    # -- what it holds --------------------------------------------------------------------------

    def load(self, role: str) -> Metadata[Any]:
        """The current metadata of ``role``: the versions the timestamp leads to, as agents see.

        A change killed before its timestamp was written left newer files that nothing names:
        they are ignored here, and the next change writes over them.
        """
        if role == "timestamp":
            return Metadata.from_file(str(self.metadata / "timestamp.json"))
        if role == "root":  # agents find roots by trying the next version: the newest is current
            versions = [int(p.name.split(".")[0]) for p in self.metadata.glob("*.root.json")]
            return Metadata.from_file(str(self.metadata / f"{max(versions)}.root.json"))
        if role == "snapshot":
            timestamp = self.load("timestamp").signed
            assert isinstance(timestamp, Timestamp)
            version = timestamp.snapshot_meta.version
        else:
            snapshot = self.load("snapshot").signed
            assert isinstance(snapshot, Snapshot)
            version = snapshot.meta[f"{role}.json"].version
        return Metadata.from_file(str(self.metadata / f"{version}.{role}.json"))

    def versions(self) -> dict[str, int]:
        """The version of each role's newest metadata."""
        return {role: self.load(role).signed.version for role in ROLES}

    def images(self) -> list[str]:
        """Target paths of the published images."""
        return sorted(self._targets("targets").targets)

    def assignment(self, device: str) -> Assignment | None:
        """``device``'s current assignment, if it has one."""
        found = self._targets("assignments").targets.get(target_of(device))
        return None if found is None else self._read(found)

    def assignments(self) -> dict[str, Assignment]:
        """Every device's current assignment, by device."""
        found = (self._read(info) for info in self._targets("assignments").targets.values())
        return {assignment.device: assignment for assignment in found}

    def _read(self, info: TargetFile) -> Assignment:
        return Assignment.parse(self._target_path(info).read_bytes())

    def _targets(self, role: str) -> Targets:
        signed = self.load(role).signed
        assert isinstance(signed, Targets)
        return signed

    def _target_path(self, info: TargetFile) -> Path:
        folder, _, name = info.path.rpartition("/")
        return self.targets / folder / f"{info.hashes['sha256']}.{name}"

    # -- changes --------------------------------------------------------------------------------

    def publish(self, artifact: Path, *, offline_keys: Path, name: str | None = None) -> str:
        """Sign ``artifact`` into the targets with the offline targets keys; its target path.

        The model must pass :func:`self_test` first. A name is published once: the same bytes
        again change nothing, other bytes under it are refused (publish a new name).
        """
        name = name or artifact.name
        if not _valid(name) or not name.endswith(".ewm"):
            raise ReleaseError(f"image name {name!r}: letters, digits, '.', '_', '-', ending .ewm")
        self_test(artifact)
        path = f"{IMAGES}{name}"
        info = TargetFile.from_file(path, str(artifact), ["sha256"])
        targets_md = self.load("targets")
        targets = targets_md.signed
        assert isinstance(targets, Targets)
        if path in targets.targets:
            if targets.targets[path].hashes == info.hashes:
                return path
            raise ReleaseError(f"{path} is published already with other bytes; use a new name")
        signers = self._offline(offline_keys, "targets")
        stored = self._target_path(info)
        stored.parent.mkdir(parents=True, exist_ok=True)
        copy_atomic(artifact, stored)
        targets.targets[path] = info
        self._commit({"targets": (targets_md, signers)})
        return path

    def assign(self, device: str, image: str) -> Assignment:
        """Point ``device`` at published ``image`` under the next serial, signed online.

        A rollback is an assignment like any other: the previous image, a higher serial.
        """
        return self.assign_many({device: image})[0]

    def assign_many(self, plan: Mapping[str, str]) -> list[Assignment]:
        """Assign each device of ``plan`` (device -> image) in one signed change.

        A rollout's wave is one new version of the metadata, not one per device. Every device
        and image is checked first: one bad entry refuses the whole plan and changes nothing.
        """
        published = self._targets("targets").targets
        for device, image in plan.items():
            if not _valid(device):
                raise ReleaseError(f"device {device!r}: letters, digits, '.', '_', '-' only")
            if image not in published:
                raise ReleaseError(f"{image} is not published (not in the offline-signed targets)")
        assignments_md = self.load("assignments")
        listed = assignments_md.signed.targets
        made = []
        for device, image in plan.items():
            current = listed.get(target_of(device))
            serial = 1 if current is None else self._read(current).serial + 1
            assignment = Assignment(device=device, image=image, serial=serial)
            data = assignment.to_bytes()
            info = TargetFile.from_data(assignment.target, data, ["sha256"])
            stored = self._target_path(info)
            stored.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(stored, data)
            listed[assignment.target] = info
            made.append(assignment)
        self._commit(
            {"assignments": (assignments_md, load_signers(self.online_keys, "assignments"))}
        )
        return made

    def refresh(self) -> None:
        """Re-sign the online roles (assignments, snapshot, timestamp) with fresh expiry dates.

        Run it well within the timestamp's lifetime (a day): agents refuse expired metadata.
        """
        assignments = (self.load("assignments"), load_signers(self.online_keys, "assignments"))
        self._commit({"assignments": assignments})

    def rotate(self, role: str, *, offline_keys: Path) -> None:
        """Replace ``role``'s keys with new ones (as many, same threshold); a new root says so.

        The new root is signed by the current root keys, and for a root rotation by the new ones
        too, so agents trusting the old root follow it. The old key files move to ``retired/``.
        """
        if role not in ROLES:
            raise ReleaseError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        root_md = self.load("root")
        root = root_md.signed
        assert isinstance(root, Root)
        root_signers = self._offline(offline_keys, "root")
        targets_signers: Sequence[Signer] = self._offline(offline_keys, "targets")
        folder = offline_keys if role in OFFLINE_ROLES else self.online_keys
        count = len(load_signers(folder, role))
        targets_md = self.load("targets")
        # Named after the versions they last signed under: unique, as every rotation bumps one.
        _retire(folder, role, f"root{root.version}-targets{targets_md.signed.version}")
        new = generate(folder, role, count)
        if role == "assignments":
            delegations = targets_md.signed.delegations
            assert delegations is not None and delegations.roles is not None
            delegated = delegations.roles["assignments"]
            for keyid in delegated.keyids:
                del delegations.keys[keyid]
            delegations.keys.update({s.public_key.keyid: s.public_key for s in new})
            delegated.keyids = [s.public_key.keyid for s in new]
        else:
            for keyid in list(root.roles[role].keyids):
                root.revoke_key(keyid, role)
            for signer in new:
                root.add_key(signer.public_key, role)
            root.version += 1
            root.expires = self.clock() + self.lifetimes["root"]
            self._sign(root_md, [*root_signers, *(new if role == "root" else ())])
            self._write("root", root_md)
            if role == "targets":
                targets_signers = new
        self._commit(
            {
                "targets": (targets_md, targets_signers),
                "assignments": (
                    self.load("assignments"),
                    load_signers(self.online_keys, "assignments"),
                ),
            }
        )

    # -- signing --------------------------------------------------------------------------------

    def _offline(self, folder: Path, role: str) -> Sequence[Signer]:
        """``role``'s keys in ``folder``: those root trusts, at least its threshold of them."""
        root = self.load("root").signed
        assert isinstance(root, Root)
        trusted = set(root.roles[role].keyids)
        signers = [s for s in load_signers(folder, role) if s.public_key.keyid in trusted]
        threshold = root.roles[role].threshold
        if len(signers) < threshold:
            raise ReleaseError(
                f"{role} needs {threshold} signature(s); {folder} holds {len(signers)} key(s) "
                "the root trusts"
            )
        return signers

    @staticmethod
    def _sign(md: Metadata[Any], signers: Iterable[Signer]) -> None:
        md.signatures.clear()
        for signer in signers:
            md.sign(signer, append=True)

    def _write(self, role: str, md: Metadata[Any]) -> None:
        name = "timestamp.json" if role == "timestamp" else f"{md.signed.version}.{role}.json"
        write_atomic(self.metadata / name, md.to_bytes(_SERIALIZER))

    def _commit(
        self, changed: Mapping[str, tuple[Metadata[Any], Sequence[Signer]]], *, first: bool = False
    ) -> None:
        """Write the changed targets roles, then a snapshot naming them, then the timestamp.

        The timestamp is written last: until it is, agents see the repository as it was.
        """
        now = self.clock()
        snapshot_md = (
            Metadata(Snapshot(expires=now)) if first else self.load("snapshot")
        )  # a first snapshot starts at version 1 like every role
        snapshot = snapshot_md.signed
        assert isinstance(snapshot, Snapshot)
        for role, (md, signers) in changed.items():
            if not first:
                md.signed.version += 1
            md.signed.expires = now + self.lifetimes[role]
            self._sign(md, signers)
            self._write(role, md)
            snapshot.meta[f"{role}.json"] = MetaFile(version=md.signed.version)
        online = {role: load_signers(self.online_keys, role) for role in ("snapshot", "timestamp")}
        if not first:
            snapshot.version += 1
        snapshot.expires = now + self.lifetimes["snapshot"]
        self._sign(snapshot_md, online["snapshot"])
        self._write("snapshot", snapshot_md)
        timestamp_md = Metadata(Timestamp(expires=now)) if first else self.load("timestamp")
        timestamp = timestamp_md.signed
        assert isinstance(timestamp, Timestamp)
        if not first:
            timestamp.version += 1
        timestamp.snapshot_meta = MetaFile(version=snapshot.version)
        timestamp.expires = now + self.lifetimes["timestamp"]
        self._sign(timestamp_md, online["timestamp"])
        self._write("timestamp", timestamp_md)


def _valid(name: str) -> bool:
    return re.fullmatch(_NAME, name) is not None and len(name) <= 128


def _retire(folder: Path, role: str, label: str) -> None:
    retired = folder / "retired"
    retired.mkdir(exist_ok=True, mode=0o700)
    for path in sorted(folder.glob(f"{role}-*.pem")):
        shutil.move(path, retired / f"{path.stem}.{label}.pem")
