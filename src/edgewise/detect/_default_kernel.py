"""Numba kernel of :class:`~edgewise.detect.default.DefaultDetector`: one input in one array.

Everything one input needs lives in one flat ``float64`` array: the parameters (so a kernel call
takes nothing else), the learned state, the last flag's explanation, then the recent history
(the last ``difference_lag`` values; the last ``level_window`` values, each with whether it was
learned from; the last ``window`` block means; the ``exclude`` + 1 newest windows, each with
whether it may join the memory), the window memory, then the seasonal view (the autocorrelations
of block means at lags 0 to ``season_lags`` and the last ``season_lags`` + ``window`` + 2 block
means). The memory holds 8-bit codes, packed eight
to a ``float64`` word and read through a ``uint8`` view, column-major (code ``j`` of window ``m``
at ``j * memory + m``) so that the distance loop runs over windows and vectorises. The per-reading
and the batch paths run the same :func:`step`, so they agree exactly.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["DETECT", "LEARN", "SCORE", "new_state", "run_column", "step"]

# Modes of :func:`step`.
SCORE, DETECT, LEARN = 0, 1, 2

# Parameters.
P_WARMUP, P_THRESHOLD, P_REST, P_LEARN_ANOMALIES, P_RECOVER = 0, 1, 2, 3, 4
P_RANGE_TOLERANCE, P_LAG, P_LAG_TOLERANCE = 5, 6, 7
P_BLOCK, P_WINDOW, P_MEMORY, P_EXCLUDE, P_NOVELTY_DECAY = 8, 9, 10, 11, 12
P_SHORT, P_LEVEL_RATE, P_LEVEL_DECAY = 13, 14, 15
P_FLOOR, P_FLOOR_READINGS = 16, 17
P_SEASON_LAGS, P_SEASON_CORRELATION, P_SEASON_FACTOR = 18, 19, 20
N_PARAMS = 21
# Learned state.
S_COUNT = 21  # readings seen (missing ones are not counted)
S_LOW, S_HIGH, S_DIFF_LOW, S_DIFF_HIGH = 22, 23, 24, 25  # value range, difference range
S_BLOCK_SUM, S_BLOCK_FILL, S_BLOCKS, S_WINDOWS = 26, 27, 28, 29  # block means and windows so far
S_STORED, S_NEXT = 30, 31  # windows in memory, memory slot written next
S_DIST, S_DIST_RECORD, S_PREV_DIST = 32, 33, 34  # nearest-window distance and its record
S_SUM, S_MEAN, S_VAR = 35, 36, 37  # sum of the short window; slow average and variance
S_Z_RECORD, S_PREV_Z = 38, 39  # level-change record
S_REST, S_EPISODE, S_RECOVERED, S_REBASELINES = 40, 41, 42, 43
S_DIST_QUANTILE, S_Z_QUANTILE = 44, 45  # slow high quantiles of the two novelties
S_PERIOD, S_BLOCK_AVERAGE = 46, 47  # period in blocks (0 = none); slow average of block means
S_SEASON, S_SEASON_RECORD, S_PREV_SEASON, S_SEASON_QUANTILE = 48, 49, 50, 51  # seasonal distance
S_SEASON_COUNT = 52  # seasonal distances measured
# The explanation of the last flagged reading, read by the Python wrapper.
O_EXPECTED, O_DEVIATION = 53, 54
HEADER = 55

# The score of a novelty equal to its record.
RECORD = 0.5
# The floor's quantile of past novelty, and the relative step of its estimate.
FLOOR_QUANTILE, FLOOR_STEP = 0.99, 0.05
# Decay per block of the autocorrelation sums (half-life 1,000 blocks), and the rate of the slow
# average of block means they are centred on.
SEASON_DECAY, SEASON_AVERAGE_RATE = 0.5 ** (1.0 / 1000.0), 0.01


@numba.njit(cache=True, nogil=True)
def _sizes(params: NDArray[np.float64]) -> tuple[int, int, int, int, int, int, int]:
    """Lengths of the history sections, the packed memory and the seasonal view, in words.

    The short window holds each value and whether it was learned from; each delay slot holds a
    window's codes and whether it may join the memory. Without a seasonal view (``season_lags``
    0) its two sections are empty.
    """
    window = int(params[P_WINDOW])
    codes = window * int(params[P_MEMORY])
    lags = int(params[P_SEASON_LAGS])
    return (
        int(params[P_LAG]),
        2 * int(params[P_SHORT]),
        window,
        (int(params[P_EXCLUDE]) + 1) * (window + 1),
        (codes + 7) // 8,
        lags + 1 if lags > 0 else 0,
        lags + window + 2 if lags > 0 else 0,
    )


def new_state(params: NDArray[np.float64]) -> NDArray[np.float64]:
    """A fresh state array for one input, holding ``params`` (see the ``P_*`` layout)."""
    state = np.zeros(HEADER + sum(_sizes(params)), dtype=np.float64)
    state[:N_PARAMS] = params
    state[S_LOW] = state[S_DIFF_LOW] = math.inf
    state[S_HIGH] = state[S_DIFF_HIGH] = -math.inf
    return state


@numba.njit(cache=True, nogil=True)
def _ratio(raw: float, record: float) -> float:
    """A novelty against its record: 0.5 at the record, 1 at twice the record or more."""
    if record > 0.0:
        return min(1.0, 0.5 * raw / record)
    return 1.0 if raw > 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def _quantile(estimate: float, x: float) -> float:
    """One step of a multiplicative estimate of the ``FLOOR_QUANTILE`` of a novelty.

    It settles where ``1 - FLOOR_QUANTILE`` of the values lie above it; one value, however large,
    moves it by one step only, so an anomaly barely lifts it.
    """
    if estimate <= 0.0:
        return x
    if x > estimate:
        return estimate * (1.0 + FLOOR_STEP * FLOOR_QUANTILE)
    return estimate * (1.0 - FLOOR_STEP * (1.0 - FLOOR_QUANTILE))


@numba.njit(cache=True, nogil=True)
def _code(value: float, low: float, width: float) -> int:
    """A block mean as an 8-bit code of its place in the value range."""
    return min(255, max(0, math.floor((value - low) / width * 255.0 + 0.5)))


@numba.njit(cache=True, nogil=True)
def _nearest(memory: NDArray[np.uint8], codes: NDArray[np.float64], stored: int, size: int) -> int:
    """L1 distance, in codes, from a window to the nearest of the ``stored`` remembered ones."""
    dist = np.zeros(stored, dtype=np.int32)
    for j in range(codes.shape[0]):
        cj = np.int32(codes[j])
        row = memory[j * size : j * size + stored]
        for m in range(stored):
            dist[m] += abs(cj - np.int32(row[m]))
    return int(dist.min())


@numba.njit(cache=True, nogil=True)
def _season_distance(
    means: NDArray[np.float64], newest: float, blocks: int, period: int, window: int
) -> float:
    """L1 distance from the newest window of block means to those one period (+-1 block) ago.

    ``means`` is the ring of past block means (block ``k`` at ``k % len``), ``newest`` the mean
    of block ``blocks - 1``, not yet in the ring.
    """
    size = means.shape[0]
    best = math.inf
    for offset in range(period - 1, period + 2):
        d = 0.0
        for j in range(window):
            k = blocks - 1 - j
            current = newest if j == 0 else means[k % size]
            d += abs(current - means[(k - offset) % size])
        best = min(best, d)
    return best


@numba.njit(cache=True, nogil=True)
def _learn_season(
    state: NDArray[np.float64], acf: NDArray[np.float64], means: NDArray[np.float64], b: float
) -> None:
    """Learn block mean ``b``: the ring, the autocorrelations, and the period they show.

    The period is the lag whose autocorrelation is a local peak above ``season_correlation`` of
    the variance and rises most above the lowest autocorrelation at shorter lags; 0 (no seasonal
    view) when there is none, or before the ring has been filled twice over.
    """
    blocks = int(state[S_BLOCKS])  # including ``b``
    size = means.shape[0]
    lags = acf.shape[0] - 1
    means[(blocks - 1) % size] = b
    average = b if blocks == 1 else state[S_BLOCK_AVERAGE]
    average += SEASON_AVERAGE_RATE * (b - average)
    state[S_BLOCK_AVERAGE] = average
    for lag in range(min(lags, blocks - 1) + 1):
        lagged = means[(blocks - 1 - lag) % size] - average
        acf[lag] = SEASON_DECAY * acf[lag] + (b - average) * lagged
    period = 0
    if acf[0] > 0.0 and blocks > 2 * lags:
        least = acf[1]
        rise = 0.0
        for lag in range(2, lags):
            a = acf[lag]
            least = min(least, a)
            if (
                acf[lag - 1] <= a >= acf[lag + 1]
                and a > state[P_SEASON_CORRELATION] * acf[0]
                and a - least > rise
            ):
                rise = a - least
                period = lag
    state[S_PERIOD] = period


@numba.njit("float64(float64[::1], float64, int64)", cache=True, nogil=True)
def step(state: NDArray[np.float64], x: float, mode: int) -> float:
    """Score one value; in DETECT mode also decide and learn, in LEARN mode learn unconditionally.

    Returns the anomaly score in [0, 1], 0 during a rest. In DETECT mode the reading is flagged
    exactly when the returned score reaches the threshold, and its explanation is left in
    ``O_EXPECTED`` and ``O_DEVIATION``. A missing (non-finite) value scores 0 and changes nothing.
    """
    if not math.isfinite(x):
        return 0.0
    lag, ring_size, window, delay_size, packed, acf_size, means_size = _sizes(state)
    short = ring_size // 2
    past_at = HEADER
    ring_at = past_at + lag
    blocks_at = ring_at + ring_size
    delay_at = blocks_at + window
    memory_at = delay_at + delay_size
    acf = state[memory_at + packed : memory_at + packed + acf_size]
    means = state[memory_at + packed + acf_size : memory_at + packed + acf_size + means_size]
    t = int(state[S_COUNT])
    warm = t >= state[P_WARMUP]
    score = 0.0

    # (a) value range: beyond everything seen by more than a fraction of the range.
    low, high = state[S_LOW], state[S_HIGH]
    if warm and high > low:
        margin = state[P_RANGE_TOLERANCE] * (high - low)
        if x > high + margin or x < low - margin:
            score = 1.0

    # (b) difference range: the change over ``lag`` readings, beyond all such changes seen.
    past_slot = past_at + t % lag
    diff = x - state[past_slot]
    has_diff = t >= lag
    if has_diff and warm:
        diff_low, diff_high = state[S_DIFF_LOW], state[S_DIFF_HIGH]
        if diff_high > diff_low:
            margin = state[P_LAG_TOLERANCE] * (diff_high - diff_low)
            if diff > diff_high + margin or diff < diff_low - margin:
                score = 1.0

    # (c) kNN novelty: a window of block means, coded by its place in the range, against the
    # remembered windows; the distance holds until the next block completes.
    block = int(state[P_BLOCK])
    block_sum = state[S_BLOCK_SUM] + x
    block_done = state[S_BLOCK_FILL] + 1.0 >= block
    blocks = int(state[S_BLOCKS]) + (1 if block_done else 0)
    new_window = block_done and blocks >= window
    dist = state[S_DIST]
    slots = delay_size // (window + 1)
    windows = int(state[S_WINDOWS])
    # The codes of the new window go straight to their delay slot (a scratch copy when scoring).
    slot_at = delay_at + (windows % slots) * (window + 1)
    codes = state[slot_at : slot_at + window]
    if new_window:
        if mode == SCORE:
            codes = np.empty(window)
        # Codes place block means in the range as learned at this reading (x included).
        code_low, code_high = min(low, x), max(high, x)
        width = code_high - code_low if code_high > code_low else 1.0
        for j in range(window - 1):
            mean = state[blocks_at + (blocks - window + j) % window]
            codes[j] = _code(mean, code_low, width)
        codes[window - 1] = _code(block_sum / block, code_low, width)
        stored = int(state[S_STORED])
        if stored > 0:
            memory = state[memory_at:].view(np.uint8)
            dist = _nearest(memory, codes, stored, int(state[P_MEMORY])) / 255.0
        else:
            dist = 0.0
    dist_record = max(state[S_DIST_RECORD] * state[P_NOVELTY_DECAY], state[S_PREV_DIST])

    # (e) seasonal: the window of block means against the one a period ago, where the
    # autocorrelation shows a period -- the shape may be known, but not at this time of the cycle.
    season = state[S_SEASON]
    season_count = state[S_SEASON_COUNT]
    if acf_size > 0 and block_done:
        period = int(state[S_PERIOD])
        season = 0.0
        if period > 0 and blocks >= period + window + 2:
            code_low, code_high = min(low, x), max(high, x)
            width = code_high - code_low if code_high > code_low else 1.0
            newest = block_sum / block
            season = _season_distance(means, newest, blocks, period, window) / width
            season_count += 1.0
    season_record = max(state[S_SEASON_RECORD] * state[P_NOVELTY_DECAY], state[S_PREV_SEASON])

    # (d) level change: mean of the last ``short`` readings against a slow average of the older
    # ones (fed each reading as it leaves the short window), in units of their spread.
    ring_slot = ring_at + t % short
    leaving = state[ring_slot]
    window_sum = state[S_SUM] + (x - leaving)
    mean, var = state[S_MEAN], state[S_VAR]
    z = 0.0
    if t >= short:
        if t == short:
            mean = leaving
        elif state[ring_slot + short] > 0.0:  # the leaving reading was learned from
            error = leaving - mean
            rate = state[P_LEVEL_RATE]
            mean += rate * error
            var = (1.0 - rate) * (var + rate * error * error)
        if var > 0.0:
            z = abs(window_sum / short - mean) / math.sqrt(var)
    z_record = max(state[S_Z_RECORD] * state[P_LEVEL_DECAY], state[S_PREV_Z])

    if warm:
        # The records decay, but not below a floor: a multiple of a slow high quantile of the
        # novelty, trusted in proportion to the readings seen (fully after ``floor_readings``).
        floor = state[P_FLOOR] * min(1.0, t / state[P_FLOOR_READINGS])
        score = max(
            score,
            _ratio(dist, max(dist_record, floor * state[S_DIST_QUANTILE])),
            _ratio(z, max(z_record, floor * state[S_Z_QUANTILE])),
        )
        # Scored once its record has seen ``season_lags`` distances, against a raised record:
        # a cycle repeats less exactly than the shapes in the memory.
        if acf_size > 0 and season_count >= state[P_SEASON_LAGS]:
            season_bar = max(season_record, floor * state[S_SEASON_QUANTILE])
            score = max(score, _ratio(season, state[P_SEASON_FACTOR] * season_bar))

    # Rest: one alarm per episode. A new record (or a flag) starts the rest, or restarts it.
    resting = state[S_REST] > 0.0
    high_score = score >= min(RECORD, state[P_THRESHOLD])
    flagged = not resting and score >= state[P_THRESHOLD]
    if resting:
        score = 0.0
    if mode == SCORE:
        return score

    learn = True
    if mode == DETECT:
        if high_score:
            state[S_REST] = state[P_REST]
        elif resting:
            state[S_REST] -= 1.0
        if flagged:
            state[O_EXPECTED] = mean
            spread = max(math.sqrt(var), 1e-12 * (abs(mean) + 1.0))
            state[O_DEVIATION] = (x - mean) / spread
        # An episode: a rest and what started it. Its high-scoring readings are not learned until
        # it has lasted ``recover`` readings; then the model re-baselines on them.
        episode = state[S_EPISODE] + 1.0 if (resting or high_score) else 0.0
        state[S_EPISODE] = episode
        if episode == 0.0:
            state[S_RECOVERED] = 0.0
        if high_score and state[P_LEARN_ANOMALIES] == 0.0:
            learn = episode > state[P_RECOVER]
            if learn and state[S_RECOVERED] == 0.0:
                state[S_RECOVERED] = 1.0
                state[S_REBASELINES] += 1.0
    # Commit. The ranges are records of what has been seen: they always learn (not learning a
    # spike re-flags every similar spike). The memory and the slow average learn unless frozen.
    state[S_COUNT] = t + 1
    state[S_LOW], state[S_HIGH] = min(low, x), max(high, x)
    if has_diff:
        state[S_DIFF_LOW] = min(state[S_DIFF_LOW], diff)
        state[S_DIFF_HIGH] = max(state[S_DIFF_HIGH], diff)
    state[past_slot] = x
    if block_done:
        state[blocks_at + (blocks - 1) % window] = block_sum / block
        state[S_BLOCK_SUM] = 0.0
        state[S_BLOCK_FILL] = 0.0
        state[S_BLOCKS] = blocks
    else:
        state[S_BLOCK_SUM] = block_sum
        state[S_BLOCK_FILL] += 1.0
    if new_window:
        # The newest windows overlap the current one: they join the memory ``exclude`` later.
        state[slot_at + window] = 1.0 if learn else 0.0
        windows += 1
        state[S_WINDOWS] = windows
        oldest = delay_at + (windows % slots) * (window + 1)
        if windows >= slots and state[oldest + window] > 0.0:
            size = int(state[P_MEMORY])
            memory = state[memory_at:].view(np.uint8)
            at = int(state[S_NEXT])
            for j in range(window):
                memory[j * size + at] = np.uint8(state[oldest + j])
            state[S_NEXT] = (at + 1) % size
            state[S_STORED] = min(state[S_STORED] + 1.0, size)
    if acf_size > 0:
        if block_done:
            _learn_season(state, acf, means, block_sum / block)
        state[S_SEASON] = season
        state[S_SEASON_COUNT] = season_count
        state[S_SEASON_RECORD] = season_record
        state[S_PREV_SEASON] = season if warm else 0.0
        if warm:
            state[S_SEASON_QUANTILE] = _quantile(state[S_SEASON_QUANTILE], season)
    state[S_DIST] = dist
    state[S_DIST_RECORD] = dist_record
    state[S_PREV_DIST] = dist if warm else 0.0
    state[ring_slot] = x
    state[ring_slot + short] = 1.0 if learn else 0.0
    state[S_SUM] = window_sum
    state[S_MEAN], state[S_VAR] = mean, var
    state[S_Z_RECORD] = z_record
    state[S_PREV_Z] = z if warm else 0.0
    if warm:
        state[S_DIST_QUANTILE] = _quantile(state[S_DIST_QUANTILE], dist)
        state[S_Z_QUANTILE] = _quantile(state[S_Z_QUANTILE], z)
    return score


@numba.njit(cache=True, nogil=True)
def run_column(
    state: NDArray[np.float64],
    values: NDArray[np.float64],
    scores: NDArray[np.float64],
    expected: NDArray[np.float64],
    deviation: NDArray[np.float64],
) -> None:
    """DETECT over a column of values, writing each row's score and, where flagged, explanation."""
    threshold = state[P_THRESHOLD]
    for i in range(values.shape[0]):
        scores[i] = step(state, values[i], DETECT)
        if scores[i] >= threshold:
            expected[i] = state[O_EXPECTED]
            deviation[i] = state[O_DEVIATION]
