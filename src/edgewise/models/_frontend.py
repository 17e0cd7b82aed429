"""The raw-samples front end: a window of samples -> log2 energies of FFT bands.

Two versions of the same features. The float one (numpy's FFT) is what models are trained on.
The integer one is what int8 models run: int16 samples, a radix-2 FFT in int32 with Q30
twiddles, int64 band energies and a fixed-point log2. It uses only integer adds, multiplies and
arithmetic shifts, so the C export reproduces it bit for bit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._fixed import round_shift

__all__ = [
    "LOG2_FRACTION_BITS",
    "TWIDDLE_BITS",
    "band_edges",
    "bit_reversal",
    "features_fixed",
    "features_float",
    "fixed_log2",
    "quantize_samples",
    "twiddles_fixed",
]

TWIDDLE_BITS = 30
"""Twiddle factors are Q30 int32: products with int32 data fit in int64."""
LOG2_FRACTION_BITS = 8
"""The fixed-point log2 has 8 fraction bits (a feature of 10.5 is 2688)."""


def _check(window: int, bands: int) -> None:
    if window < 4 or window & (window - 1):
        raise ValueError(f"the window must be a power of two >= 4, got {window}")
    if bands < 1 or (window // 2) % bands:
        raise ValueError(f"{bands} bands do not divide the {window // 2} bins of the window")


def band_edges(*, window: int, bands: int) -> npt.NDArray[np.int64]:
    """First bin of each band and one past the last: equal bands over bins 1 .. window/2.

    >>> band_edges(window=16, bands=4).tolist()
    [1, 3, 5, 7, 9]
    """
    _check(window, bands)
    return np.arange(bands + 1, dtype=np.int64) * (window // 2 // bands) + 1


def features_float(samples: npt.ArrayLike, *, bands: int) -> npt.NDArray[np.float64]:
    """log2 of the energy of each band of each window (rows of ``samples``).

    >>> t = np.arange(64) / 64
    >>> f = features_float(np.sin(2 * np.pi * 20 * t)[None, :], bands=4)
    >>> int(np.argmax(f[0]))  # bin 20 lies in the third band (bins 17-24)
    2
    """
    x = np.asarray(samples, dtype=np.float64)
    edges = band_edges(window=x.shape[-1], bands=bands)
    power = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    energy = np.add.reduceat(power[..., edges[0] : edges[-1]], edges[:-1] - edges[0], axis=-1)
    return np.log2(energy + 1e-30)


def quantize_samples(samples: npt.ArrayLike, *, scale: float) -> npt.NDArray[np.int16]:
    """Samples in their unit -> int16 counts (``round(x * scale)``, clipped), as an ADC gives.

    >>> quantize_samples([0.5, -2.0, 1e9], scale=100.0).tolist()
    [50, -200, 32767]
    """
    x = np.rint(np.asarray(samples, dtype=np.float64) * scale)
    return np.clip(x, -32767, 32767).astype(np.int16)


def bit_reversal(window: int) -> npt.NDArray[np.int64]:
    """The bit-reversed order of ``range(window)`` that starts an iterative radix-2 FFT."""
    bits = window.bit_length() - 1
    index = np.arange(window)
    reversed_ = np.zeros(window, dtype=np.int64)
    for bit in range(bits):
        reversed_ |= ((index >> bit) & 1) << (bits - 1 - bit)
    return reversed_


def twiddles_fixed(window: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Q30 cos and -sin of ``2 pi k / window`` for k < window/2 (the C export's table)."""
    angle = 2 * np.pi * np.arange(window // 2) / window
    one = 1 << TWIDDLE_BITS
    return np.rint(np.cos(angle) * one).astype(np.int64), np.rint(-np.sin(angle) * one).astype(
        np.int64
    )


def _fft_fixed(samples: npt.NDArray[np.int16]) -> tuple[npt.NDArray[np.int64], ...]:
    """Iterative radix-2 FFT of int16 rows: every butterfly rounds its product once.

    Values stay within int32 (at most window * 32767 < 2**31 for windows up to 2**16).
    """
    n, window = samples.shape
    re = samples[:, bit_reversal(window)].astype(np.int64)
    im = np.zeros_like(re)
    cos, sin = twiddles_fixed(window)
    half = 1
    while half < window:
        step = window // (2 * half)
        wr, wi = cos[::step][:half], sin[::step][:half]
        re3 = re.reshape(n, -1, 2 * half)
        im3 = im.reshape(n, -1, 2 * half)
        ar, ai = re3[..., :half].copy(), im3[..., :half].copy()
        br, bi = re3[..., half:], im3[..., half:]
        tr = round_shift(br * wr - bi * wi, TWIDDLE_BITS)
        ti = round_shift(br * wi + bi * wr, TWIDDLE_BITS)
        re3[..., :half], im3[..., :half] = ar + tr, ai + ti
        re3[..., half:], im3[..., half:] = ar - tr, ai - ti
        half *= 2
    return re, im


def fixed_log2(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """log2 of positive int64 values below 2**62, in Q8: exponent and 8 mantissa bits.

    The mantissa is read linearly (error below 0.09 in log2); 0 maps to 0.

    >>> fixed_log2(np.array([1, 2, 3, 1024])).tolist()
    [0, 256, 384, 2560]
    """
    v = values.astype(np.int64)
    exponent = np.zeros_like(v)
    for k in (32, 16, 8, 4, 2, 1):
        big = (v >> k) > 0
        exponent += k * big
        v = np.where(big, v >> k, v)
    top = (values.astype(np.int64) << (62 - exponent)) >> (62 - LOG2_FRACTION_BITS)
    return exponent * (1 << LOG2_FRACTION_BITS) + (top & ((1 << LOG2_FRACTION_BITS) - 1))


def features_fixed(samples: npt.NDArray[np.int16], *, bands: int) -> npt.NDArray[np.int64]:
    """Q8 log2 of (1 + the int64 energy of each band) of int16 windows: bit-exact with C.

    About ``features_float(samples / scale) + 2 * log2(scale)``, times 256.
    """
    if samples.dtype != np.int16 or samples.ndim != 2:
        raise ValueError("the integer front end takes a 2-D array of int16 windows")
    edges = band_edges(window=samples.shape[1], bands=bands)
    re, im = _fft_fixed(samples)
    power = re[:, edges[0] : edges[-1]] ** 2 + im[:, edges[0] : edges[-1]] ** 2
    energy = np.add.reduceat(power, edges[:-1] - edges[0], axis=1)
    return fixed_log2(energy + 1)
