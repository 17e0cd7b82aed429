"""Features: rolling statistics of values, and vibration features of sampled signals."""

from .rolling import RollingStats
from .vibration import VibrationFeatures, vibration_features

__all__ = ["RollingStats", "VibrationFeatures", "vibration_features"]
