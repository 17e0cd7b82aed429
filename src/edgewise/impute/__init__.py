"""Imputation: fill missing values in a stream, flag them ``"imputed"`` and count them."""

from .change import ChangeRegression
from .kalman import Kalman
from .last import LastValue
from .linear import Linear
from .regression import Regression
from .seasonal import Seasonal

__all__ = ["ChangeRegression", "Kalman", "LastValue", "Linear", "Regression", "Seasonal"]
