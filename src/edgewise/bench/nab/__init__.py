"""The Numenta Anomaly Benchmark (NAB): corpus, scorer, threshold search and results files.

Scoring follows Lavin & Ahmad, "Evaluating Real-time Anomaly Detection Algorithms -- the Numenta
Anomaly Benchmark" (ICMLA 2015) and Ahmad et al., "Unsupervised real-time anomaly detection for
streaming data" (Neurocomputing 2017), and reproduces the published scoreboard
(numenta/NAB ``results/final_results.json``) from the published anomaly scores:

* each labelled anomaly has a window of rows; the first ``min(floor(0.15 n), 750)`` rows of a
  series are a probationary period that is never scored;
* a row detects when its anomaly score is at or above the threshold; the first detection in a
  window earns a reward that is larger the earlier it comes (see :func:`row_rewards`), later ones
  in the same window earn nothing, each detection outside windows costs a false-positive cost that
  shrinks right after a window, and each window without a detection costs ``fn_weight``;
* one threshold per detector and profile is chosen over the whole corpus
  (:func:`optimize_threshold`);
* the normalised score is ``100 * (raw - null) / (perfect - null)`` where ``null`` is the score of
  a detector that never fires and ``perfect`` is ``tp_weight`` per window.

The data come from the datasets folder (``$EDGEWISE_DATA``, see ``edgewise._datadir``), whose
``NAB/`` holds a copy of numenta/NAB's ``data/``, ``labels/``, ``config/`` and ``results/``.
Typical use::

    corpus = load_corpus()
    profile = load_profiles()["standard"]
    scores = {f.name: my_detector_scores(f.values) for f in corpus}
    threshold, normalised = optimize_threshold(corpus.subset(HALVES["A"]), scores, profile)
    held_out = score_corpus(corpus.subset(HALVES["B"]), scores, profile, threshold).normalised
"""

from ._corpus import Corpus, NabFile, load_corpus, nab_dir, probation_rows
from ._halves import HALVES
from ._profiles import PROFILE_NAMES, Profile, load_profiles
from ._results import read_results, results_path, write_results
from ._rules import row_rewards, scaled_sigmoid
from ._runner import run_nab
from ._scoring import (
    CorpusScore,
    FileScore,
    Scores,
    score_corpus,
    score_detections,
    score_file,
    scored_windows,
)
from ._threshold import ThresholdChoice, optimize_threshold

__all__ = [
    "HALVES",
    "PROFILE_NAMES",
    "Corpus",
    "CorpusScore",
    "FileScore",
    "NabFile",
    "Profile",
    "Scores",
    "ThresholdChoice",
    "load_corpus",
    "load_profiles",
    "nab_dir",
    "optimize_threshold",
    "probation_rows",
    "read_results",
    "results_path",
    "row_rewards",
    "run_nab",
    "scaled_sigmoid",
    "score_corpus",
    "score_detections",
    "score_file",
    "scored_windows",
    "write_results",
]
