"""NAB's application profiles: the weights of detections, false alarms and misses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ._corpus import nab_dir

__all__ = ["PROFILE_NAMES", "Profile", "load_profiles"]

PROFILE_NAMES: Final = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
"""The three published profiles, in the scoreboard's order."""


@dataclass(frozen=True, slots=True)
class Profile:
    """A cost profile (NAB's ``CostMatrix``; its ``tnWeight`` plays no part in the score).

    Parameters
    ----------
    name
        The profile's name, e.g. ``"standard"``.
    tp_weight
        Reward of a window's first detection on the window's first row.
    fp_weight
        Cost of a false positive far from any window.
    fn_weight
        Cost of a window with no detection.
    """

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


def load_profiles(data: Path | None = None) -> dict[str, Profile]:
    """The profiles of ``config/profiles.json`` in the NAB folder ``data`` (see ``nab_dir``)."""
    with (nab_dir(data) / "config" / "profiles.json").open() as handle:
        raw: dict[str, dict[str, dict[str, float]]] = json.load(handle)
    return {
        name: Profile(
            name=name,
            tp_weight=float(entry["CostMatrix"]["tpWeight"]),
            fp_weight=float(entry["CostMatrix"]["fpWeight"]),
            fn_weight=float(entry["CostMatrix"]["fnWeight"]),
        )
        for name, entry in raw.items()
    }
