"""The streaming core: readings and detections, the step contract, pipelines, specs and state."""

from ._base import Array, Detector, Step, Transformer, Verdict, Verdicts, as_batch, column_names
from ._lanes import FolderStore, MemoryStore, StateStore
from ._persist import load_state, save_state
from ._pipeline import Pipeline
from ._reading import Detection, Explanation, Reading, Values, as_values, number, spreads
from ._registry import Parameter, create, name_of, parameters, register, registry
from ._spec import SpecError, load_spec, param_model, parse_params
from ._state import StateError, state_type

__all__ = [
    "Array",
    "Detection",
    "Detector",
    "Explanation",
    "FolderStore",
    "MemoryStore",
    "Parameter",
    "Pipeline",
    "Reading",
    "SpecError",
    "StateError",
    "StateStore",
    "Step",
    "Transformer",
    "Values",
    "Verdict",
    "Verdicts",
    "as_batch",
    "as_values",
    "column_names",
    "create",
    "load_spec",
    "load_state",
    "name_of",
    "number",
    "param_model",
    "parameters",
    "parse_params",
    "register",
    "registry",
    "save_state",
    "spreads",
    "state_type",
]
