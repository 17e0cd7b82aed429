"""Streaming anomaly detectors, each calibrated online into [0, 1] scores and decisions.

Every detector here but :class:`DefaultDetector` (which has its own kernel) and
:class:`ProcessMonitor` (a multivariate model fitted on known-normal data, not yet a step) shares
:class:`CalibratedDetector`'s behaviour: Gaussian tail calibration of its raw score, a warmup, no
learning from flagged readings (with a re-baseline after a long run of them), and an explanation
naming the input at fault.
"""

from ._base import CalibratedDetector, InputModel, JointDetector, PerInputDetector
from ._process_monitor import ProcessMonitor
from .cusum import CUSUM
from .default import DefaultDetector, default_pipeline
from .ewma import EWMAChart
from .forecast import HoltResidual
from .gaussian import WindowedGaussian
from .isolation import StreamingIsolationForest
from .kmeans import OnlineKMeans
from .pyod import PyODDetector
from .river import RiverAdapter, RiverDetector, as_river

__all__ = [
    "CUSUM",
    "CalibratedDetector",
    "DefaultDetector",
    "EWMAChart",
    "HoltResidual",
    "InputModel",
    "JointDetector",
    "OnlineKMeans",
    "PerInputDetector",
    "ProcessMonitor",
    "PyODDetector",
    "RiverAdapter",
    "RiverDetector",
    "StreamingIsolationForest",
    "WindowedGaussian",
    "as_river",
    "default_pipeline",
]
