"""Models for the edge: train with scikit-learn, run with numpy only, quantize to int8, export C.

The path is always from raw samples: a window of samples, log2 energies of FFT bands, an MLP,
a class. See ``docs/models.md`` for the file format, the quantization scheme and the C export.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> t = np.arange(64) / 64
>>> x = np.concatenate([np.sin(2 * np.pi * f * t + rng.uniform(0, 6, (40, 1))) for f in (4, 24)])
>>> x += 0.1 * rng.normal(size=x.shape)
>>> y = np.repeat([0, 1], 40)
>>> model = fit_mlp(x, y, classes=["slow", "fast"], bands=4, hidden=8, alpha=1e-3, seed=0)
>>> small = quantize_int8(model, calibration=x)
>>> [model.classes[i] for i in small.predict(x[[0, -1]])]
['slow', 'fast']
"""

from ._adapt import Adaptation, Method, adapt, adapter_parameters
from ._artifact import FORMAT, FORMAT_VERSION, Artifact, ArtifactError, load_artifact, save_artifact
from ._data import (
    Recording,
    Windows,
    add_noise,
    cut,
    held_out_windows,
    load_cwru,
    load_table,
    train_folds,
)
from ._export_c import HOST_HARNESS, export_c, export_header, frontend_source
from ._frontend import band_edges, features_fixed, features_float, quantize_samples
from ._lowrank import Adapter
from ._m4 import M4Run, run_on_m4
from ._quantize import quantize_int8
from ._runtime import Model
from ._train import (
    NOISE_SNR_DB,
    Config,
    Report,
    Score,
    cross_validate,
    fit_feature_mlp,
    fit_mlp,
    grid,
    train_classifier,
)
from ._wisdm import WISDM_FILE, FeatureTable, few_shot, load_wisdm, user_folds

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "HOST_HARNESS",
    "NOISE_SNR_DB",
    "WISDM_FILE",
    "Adaptation",
    "Adapter",
    "Artifact",
    "ArtifactError",
    "Config",
    "FeatureTable",
    "M4Run",
    "Method",
    "Model",
    "Recording",
    "Report",
    "Score",
    "Windows",
    "adapt",
    "adapter_parameters",
    "add_noise",
    "band_edges",
    "cross_validate",
    "cut",
    "export_c",
    "export_header",
    "features_fixed",
    "features_float",
    "few_shot",
    "fit_feature_mlp",
    "fit_mlp",
    "frontend_source",
    "grid",
    "held_out_windows",
    "load_artifact",
    "load_cwru",
    "load_table",
    "load_wisdm",
    "quantize_int8",
    "quantize_samples",
    "run_on_m4",
    "save_artifact",
    "train_classifier",
    "train_folds",
    "user_folds",
]
