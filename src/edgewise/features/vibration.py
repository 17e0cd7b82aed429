"""Vibration features: RMS, kurtosis, crest factor and band powers of a window of samples."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from edgewise.stream import Reading, Step, register

__all__ = ["VibrationFeatures", "band_name", "vibration_features"]

Band = tuple[float, float]


def band_name(band: Band) -> str:
    """The feature name of a frequency band: ``band_<low>_<high>``, in Hz.

    Examples
    --------
    >>> band_name((0.0, 500.0)), band_name((12.5, 25.0))
    ('band_0_500', 'band_12.5_25')
    """
    return f"band_{band[0]:g}_{band[1]:g}"


def vibration_features(
    signal: ArrayLike, *, sample_rate: float, bands: Sequence[Band]
) -> dict[str, float]:
    """Condition-monitoring features of one window of a vibration signal.

    * ``rms``: root mean square, ``sqrt(mean(x**2))`` (the mean is not removed).
    * ``kurtosis``: Pearson's kurtosis, ``m4 / m2**2`` with central moments (3 for a Gaussian,
      1.5 for a sine); equal to ``scipy.stats.kurtosis(x, fisher=False, bias=True)``.
    * ``crest_factor``: ``max(abs(x)) / rms``.
    * ``band_<low>_<high>``: the power of the signal in the band ``low <= f < high`` Hz, from
      ``numpy.fft.rfft``, normalised so that the powers of all frequencies add up to ``rms**2``
      (Parseval): bin ``k`` holds ``|X_k|**2 / n**2``, doubled except for the zero and Nyquist
      frequencies. This equals the sum of ``scipy.signal.periodogram(x, fs, scaling="spectrum")``
      over the band (a rectangular window, no detrending).

    A constant signal has a ``nan`` kurtosis; an all-zero one also a ``nan`` crest factor.

    Examples
    --------
    >>> t = np.arange(1000) / 1000.0
    >>> features = vibration_features(
    ...     2.0 * np.sin(2 * np.pi * 50.0 * t), sample_rate=1000.0, bands=[(0, 100), (100, 500)]
    ... )
    >>> {k: round(v, 6) for k, v in features.items()}
    {'rms': 1.414214, 'kurtosis': 1.5, 'crest_factor': 1.414214,
     'band_0_100': 2.0, 'band_100_500': 0.0}
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"signal must be a non-empty 1-D array, got shape {x.shape}")
    n = x.size
    rms = math.sqrt(float(np.mean(x * x)))
    centred = x - np.mean(x)
    m2 = float(np.mean(centred**2))
    m4 = float(np.mean(centred**4))
    power = np.abs(np.fft.rfft(x)) ** 2 / n**2
    power[1 : (n + 1) // 2] *= 2.0  # one-sided: every frequency but 0 and Nyquist appears twice
    freqs = np.fft.rfftfreq(n, d=1.0 / sample_rate)
    features = {
        "rms": rms,
        "kurtosis": m4 / m2**2 if m2 > 0 else math.nan,
        "crest_factor": float(np.max(np.abs(x))) / rms if rms > 0 else math.nan,
    }
    for low, high in bands:
        features[band_name((low, high))] = float(power[(freqs >= low) & (freqs < high)].sum())
    return features


@register("vibration_features")
class VibrationFeatures(Step):
    """Buffer a vibration signal's samples and emit its features once per hop.

    Each reading carries one sample of ``input``. Once ``window`` samples are buffered, and then
    every ``hop`` samples, the step emits one reading (0 or 1 per input reading) holding
    :func:`vibration_features` of the last ``window`` samples, named ``<input>_rms``,
    ``<input>_kurtosis``, ``<input>_crest_factor`` and ``<input>_band_<low>_<high>``, with the
    stream and timestamp of the reading that completed it. Missing samples are skipped: the window
    holds the last ``window`` samples present.

    Parameters
    ----------
    input
        Name of the value holding the samples.
    window
        Samples per window (the FFT length).
    hop
        Samples between two emissions (``hop < window``: overlapping windows).
    sample_rate
        Samples per second, for the frequencies of the bands.
    bands
        Frequency bands ``(low, high)`` in Hz whose powers are features.

    Examples
    --------
    >>> step = VibrationFeatures(input="acc", window=4, hop=2, sample_rate=4.0, bands=[(0, 2)])
    >>> emitted = [step.update(Reading("m", float(i), {"acc": v}))
    ...            for i, v in enumerate([1.0, -1.0, 1.0, -1.0, 2.0, -2.0])]
    >>> [len(e) for e in emitted]
    [0, 0, 0, 1, 0, 1]
    >>> emitted[-1][0].values
    {'acc_rms': 1.5811..., 'acc_kurtosis': 1.36, 'acc_crest_factor': 1.2649...,
     'acc_band_0_2': 0.25}
    """

    buffer_: deque[float]
    due_: int  # samples still to come before the next emission
    emitted_: int  # readings emitted so far: the next one's sequence number

    def __init__(
        self,
        *,
        input: str,
        window: int = 1024,
        hop: int = 512,
        sample_rate: float = 12_000.0,
        bands: Sequence[Band] = ((0.0, 1000.0), (1000.0, 3000.0), (3000.0, 6000.0)),
    ) -> None:
        self.input = input
        self.window = window
        self.hop = hop
        self.sample_rate = sample_rate
        self.bands = bands

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"input": "x0", "window": 16, "hop": 4, "sample_rate": 100.0, "bands": [(0, 10)]}

    def _update(self, reading: Reading) -> list[Reading]:
        if not hasattr(self, "buffer_"):
            for name in ("window", "hop"):
                value = getattr(self, name)
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"{name} must be an int >= 1, got {value!r}")
            if not self.sample_rate > 0:
                raise ValueError(f"sample_rate must be > 0, got {self.sample_rate}")
            if any(not 0 <= low < high for low, high in self.bands):
                raise ValueError(
                    f"bands must be (low, high) pairs, 0 <= low < high: {self.bands!r}"
                )
            self.buffer_ = deque(maxlen=self.window)
            self.due_ = self.window
            self.emitted_ = 0
        sample = reading.values.get(self.input, math.nan)
        if math.isnan(sample):
            return []
        self.buffer_.append(sample)
        self.due_ -= 1
        if self.due_ > 0:
            return []
        self.due_ = self.hop
        features = vibration_features(
            np.array(self.buffer_), sample_rate=self.sample_rate, bands=self.bands
        )
        values = {f"{self.input}_{name}": value for name, value in features.items()}
        self.emitted_ += 1
        return [
            Reading(
                reading.stream,
                reading.timestamp,
                values,
                seq=self.emitted_ - 1,
                received=reading.received,
            )
        ]
