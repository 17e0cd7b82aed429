"""Fusion: redundant sensors of one quantity combined into one estimate with its uncertainty."""

from .inverse_variance import InverseVarianceFusion
from .kalman import KalmanFusion

__all__ = ["InverseVarianceFusion", "KalmanFusion"]
