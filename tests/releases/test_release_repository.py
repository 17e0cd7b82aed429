"""The repository's life: publishing, assignments, refreshing and rotating keys, with an agent
following each step from the root it was provisioned with."""

from __future__ import annotations

from pathlib import Path

import pytest
from releasetest import DEVICE, Release, make_release, tiny_model

from edgewise.releases import ReleaseError, Repository


@pytest.fixture
def release(tmp_path: Path) -> Release:
    return make_release(tmp_path)


def test_a_name_is_published_once(release: Release, tmp_path: Path) -> None:
    again = tiny_model(tmp_path / "bearing-1.ewm", seed=0)
    before = release.repo.versions()
    assert release.repo.publish(again, offline_keys=release.offline) == release.first
    assert release.repo.versions() == before  # the same bytes: nothing to sign
    (tmp_path / "other").mkdir()
    other = tiny_model(tmp_path / "other" / "bearing-1.ewm", seed=5)
    with pytest.raises(ReleaseError, match="published already with other bytes"):
        release.repo.publish(other, offline_keys=release.offline)


def test_a_model_that_fails_its_self_test_is_not_published(
    release: Release, tmp_path: Path
) -> None:
    wrong = tiny_model(
        tmp_path / "wrong.ewm", seed=0, self_test={"input": [[0.0] * 64], "expected": ["nope"]}
    )
    with pytest.raises(ReleaseError, match="fails its test vector"):
        release.repo.publish(wrong, offline_keys=release.offline)
    assert release.repo.images() == [release.first, release.second]


def test_assignments_count_up_and_a_rollback_is_a_newer_assignment(release: Release) -> None:
    assert release.repo.assignment(DEVICE).serial == 1  # type: ignore[union-attr]
    release.repo.assign(DEVICE, release.second)
    assert release.updater().check().status == "installed"
    back = release.repo.assign(DEVICE, release.first)
    assert back.serial == 3
    outcome = release.updater().check()
    assert outcome.status == "installed" and outcome.active is not None
    assert (outcome.active.image, outcome.active.serial) == (release.first, 3)
    assert release.updater().slots.previous().image == release.second  # type: ignore[union-attr]


def test_refresh_keeps_agents_current(release: Release) -> None:
    assert release.updater().check().status == "installed"
    before = release.repo.versions()
    release.repo.refresh()
    after = release.repo.versions()
    assert after["timestamp"] == before["timestamp"] + 1 and after["targets"] == before["targets"]
    assert release.updater().check().status == "current"


@pytest.mark.parametrize("role", ["root", "targets", "snapshot", "timestamp", "assignments"])
def test_an_agent_follows_a_key_rotation(release: Release, role: str) -> None:
    assert release.updater().check().status == "installed"
    folder = release.offline if role in ("root", "targets") else release.repo.online_keys
    old = {path.read_bytes() for path in folder.glob(f"{role}-*.pem")}
    release.repo.rotate(role, offline_keys=release.offline)
    release.repo.assign(DEVICE, release.second)
    outcome = release.updater().check()
    assert outcome.status == "installed", outcome
    assert old == {path.read_bytes() for path in (folder / "retired").glob(f"{role}-*.pem")}
    assert old.isdisjoint(path.read_bytes() for path in folder.glob(f"{role}-*.pem"))
    if role == "root":
        assert release.repo.versions()["root"] == 2


def test_an_old_targets_key_is_refused_after_its_rotation(
    release: Release, caplog: pytest.LogCaptureFixture
) -> None:
    from edgewise.releases import load_signers

    assert release.updater().check().status == "installed"
    retired = release.offline / "retired"
    release.repo.rotate("targets", offline_keys=release.offline)
    old = load_signers(retired, "targets")
    md = release.repo.load("targets")
    release.repo._commit({"targets": (md, old)})
    outcome = release.updater().check()
    assert outcome.status == "refused" and "UnsignedMetadataError" in outcome.detail


def test_keys_init_refuses_bad_thresholds_and_existing_repositories(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="threshold must be 1 to 2"):
        Repository.create(
            tmp_path / "r", offline_keys=tmp_path / "k", root_keys=2, root_threshold=3
        )
    Repository.create(tmp_path / "r", offline_keys=tmp_path / "k")
    with pytest.raises(ReleaseError, match="already"):
        Repository.create(tmp_path / "r", offline_keys=tmp_path / "k2")
    with pytest.raises(ReleaseError, match="not a model repository"):
        Repository(tmp_path / "elsewhere")


def test_a_wave_is_one_signed_change_and_all_or_nothing(release: Release) -> None:
    before = release.repo.versions()["assignments"]
    made = release.repo.assign_many({"pump-2": release.second, "pump-3": release.second})
    assert [(a.device, a.serial) for a in made] == [("pump-2", 1), ("pump-3", 1)]
    assert release.repo.versions()["assignments"] == before + 1
    with pytest.raises(ReleaseError, match=r"models/nope\.ewm is not published"):
        release.repo.assign_many({"pump-2": release.first, "pump-4": "models/nope.ewm"})
    assert {d: a.image for d, a in release.repo.assignments().items()} == {
        DEVICE: release.first,
        "pump-2": release.second,
        "pump-3": release.second,
    }


def test_a_publish_killed_before_its_timestamp_is_done_again(
    release: Release, tmp_path: Path
) -> None:
    metadata = release.repo.metadata
    before = (metadata / "timestamp.json").read_bytes()
    snapshot = release.repo.versions()["snapshot"]
    third = release.repo.publish(
        tiny_model(tmp_path / "third.ewm", seed=2), offline_keys=release.offline
    )
    # As if killed after the targets and snapshot were written, before the timestamp was.
    (metadata / "timestamp.json").write_bytes(before)
    assert release.repo.images() == [release.first, release.second]  # what agents see
    assert (metadata / f"{snapshot + 1}.snapshot.json").is_file()
    release.repo.publish(tmp_path / "third.ewm", offline_keys=release.offline)
    release.repo.assign(DEVICE, third)
    outcome = release.updater().check()
    assert outcome.status == "installed" and outcome.active is not None
    assert outcome.active.image == third
