"""The streaming core: readings, the step contract, pipelines and the step registry."""

from ._base import Array, Detection, Detections, Detector, Step, Transformer, column_names
from ._pipeline import Pipeline
from ._reading import Explanation, Reading, Values, as_values
from ._registry import Parameter, create, parameters, parse_params, register, registry

__all__ = [
    "Array",
    "Detection",
    "Detections",
    "Detector",
    "Explanation",
    "Parameter",
    "Pipeline",
    "Reading",
    "Step",
    "Transformer",
    "Values",
    "as_values",
    "column_names",
    "create",
    "parameters",
    "parse_params",
    "register",
    "registry",
]
