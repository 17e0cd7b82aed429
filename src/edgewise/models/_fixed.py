"""Fixed-point arithmetic shared by the numpy int8 runtime and the C export.

A real multiplier ``m`` is stored as an int32 ``M`` in [2**30, 2**31) and a right shift, so
``x * m`` becomes ``(x * M + 2**(shift - 1)) >> shift`` in int64: rounding half up, with an
arithmetic shift (what gcc does for signed values on every target we build for).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["multiplier", "requantize", "round_shift"]


def round_shift(
    value: npt.NDArray[np.int64], shift: int | npt.NDArray[Any]
) -> npt.NDArray[np.int64]:
    """``value / 2**shift`` rounded half up, in integers."""
    return (value + (np.int64(1) << (shift - 1))) >> shift


def multiplier(m: float) -> tuple[int, int]:
    """``(M, shift)`` with ``M / 2**shift == m`` to 31 significant bits.

    >>> multiplier(0.75)
    (1610612736, 31)
    >>> multiplier(3.0)
    (1610612736, 29)
    """
    if not m > 0 or not math.isfinite(m):
        raise ValueError(f"a requantization multiplier must be positive and finite, got {m}")
    fraction, exponent = math.frexp(m)
    big = round(fraction * (1 << 31))
    if big == 1 << 31:
        big, exponent = big // 2, exponent + 1
    shift = 31 - exponent
    if not 1 <= shift <= 62:
        raise ValueError(f"multiplier {m} is out of the fixed-point range")
    return big, shift


def requantize(
    acc: npt.NDArray[np.int64], big: npt.NDArray[np.int64], shift: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """``acc * M / 2**shift`` per channel (last axis), rounded half up.

    >>> big, shift = multiplier(0.75)
    >>> requantize(np.array([[10, -10, 3]]), np.array([big] * 3), np.array([shift] * 3)).tolist()
    [[8, -7, 2]]
    """
    return round_shift(acc.astype(np.int64) * big.astype(np.int64), shift.astype(np.int64))
