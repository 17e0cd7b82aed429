"""Data-quality benchmark: imputation, cleaning, fusion and features, each against a baseline.

:func:`run_quality` gathers, in one JSON-ready dict:

* imputation (BeijingAirQuality, :func:`impute_scores`): 10% of the present values masked;
  ``impute_mae_ratio_vs_last`` is the best imputer's normalised MAE over last-value imputation's;
* cleaning (``_clean.clean_scores``): ``spike_f1``, ``flatline_f1`` with precision and recall;
* fusion (:func:`fusion_coverage`): ``fusion_coverage_95``, how often the fused 95% interval of
  three simulated redundant sensors covers the truth;
* features (:func:`features_check`): ``features_match``, whether the vibration features equal a
  scipy reference to 1e-9, on synthetic signals and on a CWRU bearing segment.

Bars: ``impute_mae_ratio_vs_last <= 0.8``, ``0.93 <= fusion_coverage_95 <= 0.97``,
``features_match``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgewise._datadir import data_dir

from ._features import features_check
from ._fusion import fusion_coverage
from ._impute import impute_scores

__all__ = ["features_check", "fusion_coverage", "impute_scores", "run_quality"]


def run_quality(*, data: Path | None = None, seed: int = 0) -> dict[str, Any]:
    """Run the data-quality benchmark on the datasets folder ``data`` (default: ``data_dir()``).

    Everything random is drawn from ``seed``. Takes about half a minute on two cores.
    """
    from ._clean import clean_scores  # written beside this module, on its own schedule

    folder = data_dir() if data is None else Path(data)
    result: dict[str, Any] = {"seed": seed}
    result.update(impute_scores(folder / "BeijingAirQuality", seed=seed))
    result.update(clean_scores(folder, seed=seed))
    result.update(fusion_coverage(seed=seed))
    result.update(features_check(folder / "CWRU_bearing", seed=seed))
    return result
