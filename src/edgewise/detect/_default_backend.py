"""The default detector's kernel as the detector calls it: the C build where there is one.

The C port (``_ckernel/default_kernel.c``, built by cffi into ``_default_ckernel`` when the package
is installed) runs the same operations as the numba kernel in the same order, on the same state
arrays, and gives the same bits; it spares the process numba and LLVM (about 130 MB once a kernel
has run). Where it is not built (a source tree run from ``PYTHONPATH=src``, an install without a C
compiler) the numba kernel runs, and one log line says so.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _default_kernel as kernel
from ._ckernel.digest import source_digest

__all__ = ["C_KERNEL", "c_step", "run_column", "step_function"]

log = logging.getLogger(__name__)

Step = Callable[[NDArray[np.float64], float, int], float]

try:
    from ._default_ckernel import ffi as _ffi  # type: ignore[import-not-found,unused-ignore]
    from ._default_ckernel import lib as _lib  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    _ffi = _lib = None
    log.info("the default detector's C kernel is not built: it runs on numba")
else:
    _built_from = _ffi.string(_lib.ew_default_source_digest()).decode()
    if _built_from != (source_digest() or _built_from):
        _ffi = _lib = None
        log.warning(
            "the default detector's C kernel was built from other sources: it runs on numba "
            "until it is built again (`pip install -e .`)"
        )

#: Whether the C kernel runs the default detector.
C_KERNEL = _lib is not None

# A state's data pointer, made once per array: cffi's ``from_buffer`` costs more than the kernel's
# work. The pointer does not keep the array alive; the entry goes with the array, and is checked
# against it, so an id the array's death frees never finds a stale pointer.
Entry = tuple[weakref.ref[NDArray[np.float64]], Any]
_pointers: dict[int, Entry] = {}


def _new_pointer(state: NDArray[np.float64]) -> Entry:
    if state.dtype != np.float64 or not state.flags.c_contiguous or not state.flags.writeable:
        raise TypeError("a kernel state is a writable, contiguous float64 array")
    key = id(state)
    entry = (
        weakref.ref(state, lambda _: _pointers.pop(key, None)),
        _ffi.cast("double *", _ffi.from_buffer("double[]", state)),
    )
    _pointers[key] = entry
    return entry


def c_step(state: NDArray[np.float64], x: float, mode: int) -> float:
    """:func:`._default_kernel.step`, in C (only where :data:`C_KERNEL`)."""
    entry = _pointers.get(id(state))  # inline: this runs once per reading
    if entry is None or entry[0]() is not state:
        entry = _new_pointer(state)
    score: float = _lib.ew_default_step(entry[1], x, mode)
    return score


def step_function() -> Step:
    """The per-reading step: C's where it is built, else numba's (a dispatcher once compiled)."""
    if _lib is not None:
        return c_step
    numba_step: Step = kernel.step
    return numba_step


def run_column(
    state: NDArray[np.float64],
    values: NDArray[np.float64],
    scores: NDArray[np.float64],
    views: NDArray[np.float64],
    events: NDArray[np.float64],
    evidence: NDArray[np.float64],
) -> None:
    """:func:`._default_kernel.run_column`, in C where it is built."""
    if _lib is None:
        kernel.run_column(state, values, scores, views, events, evidence)
        return
    arrays = (state, values, scores, views, events, evidence)
    if any(a.dtype != np.float64 or not a.flags.c_contiguous for a in arrays):
        raise TypeError("run_column takes contiguous float64 arrays")
    state_, values_, *outputs = [_ffi.from_buffer("double[]", a) for a in arrays]
    _lib.ew_default_run_column(state_, values_, len(values), *outputs)
