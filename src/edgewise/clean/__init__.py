"""Data cleaning: range limits, spikes, stuck sensors, duplicates, late readings, resampling, gaps.

Value checks (:class:`RangeLimit`, :class:`Hampel`, :class:`Flatline`) judge single values and
take an ``action``: flag the value, mark it missing or (range limits) clip it; each records the
fault in ``reading.flags[name]``. The other steps work on whole readings of each stream.
"""

from .dedup import Deduplicate
from .flatline import Flatline
from .gap import GapDetector
from .hampel import Hampel
from .range_limit import RangeLimit
from .reorder import Reorder
from .resample import Resample

__all__ = [
    "Deduplicate",
    "Flatline",
    "GapDetector",
    "Hampel",
    "RangeLimit",
    "Reorder",
    "Resample",
]
