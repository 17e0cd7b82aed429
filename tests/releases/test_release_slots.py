"""The A/B slots: install, self-test before the switch, fall back when the active model fails."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from releasetest import tiny_model

from edgewise.agent import Slots
from edgewise.releases import ReleaseError


def test_install_switches_and_keeps_the_previous(tmp_path: Path) -> None:
    slots = Slots(tmp_path / "slots")
    one = slots.install(tiny_model(tmp_path / "1.ewm", seed=0), image="models/1.ewm", serial=1)
    two = slots.install(tiny_model(tmp_path / "2.ewm", seed=1), image="models/2.ewm", serial=2)
    assert (one.slot, two.slot) == ("a", "b")
    assert slots.active() == two and slots.previous() == one
    assert two.sha256 == hashlib.sha256((tmp_path / "2.ewm").read_bytes()).hexdigest()


def test_a_model_failing_its_test_vector_is_not_switched_to(tmp_path: Path) -> None:
    slots = Slots(tmp_path / "slots")
    good = slots.install(tiny_model(tmp_path / "1.ewm", seed=0), image="models/1.ewm", serial=1)
    bad = tiny_model(
        tmp_path / "bad.ewm", seed=1, self_test={"input": [[0.0] * 64], "expected": ["never"]}
    )
    with pytest.raises(ReleaseError, match="fails its test vector"):
        slots.install(bad, image="models/bad.ewm", serial=2)
    assert slots.active() == good
    loaded = slots.load()
    assert loaded is not None and loaded[1] == good


def test_a_model_that_does_not_load_is_not_switched_to(tmp_path: Path) -> None:
    slots = Slots(tmp_path / "slots")
    good = slots.install(tiny_model(tmp_path / "1.ewm", seed=0), image="models/1.ewm", serial=1)
    junk = tmp_path / "junk.ewm"
    junk.write_bytes(b"PK not a model")
    with pytest.raises(ReleaseError, match="does not load"):
        slots.install(junk, image="models/junk.ewm", serial=2)
    assert slots.active() == good


def test_a_damaged_active_slot_falls_back_to_the_previous(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    slots = Slots(tmp_path / "slots")
    one = slots.install(tiny_model(tmp_path / "1.ewm", seed=0), image="models/1.ewm", serial=1)
    two = slots.install(tiny_model(tmp_path / "2.ewm", seed=1), image="models/2.ewm", serial=2)
    damaged = bytearray(slots.path(two.slot).read_bytes())
    damaged[200] ^= 0xFF
    slots.path(two.slot).write_bytes(bytes(damaged))
    loaded = slots.load()
    assert loaded is not None and loaded[1] == one
    assert "the active model (slot b) fails: slot-b.ewm: its bytes changed" in caplog.text


def test_no_model_yet_is_none(tmp_path: Path) -> None:
    assert Slots(tmp_path).load() is None
