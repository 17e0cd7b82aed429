"""One test per attack on the model updates: each is refused, its reason logged, and the model
the agent runs stays the one it had (the attacks of TUF's threat model, and Uptane's stolen
director key as the stolen assignment key)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from releasetest import DEVICE, Release, Tamper, make_release, tiny_model
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import TargetFile

from edgewise.releases import Assignment, Repository, load_signers


@pytest.fixture
def release(tmp_path: Path) -> Release:
    made = make_release(tmp_path)
    assert made.updater().check().status == "installed"  # the agent trusts this state
    return made


def refused(
    release: Release, caplog: pytest.LogCaptureFixture, reason: str, tamper: Tamper | None = None
) -> None:
    """The next check is refused for ``reason``, logged, and the first model still runs."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="edgewise.agent.models"):
        outcome = release.updater(tamper).check()
    assert outcome.status == "refused", outcome
    assert reason in outcome.detail
    assert f"update refused: {outcome.detail}" in caplog.text
    loaded = release.updater().slots.load()
    assert loaded is not None and loaded[1].image == release.first


def stealthy_targets(release: Release, signers: list[CryptoSigner]) -> None:
    """A compromised hub (online keys in hand) lists a second image signed by ``signers``."""
    repo = release.repo
    md = repo.load("targets")
    md.signed.targets["models/evil.ewm"] = md.signed.targets[release.second]
    repo._commit({"targets": (md, signers)})
    repo.assign(DEVICE, "models/evil.ewm")


def test_wrong_key(release: Release, caplog: pytest.LogCaptureFixture) -> None:
    stealthy_targets(release, [CryptoSigner.generate_ed25519()])
    refused(release, caplog, "UnsignedMetadataError")


def test_too_few_signatures(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    release = make_release(tmp_path, targets_keys=2, targets_threshold=2)
    assert release.updater().check().status == "installed"
    one_stolen_key = load_signers(release.offline, "targets")[:1]
    stealthy_targets(release, one_stolen_key)
    refused(release, caplog, "UnsignedMetadataError")
    assert "1/2" in caplog.text  # python-tuf says how many of how many


def test_too_few_keys_are_not_published_either(tmp_path: Path) -> None:
    release = make_release(tmp_path, targets_keys=2, targets_threshold=2)
    (release.offline / "targets-2.pem").unlink()
    with pytest.raises(ValueError, match="targets needs 2 signature"):
        release.repo.publish(
            tiny_model(tmp_path / "third.ewm", seed=2), offline_keys=release.offline
        )


def test_version_rollback(release: Release, caplog: pytest.LogCaptureFixture) -> None:
    old_timestamp = (release.repo.metadata / "timestamp.json").read_bytes()
    release.repo.assign(DEVICE, release.second)
    assert release.updater().check().status == "installed"
    release.repo.assign(DEVICE, release.first)  # the first model again, as a newer assignment

    def replay(path: str, data: bytes) -> bytes:
        return old_timestamp if path == "metadata/timestamp.json" else data

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="edgewise.agent.models"):
        outcome = release.updater(replay).check()
    assert outcome.status == "refused" and "BadVersionNumberError" in outcome.detail
    assert outcome.active is not None and outcome.active.image == release.second
    assert "update refused: BadVersionNumberError" in caplog.text


def test_expired_metadata_freeze(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    release = make_release(tmp_path)
    assert release.updater().check().status == "installed"
    # The newest metadata the attacker holds, frozen: signed three days ago, so its timestamp
    # (a day's lifetime) expired two days ago. An agent must not take it as the present.
    frozen = Repository(release.repo.folder, clock=lambda: release.repo.clock() - timedelta(days=3))
    frozen.assign(DEVICE, release.second)
    refused(release, caplog, "ExpiredMetadataError")


def test_mix_and_match(release: Release, caplog: pytest.LogCaptureFixture) -> None:
    release.repo.publish(
        tiny_model(release.repo.folder.parent / "third.ewm", seed=2), offline_keys=release.offline
    )
    newest = release.repo.load("targets").signed.version
    older = (release.repo.metadata / f"{newest - 1}.targets.json").read_bytes()

    def mixed(path: str, data: bytes) -> bytes:
        return older if path == f"metadata/{newest}.targets.json" else data

    refused(release, caplog, "BadVersionNumberError", mixed)


def test_target_longer_than_signed(release: Release, caplog: pytest.LogCaptureFixture) -> None:
    release.repo.assign(DEVICE, release.second)

    def endless(path: str, data: bytes) -> bytes:
        return data + b"\0" * 100_000 if path.endswith("bearing-2.ewm") else data

    refused(release, caplog, "DownloadLengthMismatchError", endless)


def test_hash_mismatch(release: Release, caplog: pytest.LogCaptureFixture) -> None:
    release.repo.assign(DEVICE, release.second)

    def flipped(path: str, data: bytes) -> bytes:
        if not path.endswith("bearing-2.ewm"):
            return data
        return data[:100] + bytes([data[100] ^ 1]) + data[101:]

    refused(release, caplog, "LengthOrHashMismatchError", flipped)


def forge_assignment(release: Release, data: bytes, *extra: TargetFile) -> None:
    """A thief of the assignment key signs ``data`` as pump-1's assignment, and ``extra``."""
    repo = release.repo
    md = repo.load("assignments")
    entry = TargetFile.from_data(f"assignments/{DEVICE}.json", data, ["sha256"])
    (repo.targets / "assignments" / f"{entry.hashes['sha256']}.{DEVICE}.json").write_bytes(data)
    for info in (entry, *extra):
        md.signed.targets[info.path] = info
    repo._commit({"assignments": (md, load_signers(repo.online_keys, "assignments"))})


def test_compromised_assignment_key_cannot_install_an_unlisted_image(
    release: Release, caplog: pytest.LogCaptureFixture
) -> None:
    repo = release.repo
    evil = tiny_model(repo.folder.parent / "evil.ewm", seed=3)
    info = TargetFile.from_file("models/evil.ewm", str(evil), ["sha256"])
    stored = repo.targets / "models" / f"{info.hashes['sha256']}.evil.ewm"
    stored.write_bytes(evil.read_bytes())
    # The thief signs, with the assignment key, both the image and an assignment to it.
    assignment = Assignment(device=DEVICE, image=info.path, serial=9)
    forge_assignment(release, assignment.to_bytes(), info)
    refused(release, caplog, "not in the offline-signed targets")


def test_compromised_assignment_key_cannot_go_back_to_an_older_serial(
    release: Release, caplog: pytest.LogCaptureFixture
) -> None:
    release.repo.assign(DEVICE, release.second)
    release.repo.assign(DEVICE, release.first)  # serial 3: the first model again
    outcome = release.updater().check()  # the first model is running: only its serial changes
    assert outcome.status == "current" and outcome.active is not None
    assert outcome.active.serial == 3
    # Back to the second model under its old serial: a replay of a superseded assignment.
    forge_assignment(release, Assignment(DEVICE, release.second, serial=2).to_bytes())
    refused(release, caplog, "assignment serial 2 is older than the installed 3")


def test_compromised_assignment_key_cannot_hand_over_another_device_s_assignment(
    release: Release, caplog: pytest.LogCaptureFixture
) -> None:
    forge_assignment(release, Assignment("pump-2", release.second, serial=5).to_bytes())
    refused(release, caplog, "the assignment is for 'pump-2', not 'pump-1'")
