"""Numba kernel of :class:`~edgewise.detect.default.DefaultDetector`: one input in one array.

Everything one input needs lives in one flat ``float64`` array: the parameters (so a kernel call
takes nothing else), the learned state, the last flag's explanation, then the recent history
(the last ``difference_lag`` values; the last ``level_window`` values, each with whether it was
learned from; the last ``window`` block means; the ``exclude`` + 1 newest windows, each with
whether it may join the memory) and the window memory. The memory holds 8-bit codes, packed eight
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
N_PARAMS = 18
# Learned state.
S_COUNT = 18  # readings seen (missing ones are not counted)
S_LOW, S_HIGH, S_DIFF_LOW, S_DIFF_HIGH = 19, 20, 21, 22  # value range, difference range
S_BLOCK_SUM, S_BLOCK_FILL, S_BLOCKS, S_WINDOWS = 23, 24, 25, 26  # block means and windows so far
S_STORED, S_NEXT = 27, 28  # windows in memory, memory slot written next
S_DIST, S_DIST_RECORD, S_PREV_DIST = 29, 30, 31  # nearest-window distance and its record
S_SUM, S_MEAN, S_VAR = 32, 33, 34  # sum of the short window; slow average and variance
S_Z_RECORD, S_PREV_Z = 35, 36  # level-change record
S_REST, S_EPISODE, S_RECOVERED, S_REBASELINES = 37, 38, 39, 40
S_DIST_QUANTILE, S_Z_QUANTILE = 41, 42  # slow high quantiles of the two novelties
# The explanation of the last flagged reading, read by the Python wrapper.
O_EXPECTED, O_DEVIATION = 43, 44
HEADER = 45

# The score of a novelty equal to its record.
RECORD = 0.5
# The floor's quantile of past novelty, and the relative step of its estimate.
FLOOR_QUANTILE, FLOOR_STEP = 0.99, 0.05


@numba.njit(cache=True, nogil=True)
def _sizes(params: NDArray[np.float64]) -> tuple[int, int, int, int, int]:
    """Lengths of the history sections and of the packed memory, in ``float64`` words.

    The short window holds each value and whether it was learned from; each delay slot holds a
    window's codes and whether it may join the memory.
    """
    window = int(params[P_WINDOW])
    codes = window * int(params[P_MEMORY])
    return (
        int(params[P_LAG]),
        2 * int(params[P_SHORT]),
        window,
        (int(params[P_EXCLUDE]) + 1) * (window + 1),
        (codes + 7) // 8,
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


@numba.njit("float64(float64[::1], float64, int64)", cache=True, nogil=True)
def step(state: NDArray[np.float64], x: float, mode: int) -> float:
    """Score one value; in DETECT mode also decide and learn, in LEARN mode learn unconditionally.

    Returns the anomaly score in [0, 1], 0 during a rest. In DETECT mode the reading is flagged
    exactly when the returned score reaches the threshold, and its explanation is left in
    ``O_EXPECTED`` and ``O_DEVIATION``. A missing (non-finite) value scores 0 and changes nothing.
    """
    if not math.isfinite(x):
        return 0.0
    lag, ring_size, window, delay_size, _ = _sizes(state)
    short = ring_size // 2
    past_at = HEADER
    ring_at = past_at + lag
    blocks_at = ring_at + ring_size
    delay_at = blocks_at + window
    memory_at = delay_at + delay_size
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
