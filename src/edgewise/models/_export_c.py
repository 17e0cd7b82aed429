"""C99 export of a model, the whole path from raw samples: FFT front end, MLP, class.

No dynamic allocation: the workspace is static. ``ew_predict(samples, logits)`` returns the
class index. Float models take ``float`` samples in the training unit and compute in float32
(within a stated tolerance of the numpy runtime); int8 models take ``int16_t`` counts
(``round(x * EW_INPUT_SCALE)``) and compute in integers only, bit-exact with the numpy runtime.
Signed right shifts are assumed arithmetic, as gcc and clang implement them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._frontend import LOG2_FRACTION_BITS, TWIDDLE_BITS, band_edges, twiddles_fixed
from ._runtime import _ACTIVATION_LIMIT, INT8_LOGIT_LIMIT, Model

__all__ = ["HOST_HARNESS", "export_c", "export_header", "frontend_source"]

_CTYPE = {"float32": "float", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t"}


def _array(name: str, values: npt.NDArray[Any], ctype: str) -> str:
    flat = values.ravel()
    if ctype == "float":
        items: Iterable[str] = (
            f"{float(v)!r}f" if np.isfinite(v) else "0.0f" for v in flat.astype(np.float32)
        )
    else:
        items = (str(int(v)) for v in flat)
    body = ",".join(items)
    return f"static const {ctype} {name}[{flat.size}] = {{{body}}};\n"


_FFT_FLOAT = """
static float ew_re[EW_WINDOW], ew_im[EW_WINDOW];

static void ew_features(const float *samples, float *out) {
    for (int j = 0; j < EW_WINDOW; ++j) {
        int r = 0;
        for (int b = 1, k = j; b < EW_WINDOW; b <<= 1, k >>= 1) r = (r << 1) | (k & 1);
        ew_re[j] = samples[r];
        ew_im[j] = 0.0f;
    }
    for (int half = 1; half < EW_WINDOW; half <<= 1) {
        int step = EW_WINDOW / (2 * half);
        for (int start = 0; start < EW_WINDOW; start += 2 * half) {
            for (int k = 0; k < half; ++k) {
                float wr = ew_cos[k * step], wi = ew_sin[k * step];
                int a = start + k, b = a + half;
                float tr = ew_re[b] * wr - ew_im[b] * wi;
                float ti = ew_re[b] * wi + ew_im[b] * wr;
                ew_re[b] = ew_re[a] - tr; ew_im[b] = ew_im[a] - ti;
                ew_re[a] += tr; ew_im[a] += ti;
            }
        }
    }
    for (int band = 0; band < EW_BANDS; ++band) {
        float energy = 0.0f;
        for (int k = ew_edges[band]; k < ew_edges[band + 1]; ++k) {
            energy += ew_re[k] * ew_re[k] + ew_im[k] * ew_im[k];
        }
        out[band] = (log2f(energy + 1e-30f) - ew_mean[band]) / ew_std[band];
    }
}
"""

_DENSE_FLOAT = """
static void ew_dense(const float *in, int n_in, const float *w, const float *bias, int n_out,
                     int relu, float *out) {
    for (int o = 0; o < n_out; ++o) {
        float acc = bias[o];
        for (int i = 0; i < n_in; ++i) acc += in[i] * w[i * n_out + o];
        out[o] = (relu && acc < 0.0f) ? 0.0f : acc;
    }
}
"""

_FFT_INT = """
static int32_t ew_re[EW_WINDOW], ew_im[EW_WINDOW];

static int64_t ew_round_shift(int64_t value, int shift) {
    return (value + ((int64_t)1 << (shift - 1))) >> shift;
}

static int32_t ew_clamp(int64_t value, int32_t lo, int32_t hi) {
    return value < lo ? lo : value > hi ? hi : (int32_t)value;
}

static int32_t ew_log2(int64_t value) {
    int64_t v = value;
    int32_t exponent = 0;
    for (int k = 32; k > 0; k >>= 1) {
        if ((v >> k) > 0) { exponent += k; v >>= k; }
    }
    int64_t top = (value << (62 - exponent)) >> (62 - EW_LOG2_BITS);
    return exponent * (1 << EW_LOG2_BITS) + (int32_t)(top & ((1 << EW_LOG2_BITS) - 1));
}

static void ew_features(const int16_t *samples, int8_t *out) {
    for (int j = 0; j < EW_WINDOW; ++j) {
        int r = 0;
        for (int b = 1, k = j; b < EW_WINDOW; b <<= 1, k >>= 1) r = (r << 1) | (k & 1);
        ew_re[j] = samples[r];
        ew_im[j] = 0;
    }
    for (int half = 1; half < EW_WINDOW; half <<= 1) {
        int step = EW_WINDOW / (2 * half);
        for (int start = 0; start < EW_WINDOW; start += 2 * half) {
            for (int k = 0; k < half; ++k) {
                int64_t wr = ew_cos[k * step], wi = ew_sin[k * step];
                int a = start + k, b = a + half;
                int32_t tr = (int32_t)ew_round_shift(ew_re[b] * wr - ew_im[b] * wi, EW_TW_BITS);
                int32_t ti = (int32_t)ew_round_shift(ew_re[b] * wi + ew_im[b] * wr, EW_TW_BITS);
                ew_re[b] = ew_re[a] - tr; ew_im[b] = ew_im[a] - ti;
                ew_re[a] += tr; ew_im[a] += ti;
            }
        }
    }
    for (int band = 0; band < EW_BANDS; ++band) {
        int64_t energy = 1;
        for (int k = ew_edges[band]; k < ew_edges[band + 1]; ++k) {
            energy += (int64_t)ew_re[k] * ew_re[k] + (int64_t)ew_im[k] * ew_im[k];
        }
        int64_t centred = (int64_t)ew_log2(energy) - ew_offset[band];
        int64_t scaled = ew_round_shift(centred * ew_multiplier[band], ew_shift[band]);
        out[band] = (int8_t)ew_clamp(scaled, -EW_ACT_MAX, EW_ACT_MAX);
    }
}

static void ew_dense(const int8_t *in, int n_in, const int8_t *w, const int32_t *bias,
                     const int32_t *mult, const int8_t *shift, int n_out, int32_t lo, int32_t hi,
                     int32_t *out) {
    for (int o = 0; o < n_out; ++o) {
        int32_t acc = bias[o];
        for (int i = 0; i < n_in; ++i) acc += (int32_t)in[i] * w[i * n_out + o];
        out[o] = ew_clamp(ew_round_shift((int64_t)acc * mult[o], shift[o]), lo, hi);
    }
}
"""


def export_header(model: Model) -> str:
    """The text of ``ew_model.h``: sizes, sample and logit types, ``ew_predict``'s prototype."""
    return _header(model, model.precision == "int8")


def _header(model: Model, int8: bool) -> str:
    manifest = model.artifact.manifest
    lines = [
        "/* Generated by edgewise export c: the model's whole path from raw samples to a class. */",
        "#ifndef EW_MODEL_H",
        "#define EW_MODEL_H",
        "#include <stdint.h>",
        f"#define EW_WINDOW {model.window}",
        f"#define EW_BANDS {model.bands}",
        f"#define EW_CLASSES {len(model.classes)}",
        f"#define EW_INT8 {int(int8)}",
    ]
    if int8:
        lines += [
            "/* int16 counts per unit of the samples */",
            f"#define EW_INPUT_SCALE {float(manifest['frontend']['input_scale'])!r}",
            "typedef int16_t ew_sample_t;",
            "typedef int32_t ew_logit_t;",
        ]
    else:
        lines += ["typedef float ew_sample_t;", "typedef float ew_logit_t;"]
    names = ", ".join(f'"{c}"' for c in model.classes)
    lines += [
        f"static const char *const ew_class_names[EW_CLASSES] = {{{names}}};",
        "/* Writes the logits of one window and returns the index of the most likely class. */",
        "int ew_predict(const ew_sample_t *samples, ew_logit_t *logits);",
        "#endif",
    ]
    return "\n".join(lines) + "\n"


def _frontend_float(model: Model) -> str:
    angle = 2 * np.pi * np.arange(model.window // 2) / model.window
    t = model.artifact.tensors
    return "".join(
        [
            "#include <math.h>\n",
            _array("ew_cos", np.cos(angle), "float"),
            _array("ew_sin", -np.sin(angle), "float"),
            _array("ew_mean", t["frontend.mean"], "float"),
            _array("ew_std", t["frontend.std"], "float"),
            _FFT_FLOAT,
        ]
    )


def frontend_source(model: Model) -> str:
    """The float front end alone, C99: ``ew_model.h``'s macros in, and
    ``static void ew_features(const float *samples, float *out)`` writing the standardised
    band energies. For pairing another tool's network C with the same front end."""
    if model.precision != "float32" or model.feature_input:
        raise ValueError("the front end alone is exported for float models on raw samples")
    edges = band_edges(window=model.window, bands=model.bands)
    return '#include "ew_model.h"\n' + _array("ew_edges", edges, "int16_t") + _frontend_float(model)


def _source(model: Model, int8: bool) -> str:
    t = model.artifact.tensors
    widest = max([model.bands, *(int(layer["units"]) for layer in model.layers)])
    parts = ['#include "ew_model.h"\n']
    edges = band_edges(window=model.window, bands=model.bands)
    parts.append(_array("ew_edges", edges, "int16_t"))
    if int8:
        cos, sin = twiddles_fixed(model.window)
        parts += [
            f"#define EW_TW_BITS {TWIDDLE_BITS}\n#define EW_LOG2_BITS {LOG2_FRACTION_BITS}\n",
            f"#define EW_ACT_MAX {_ACTIVATION_LIMIT}\n#define EW_LOGIT_MAX {INT8_LOGIT_LIMIT}\n",
            _array("ew_cos", cos, "int32_t"),
            _array("ew_sin", sin, "int32_t"),
        ]
        for key in ("offset", "multiplier", "shift"):
            parts.append(
                _array(f"ew_{key}", t[f"frontend.{key}"], _CTYPE[t[f"frontend.{key}"].dtype.name])
            )
        parts.append(_FFT_INT)
        parts.append(f"static int8_t ew_act[{widest}];\nstatic int32_t ew_wide[{widest}];\n")
    else:
        parts += [_frontend_float(model), _DENSE_FLOAT]
        parts.append(f"static float ew_act[{widest}], ew_next[{widest}];\n")
    for i in range(len(model.layers)):
        for key in ("weight", "bias", *(("multiplier", "shift") if int8 else ())):
            tensor = t[f"layer{i}.{key}"]
            parts.append(_array(f"ew_l{i}_{key}", tensor, _CTYPE[tensor.dtype.name]))
    body = [
        "int ew_predict(const ew_sample_t *samples, ew_logit_t *logits) {",
        "    ew_features(samples, ew_act);",
    ]
    n_in = model.bands
    for i, layer in enumerate(model.layers):
        n_out = int(layer["units"])
        last = i == len(model.layers) - 1
        if int8:
            lo, hi = ("-EW_LOGIT_MAX", "EW_LOGIT_MAX") if last else ("0", "EW_ACT_MAX")
            target = "logits" if last else "ew_wide"
            body.append(
                f"    ew_dense(ew_act, {n_in}, ew_l{i}_weight, ew_l{i}_bias, ew_l{i}_multiplier, "
                f"ew_l{i}_shift, {n_out}, {lo}, {hi}, {target});"
            )
            if not last:
                body.append(
                    f"    for (int o = 0; o < {n_out}; ++o) ew_act[o] = (int8_t)ew_wide[o];"
                )
        else:
            target = "logits" if last else "ew_next"
            body.append(
                f"    ew_dense(ew_act, {n_in}, ew_l{i}_weight, ew_l{i}_bias, {n_out}, "
                f"{int(not last)}, {target});"
            )
            if not last:
                body.append(f"    for (int o = 0; o < {n_out}; ++o) ew_act[o] = ew_next[o];")
        n_in = n_out
    body += [
        "    int best = 0;",
        "    for (int c = 1; c < EW_CLASSES; ++c) if (logits[c] > logits[best]) best = c;",
        "    return best;",
        "}",
    ]
    parts.append("\n".join(body) + "\n")
    return "\n".join(parts)


HOST_HARNESS = """/* Reads windows of raw samples (native ew_sample_t) on stdin; writes, per window,
   the class (int32) and the logits (ew_logit_t) on stdout. */
#include <stdio.h>
#include "ew_model.h"

int main(void) {
    static ew_sample_t window[EW_WINDOW];
    ew_logit_t logits[EW_CLASSES];
    while (fread(window, sizeof window[0], EW_WINDOW, stdin) == EW_WINDOW) {
        int32_t predicted = ew_predict(window, logits);
        fwrite(&predicted, sizeof predicted, 1, stdout);
        fwrite(logits, sizeof logits[0], EW_CLASSES, stdout);
    }
    return 0;
}
"""


def export_c(model: Model, out: Path, *, harness: bool = False) -> list[Path]:
    """Write ``ew_model.h`` and ``ew_model.c`` (and ``ew_main.c``, a stdin/stdout harness)."""
    if model.feature_input or model.adapter is not None:
        raise ValueError(
            "C export covers models on raw samples without an adapter (this one "
            + ("takes precomputed features)" if model.feature_input else "has an adapter)")
        )
    int8 = model.precision == "int8"
    out.mkdir(parents=True, exist_ok=True)
    files = {"ew_model.h": _header(model, int8), "ew_model.c": _source(model, int8)}
    if harness:
        files["ew_main.c"] = HOST_HARNESS
    paths = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
