"""edgewise: machine learning for IoT at the edge.

Clean, impute, fuse and featurise sensor streams, and detect anomalies in them, one reading at a
time or in batches, on the device where the data is born.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edgewise")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
