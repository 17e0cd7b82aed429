"""The same CWRU model through emlearn (an optional bench dependency): emlearn's generated C
for the MLP, fed by edgewise's float front end, so the firmware runs the same raw-samples path.

emlearn emits MLPs in float32 (or Q16 fixed point) from their weights; it has no int8 network
and no FFT band-energy front end of this shape, so the comparison is float MLP against our
int8 firmware, on the same front end, toolchain, flags and flash/RAM accounting.
"""

from __future__ import annotations

from pathlib import Path

from edgewise.models import Model, frontend_source

__all__ = ["emlearn_include", "emlearn_source", "emlearn_version"]

_PREFIX = "ew_mlp"


def emlearn_version() -> str:
    """The installed emlearn's version."""
    from importlib.metadata import version

    return version("emlearn")


def emlearn_include() -> Path:
    """The folder of emlearn's C headers."""
    import emlearn

    return Path(emlearn.includedir)


def emlearn_source(model: Model) -> str:
    """``ew_model.c`` for ``model``: our front end, emlearn's float MLP (its ``loadable``
    form: the ``inline`` one fails to generate in emlearn 0.23.2), ``ew_predict`` (its
    "logits" are emlearn's softmax outputs)."""
    from emlearn.net import c_generate_net_loadable

    layers = range(len(model.layers))
    tensors = model.artifact.tensors
    network = c_generate_net_loadable(
        ["relu"] * (len(model.layers) - 1) + ["softmax"],
        [tensors[f"layer{i}.weight"] for i in layers],
        [tensors[f"layer{i}.bias"] for i in layers],
        prefix=_PREFIX,
    )
    glue = f"""
int ew_predict(const ew_sample_t *samples, ew_logit_t *logits) {{
    static float features[EW_BANDS];
    ew_features(samples, features);
    eml_net_predict_proba(&{_PREFIX}, features, EW_BANDS, logits, EW_CLASSES);
    return (int){_PREFIX}_predict(features, EW_BANDS);
}}
"""
    return frontend_source(model) + str(network) + glue
