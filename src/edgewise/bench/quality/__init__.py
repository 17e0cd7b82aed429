"""Data-quality benchmark: imputation, cleaning, fusion and features, each against a baseline.

:func:`run_quality` gathers, in one JSON-ready dict:

* imputation (BeijingAirQuality, :func:`impute_scores`): 10% of the present values masked, as
  random cells and as bursts of 2-48 readings; ``impute_mae_ratio_vs_last`` is the normalised MAE
  of the best imputer that answers at once (no delay) over last-value imputation's, on the random
  cells; imputers that wait are reported apart, with their delay; the same on the Intel Lab motes
  (:func:`intel_scores`), a dataset not used for tuning;
* cleaning (``_clean.clean_scores``): ``spike_f1``, ``flatline_f1`` with precision and recall;
* fusion (:func:`fusion_coverage`): ``fusion_coverage_95``, how often the fused 95% interval of
  three simulated redundant sensors covers the truth;
* features (:func:`features_check`): ``features_match``, whether the vibration features equal a
  scipy reference to 1e-9, on synthetic signals and on a CWRU bearing segment.

Bars: ``impute_mae_ratio_vs_last <= 0.85``, ``0.93 <= fusion_coverage_95 <= 0.97``,
``features_match``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgewise._datadir import data_dir

from ._features import features_check
from ._fusion import fusion_coverage
from ._impute import impute_scores, intel_scores

__all__ = ["features_check", "fusion_coverage", "impute_scores", "intel_scores", "run_quality"]


def run_quality(
    *, data: Path | None = None, seed: int = 0, impute_rows: int | None = None
) -> dict[str, Any]:
    """Run the data-quality benchmark on the datasets folder ``data`` (default: ``data_dir()``).

    Everything random is drawn from ``seed``; ``impute_rows`` keeps the first rows of each
    imputation station file (a short run). Takes about a minute and a half on two cores.
    """
    from ._clean import clean_scores  # written beside this module, on its own schedule

    folder = data_dir() if data is None else Path(data)
    result: dict[str, Any] = {"seed": seed}
    result.update(impute_scores(folder / "BeijingAirQuality", seed=seed, rows=impute_rows))
    result.update(intel_scores(folder / "IntelLab_preprocessed", seed=seed))
    result.update(clean_scores(folder, seed=seed))
    result.update(fusion_coverage(seed=seed))
    result.update(features_check(folder / "CWRU_bearing", seed=seed))
    return result
