"""Shared test fixtures: the data directory, and the rule that under CI nothing may skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgewise._datadir import data_dir

# Fixtures that build and start the servers the agent's inputs are tested against.
pytest_plugins = ["peers.servers", "hub.hub_fixtures"]


def need_dataset(name: str) -> Path:
    """The folder of a shared dataset, or skip (fail under CI) when it is absent."""
    try:
        folder = data_dir() / name
    except FileNotFoundError as error:
        reason = str(error)
    else:
        if folder.is_dir():
            return folder
        reason = f"dataset {name} not found at {folder}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (under CI a missing dataset is a failure)")
    pytest.skip(reason)
