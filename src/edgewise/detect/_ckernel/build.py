"""cffi's build of the default detector's C kernel: ``edgewise.detect._default_ckernel``.

``pip install .`` (or ``-e .``) builds it through ``setup.py``; in a source tree run from
``PYTHONPATH=src``, build it in place with ``python setup.py build_ext --inplace``.
Where it is not built the detector runs the numba kernel. This file imports only cffi: it runs
in pip's isolated build environment, before numpy or edgewise are installed.
"""

from __future__ import annotations

import runpy
from pathlib import Path

from cffi import FFI

# Relative to the project's root, where setuptools runs (it takes no absolute paths).
HERE = "src/edgewise/detect/_ckernel"

# setuptools runs this file outside its package, so the digest's module is run by its path.
source_digest = runpy.run_path(str(Path(__file__).with_name("digest.py")))["source_digest"]

ffi = FFI()
ffi.cdef(
    """
    double ew_default_step(double *state, double x, int64_t mode);
    void ew_default_run_column(double *state, const double *values, int64_t n, double *scores,
                               double *views, double *events, double *evidence);
    const char *ew_default_source_digest(void);
    """
)
# The same bits as numba's kernel: IEEE arithmetic in source order, no fused multiply-adds.
ffi.set_source(
    "edgewise.detect._default_ckernel",
    '#include "default_kernel.h"\n'
    f'static const char *ew_default_source_digest(void) {{ return "{source_digest()}"; }}',
    sources=[f"{HERE}/default_kernel.c"],
    include_dirs=[HERE],
    extra_compile_args=["-std=c99", "-O3", "-ffp-contract=off", "-fno-fast-math"],
    libraries=["m"],
    optional=True,  # no compiler: the install goes on, and the detector runs on numba
)
