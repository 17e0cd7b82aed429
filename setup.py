"""Builds the default detector's C kernel with the package (cffi); pyproject.toml has the rest.

The extension is optional: where it cannot be compiled the install goes on and the detector runs
its numba kernel (``edgewise.detect._default_backend``).
"""

from setuptools import setup

setup(cffi_modules=["src/edgewise/detect/_ckernel/build.py:ffi"])
