"""Numba kernel of :class:`~edgewise.detect.default.DefaultDetector`: one input in one array.

Everything one input needs lives in one flat ``float64`` array, declared once below (the
*layout*): the parameters (``P_*``), so that a kernel call takes nothing else; the learned state
(``S_*``); the explanation of the last flag (``O_*``); then the variable-size sections, whose
starts are held in ``AT_*`` fields. Offsets are handed out in the order of declaration, and numba
compiles them in as constants.

:func:`step` runs one value through five views, each with a *score* part, which reads the state
as it was before the value, and a *commit* part, which updates it once it is decided whether the
model learns from the value: the value range and the difference range, the shape of the last
window of block means (kNN), the level (a short mean against a slow average) and the season (the
window against the windows one period ago). The shared parts are the blocks (the means the shape
and seasonal views see), the records (a novelty against its decaying record and long-run floor)
and the rest (one alarm per episode, whose readings are not learned). The per-reading and the
batch (:func:`run_column`) paths run the same :func:`step`, so they agree exactly.

The kernel is one module on purpose: numba's cache is keyed on the source file of each compiled
function only, so a cached :func:`step` would not notice a change to a view, or to the layout,
kept in another file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["DETECT", "LEARN", "SCORE", "new_state", "run_column", "step"]

# The parts of the kernel are inlined into its two entry points (numba's own inlining, before
# typing): each is compiled once, inside them, and what a call costs -- two atomic reference
# counts of ``state`` wherever numba cannot prune them -- is not paid per reading. For the same
# reason the per-reading paths index ``state`` rather than slice it. The parameters are
# validated, so no division is by zero: the numpy error model drops the checks and the exception
# paths that keep reference counts from being pruned.
_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")

# --- The layout ----------------------------------------------------------------------------------

Size = Callable[[NDArray[np.float64]], int]


class Record(NamedTuple):
    """The offsets of the three fields behind the record of a novelty."""

    record: int  # the largest past novelty, decaying
    previous: int  # the novelty of the previous reading, which joins the record next
    quantile: int  # a slow estimate of the novelty's high quantile, the base of the floor


class Layout:
    """The offsets of one state array, handed out in the order they are declared.

    Declare the parameters first (:meth:`param`), then the other fields (:meth:`field`,
    :meth:`record`), then the sections (:meth:`section`). :meth:`new_state` puts the sections
    after the header in that order, writes where each one starts into its field, and where the
    last one ends into one more word, so that a section always ends where the next one starts.
    """

    def __init__(self) -> None:
        self.params = 0
        self.size = 0  # header words so far
        self._initial: dict[int, float] = {}
        self._sizes: list[Size] = []

    def _next(self, initial: float = 0.0) -> int:
        at = self.size
        self.size += 1
        if initial:
            self._initial[at] = initial
        return at

    def param(self) -> int:
        """A parameter: the offset where :meth:`new_state` puts it."""
        if self.size > self.params:
            raise ValueError("parameters come before every other field")
        self.params += 1
        return self._next()

    def field(self, initial: float = 0.0) -> int:
        """A one-word field, ``initial`` in a new state: its offset."""
        if self._sizes:
            raise ValueError("fields come before the sections")
        return self._next(initial)

    def record(self) -> Record:
        """The fields of a novelty's record, all 0 in a new state."""
        return Record(self.field(), self.field(), self.field())

    def section(self, size: Size) -> int:
        """A section of ``size(params)`` words: the offset of the field holding where it starts."""
        self._sizes.append(size)
        return self._next()

    def new_state(self, params: NDArray[np.float64]) -> NDArray[np.float64]:
        """A fresh state array holding ``params``, the initial values and the sections' bounds."""
        if len(params) != self.params:
            raise ValueError(f"expected {self.params} parameters, got {len(params)}")
        sizes = [size(params) for size in self._sizes]
        header = self.size + 1  # with the word where the last section ends
        state = np.zeros(header + sum(sizes), dtype=np.float64)
        state[: self.params] = params
        for at, value in self._initial.items():
            state[at] = value
        state[header - len(sizes) - 1 : header] = header + np.cumsum([0, *sizes])
        return state


_LAYOUT = Layout()


def _count(params: NDArray[np.float64], at: int) -> int:
    """A parameter that counts readings, blocks, windows or lags, as an ``int``."""
    return int(params[at])


# Parameters, as the detector sets them (``DefaultDetector._params``).
# Rest, episodes and learning.
P_WARMUP = _LAYOUT.param()
P_THRESHOLD = _LAYOUT.param()
P_REST = _LAYOUT.param()
P_LEARN_ANOMALIES = _LAYOUT.param()
P_RECOVER = _LAYOUT.param()
# Value range and difference range.
P_RANGE_TOLERANCE = _LAYOUT.param()
P_LAG = _LAYOUT.param()
P_LAG_TOLERANCE = _LAYOUT.param()
# Shape: readings per block, blocks per window, windows remembered and kept out, record decay.
P_BLOCK = _LAYOUT.param()
P_WINDOW = _LAYOUT.param()
P_MEMORY = _LAYOUT.param()
P_EXCLUDE = _LAYOUT.param()
P_NOVELTY_DECAY = _LAYOUT.param()
# Level: readings in the short mean, rate of the slow average, record decay.
P_SHORT = _LAYOUT.param()
P_LEVEL_RATE = _LAYOUT.param()
P_LEVEL_DECAY = _LAYOUT.param()
# The records' long-run floor.
P_FLOOR = _LAYOUT.param()
P_FLOOR_READINGS = _LAYOUT.param()
# Season.
P_SEASON_LAGS = _LAYOUT.param()
P_SEASON_CORRELATION = _LAYOUT.param()
P_SEASON_FACTOR = _LAYOUT.param()
N_PARAMS = _LAYOUT.params

S_COUNT = _LAYOUT.field()  # readings seen (missing ones are not counted)
# Value range and difference range: everything seen so far.
S_LOW = _LAYOUT.field(math.inf)
S_HIGH = _LAYOUT.field(-math.inf)
S_DIFF_LOW = _LAYOUT.field(math.inf)
S_DIFF_HIGH = _LAYOUT.field(-math.inf)
# Blocks: the sum and count of the current one's readings; blocks completed.
S_BLOCK_SUM = _LAYOUT.field()
S_BLOCK_FILL = _LAYOUT.field()
S_BLOCKS = _LAYOUT.field()
# Shape: windows so far, windows in memory, memory slot written next; the nearest-window
# distance (held until the next block completes) and its record.
S_WINDOWS = _LAYOUT.field()
S_STORED = _LAYOUT.field()
S_NEXT = _LAYOUT.field()
S_DIST = _LAYOUT.field()
S_DIST_RECORD = _LAYOUT.record()
# Level: the sum of the short window; the slow average and variance; the level change's record.
S_SUM = _LAYOUT.field()
S_MEAN = _LAYOUT.field()
S_VAR = _LAYOUT.field()
S_Z_RECORD = _LAYOUT.record()
# Season: the period in blocks (0 = none) and the slow average of block means it is learned
# around; the seasonal distance (held until the next block completes), how many were measured,
# and its record.
S_PERIOD = _LAYOUT.field()
S_BLOCK_AVERAGE = _LAYOUT.field()
S_SEASON = _LAYOUT.field()
S_SEASON_COUNT = _LAYOUT.field()
S_SEASON_RECORD = _LAYOUT.record()
# Rest and episodes: readings of rest left, readings into the episode, whether this episode was
# learned again, and how many were.
S_REST = _LAYOUT.field()
S_EPISODE = _LAYOUT.field()
S_RECOVERED = _LAYOUT.field()
S_REBASELINES = _LAYOUT.field()

# The explanation of the last flagged reading, read by the detector.
O_EXPECTED = _LAYOUT.field()
O_DEVIATION = _LAYOUT.field()

# Difference range: the last ``difference_lag`` values.
AT_PAST = _LAYOUT.section(lambda p: _count(p, P_LAG))
# Level: the last ``level_window`` values, and whether each was learned from.
AT_LEVEL_VALUES = _LAYOUT.section(lambda p: _count(p, P_SHORT))
AT_LEVEL_LEARNED = _LAYOUT.section(lambda p: _count(p, P_SHORT))
# Shape: the last ``window`` block means; the codes of the ``exclude`` + 1 newest windows, and
# whether each may join the memory; the memory, 8-bit codes packed eight to a word.
AT_BLOCK_MEANS = _LAYOUT.section(lambda p: _count(p, P_WINDOW))
AT_DELAY_CODES = _LAYOUT.section(lambda p: (_count(p, P_EXCLUDE) + 1) * _count(p, P_WINDOW))
AT_DELAY_JOINS = _LAYOUT.section(lambda p: _count(p, P_EXCLUDE) + 1)
AT_MEMORY = _LAYOUT.section(lambda p: (_count(p, P_WINDOW) * _count(p, P_MEMORY) + 7) // 8)
# Season (empty without it): the autocorrelations of block means at lags 0 to ``season_lags``,
# and the last ``season_lags`` + ``window`` + 2 block means.
AT_ACF = _LAYOUT.section(lambda p: _count(p, P_SEASON_LAGS) + 1 if p[P_SEASON_LAGS] > 0 else 0)
AT_SEASON_MEANS = _LAYOUT.section(
    lambda p: _count(p, P_SEASON_LAGS) + _count(p, P_WINDOW) + 2 if p[P_SEASON_LAGS] > 0 else 0
)

new_state = _LAYOUT.new_state


@_inline
def _bounds(state: NDArray[np.float64], at: int) -> tuple[int, int]:
    """Where the section whose start is held at offset ``at`` starts, and its length."""
    start = int(state[at])
    return start, int(state[at + 1]) - start


@_inline
def _section(state: NDArray[np.float64], at: int) -> NDArray[np.float64]:
    """The section whose start is held at offset ``at``, as an array."""
    start, size = _bounds(state, at)
    return state[start : start + size]


# --- Records and their long-run floor ------------------------------------------------------------

# The score of a novelty equal to its record.
RECORD = 0.5
# The floor's quantile of past novelty, and the relative step of its estimate.
FLOOR_QUANTILE, FLOOR_STEP = 0.99, 0.05


@_inline
def _ratio(raw: float, record: float) -> float:
    """A novelty against its record: 0.5 at the record, 1 at twice the record or more."""
    if record > 0.0:
        return min(1.0, 0.5 * raw / record)
    return 1.0 if raw > 0.0 else 0.0


@_inline
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


@_inline
def _floor(state: NDArray[np.float64], t: int) -> float:
    """The floor, as a multiple of each novelty's quantile, after ``t`` readings.

    The records decay, but not below ``novelty_floor`` times the quantile. The floor is learned
    from the long run, so it is trusted in proportion to the readings seen, fully after
    ``floor_readings``.
    """
    return float(state[P_FLOOR] * min(1.0, t / state[P_FLOOR_READINGS]))


@_inline
def _decayed_record(state: NDArray[np.float64], fields: Record, decay: float) -> float:
    """The record at this reading: the last one decayed by ``decay``, or the previous novelty."""
    return float(max(state[fields.record] * decay, state[fields.previous]))


@_inline
def _novelty_score(
    state: NDArray[np.float64],
    fields: Record,
    novelty: float,
    record: float,
    floor: float,
    factor: float = 1.0,
) -> float:
    """The score of ``novelty`` against ``factor`` times its record, or its floor if higher."""
    return _ratio(novelty, factor * max(record, floor * state[fields.quantile]))


@_inline
def _commit_record(
    state: NDArray[np.float64], fields: Record, novelty: float, record: float, warm: bool
) -> None:
    """Keep the record; the novelty joins it at the next reading and moves the quantile.

    Novelties start to count at the end of the warm-up: the first ones are huge and would
    inflate the record for thousands of readings.
    """
    if warm:
        state[fields.quantile] = _quantile(state[fields.quantile], novelty)
    state[fields.record] = record
    state[fields.previous] = novelty if warm else 0.0


# --- The value range and the difference range ----------------------------------------------------
# Records of everything seen, 1 outright for what was never seen. They learn every reading,
# flagged or not: not learning a spike would re-flag every similar spike.


class Difference(NamedTuple):
    """The difference range at one reading, until it is committed."""

    score: float
    change: float  # over ``difference_lag`` readings
    known: bool  # ``difference_lag`` readings have been seen, so ``change`` is one


@_inline
def _outside(v: float, low: float, high: float, tolerance: float) -> bool:
    """Whether ``v`` leaves ``[low, high]`` by more than ``tolerance`` of its width."""
    if high <= low:
        return False
    margin = tolerance * (high - low)
    return v > high + margin or v < low - margin


@_inline
def _score_value_range(state: NDArray[np.float64], x: float) -> float:
    """1 when ``x`` leaves the range of all values by more than ``range_tolerance`` of it."""
    return 1.0 if _outside(x, state[S_LOW], state[S_HIGH], state[P_RANGE_TOLERANCE]) else 0.0


@_inline
def _commit_value_range(state: NDArray[np.float64], x: float) -> None:
    """Widen the value range to ``x``."""
    state[S_LOW] = min(state[S_LOW], x)
    state[S_HIGH] = max(state[S_HIGH], x)


@_inline
def _learned_range(state: NDArray[np.float64], x: float) -> tuple[float, float]:
    """The value range as learned at this reading (``x`` included): its low end and width.

    The width of an empty range is 1, so that dividing by it is safe.
    """
    low, high = min(state[S_LOW], x), max(state[S_HIGH], x)
    return low, high - low if high > low else 1.0


@_inline
def _score_difference_range(state: NDArray[np.float64], x: float, t: int) -> Difference:
    """1 when the change over ``difference_lag`` readings leaves the range of all such changes.

    By more than ``difference_tolerance`` of that range; ``t`` readings have been seen.
    """
    past, lag = _bounds(state, AT_PAST)
    change = x - state[past + t % lag]
    known = t >= lag
    low, high, tolerance = state[S_DIFF_LOW], state[S_DIFF_HIGH], state[P_LAG_TOLERANCE]
    outside = known and _outside(change, low, high, tolerance)
    return Difference(1.0 if outside else 0.0, change, known)


@_inline
def _commit_difference_range(
    state: NDArray[np.float64], x: float, t: int, difference: Difference
) -> None:
    """Widen the range of changes to this one, and remember ``x``."""
    if difference.known:
        state[S_DIFF_LOW] = min(state[S_DIFF_LOW], difference.change)
        state[S_DIFF_HIGH] = max(state[S_DIFF_HIGH], difference.change)
    past, lag = _bounds(state, AT_PAST)
    state[past + t % lag] = x


# --- Blocks: the means of ``block`` readings, which the shape and seasonal views see -------------


class Block(NamedTuple):
    """The block a reading falls in, until it is committed."""

    total: float  # of its readings so far, this one included
    done: bool  # this reading completes it
    blocks: int  # blocks completed, this one included when done
    mean: float  # its mean, once done (0 until then)


@_inline
def _next_block(state: NDArray[np.float64], x: float) -> Block:
    """The current block with ``x`` added."""
    block = int(state[P_BLOCK])
    total = state[S_BLOCK_SUM] + x
    done = state[S_BLOCK_FILL] + 1.0 >= block
    blocks = int(state[S_BLOCKS])
    if done:
        return Block(total, True, blocks + 1, total / block)
    return Block(total, False, blocks, 0.0)


@_inline
def _commit_block(state: NDArray[np.float64], block: Block) -> None:
    """Keep the block's sum, or count the block and start the next one."""
    if block.done:
        state[S_BLOCK_SUM] = 0.0
        state[S_BLOCK_FILL] = 0.0
        state[S_BLOCKS] = block.blocks
    else:
        state[S_BLOCK_SUM] = block.total
        state[S_BLOCK_FILL] += 1.0


# --- Shape (kNN): the newest window of block means against the remembered windows ---------------
# A window is the last ``window`` block means, each coded in 8 bits by its place in the value
# range as learned at that reading. Its novelty is the L1 distance to the nearest of the last
# ``memory`` windows, in units of 255 codes; it holds until the next block completes. The
# ``exclude`` newest windows overlap the current one, so a new window waits in a delay line and
# joins the memory ``exclude`` windows later, if it was learned from. The memory holds 8-bit codes
# read through a ``uint8`` view, column-major (code ``j`` of window ``m`` at ``j * memory + m``) so
# that the distance loop runs over windows and vectorises.


class Shape(NamedTuple):
    """The shape view at one reading, until it is committed."""

    distance: float
    record: float
    score: float
    new_window: bool  # this reading completes a window


@_inline
def _code(value: float, low: float, width: float) -> int:
    """A block mean as an 8-bit code of its place in the value range."""
    return min(255, max(0, math.floor((value - low) / width * 255.0 + 0.5)))


@_inline
def _nearest(memory: NDArray[np.uint8], codes: NDArray[np.float64], stored: int, size: int) -> int:
    """L1 distance, in codes, from a window to the nearest of the ``stored`` remembered ones."""
    dist = np.zeros(stored, dtype=np.int32)
    for j in range(codes.shape[0]):
        cj = np.int32(codes[j])
        row = memory[j * size : j * size + stored]
        for m in range(stored):
            dist[m] += abs(cj - np.int32(row[m]))
    return int(dist.min())


@_inline
def _delayed(state: NDArray[np.float64], windows: int) -> NDArray[np.float64]:
    """The codes of window number ``windows`` in the delay line."""
    window = int(state[P_WINDOW])
    slots = _bounds(state, AT_DELAY_JOINS)[1]
    at = int(state[AT_DELAY_CODES]) + windows % slots * window
    return state[at : at + window]


@_inline
def _remember(state: NDArray[np.float64], codes: NDArray[np.float64]) -> None:
    """Write a window into the memory, over the oldest one once it is full."""
    size = int(state[P_MEMORY])
    memory = _section(state, AT_MEMORY).view(np.uint8)
    at = int(state[S_NEXT])
    for j in range(codes.shape[0]):
        memory[j * size + at] = np.uint8(codes[j])
    state[S_NEXT] = (at + 1) % size
    state[S_STORED] = min(state[S_STORED] + 1.0, size)


@_inline
def _window_distance(state: NDArray[np.float64], x: float, block: Block, keep: bool) -> float:
    """Code the window a block completes; its distance to the memory (0 while that is empty).

    With ``keep`` the codes go straight to the window's place in the delay line, where the
    commit finds them; without, to a scratch array, and the state is left alone.
    """
    window = int(state[P_WINDOW])
    codes = _delayed(state, int(state[S_WINDOWS])) if keep else np.empty(window)
    low, width = _learned_range(state, x)
    means = int(state[AT_BLOCK_MEANS])
    for j in range(window - 1):
        codes[j] = _code(state[means + (block.blocks - window + j) % window], low, width)
    codes[window - 1] = _code(block.mean, low, width)
    stored, size = int(state[S_STORED]), int(state[P_MEMORY])
    memory = _section(state, AT_MEMORY).view(np.uint8)
    return _nearest(memory, codes, stored, size) / 255.0 if stored > 0 else 0.0


@_inline
def _score_shape(
    state: NDArray[np.float64], x: float, block: Block, floor: float, keep: bool
) -> Shape:
    """The distance of the newest window to the memory, measured when a block completes one."""
    new_window = block.done and block.blocks >= int(state[P_WINDOW])
    distance = _window_distance(state, x, block, keep) if new_window else state[S_DIST]
    record = _decayed_record(state, S_DIST_RECORD, state[P_NOVELTY_DECAY])
    score = _novelty_score(state, S_DIST_RECORD, distance, record, floor)
    return Shape(distance, record, score, new_window)


@_inline
def _advance_delay(state: NDArray[np.float64], learn: bool) -> None:
    """Mark whether the new window may join the memory; move the windows along the delay line.

    The window that leaves the delay line joins the memory if it was learned from.
    """
    joins, slots = _bounds(state, AT_DELAY_JOINS)
    windows = int(state[S_WINDOWS])
    state[joins + windows % slots] = 1.0 if learn else 0.0
    windows += 1
    state[S_WINDOWS] = windows
    if windows >= slots and state[joins + windows % slots] > 0.0:
        _remember(state, _delayed(state, windows))


@_inline
def _commit_shape(
    state: NDArray[np.float64], block: Block, shape: Shape, warm: bool, learn: bool
) -> None:
    """Keep the block mean, the new window and the record."""
    if block.done:
        window = int(state[P_WINDOW])
        state[int(state[AT_BLOCK_MEANS]) + (block.blocks - 1) % window] = block.mean
    if shape.new_window:
        _advance_delay(state, learn)
    state[S_DIST] = shape.distance
    _commit_record(state, S_DIST_RECORD, shape.distance, shape.record, warm)


# --- Level: the mean of the last ``level_window`` readings against a slow average ----------------
# The slow average (and its variance) is fed each reading as it leaves the short window, if that
# reading was learned from; the novelty is the distance between the two, in units of the spread.
# The slow average is also the expected value of a flag's explanation.


class Level(NamedTuple):
    """The level view at one reading, until it is committed."""

    z: float  # the level change, in spreads
    record: float
    score: float
    total: float  # of the short window, this reading included
    mean: float  # the slow average and variance, fed the reading leaving the short window
    var: float


@_inline
def _level_slot(state: NDArray[np.float64], t: int) -> tuple[int, int, int]:
    """Where reading ``t`` goes in the short window's values and learned flags; the length.

    The slots hold the reading that leaves the window until then.
    """
    values, short = _bounds(state, AT_LEVEL_VALUES)
    learned = int(state[AT_LEVEL_LEARNED])
    return values + t % short, learned + t % short, short


@_inline
def _score_level(state: NDArray[np.float64], x: float, t: int, floor: float) -> Level:
    """The short window with ``x`` in it against the slow average; ``t`` readings seen so far."""
    value_at, learned_at, short = _level_slot(state, t)
    leaving = state[value_at]
    total = state[S_SUM] + (x - leaving)
    mean, var = state[S_MEAN], state[S_VAR]
    z = 0.0
    if t >= short:
        if t == short:
            mean = leaving
        elif state[learned_at] > 0.0:
            error = leaving - mean
            rate = state[P_LEVEL_RATE]
            mean += rate * error
            var = (1.0 - rate) * (var + rate * error * error)
        if var > 0.0:
            z = abs(total / short - mean) / math.sqrt(var)
    record = _decayed_record(state, S_Z_RECORD, state[P_LEVEL_DECAY])
    score = _novelty_score(state, S_Z_RECORD, z, record, floor)
    return Level(z, record, score, total, mean, var)


@_inline
def _explain(state: NDArray[np.float64], x: float, level: Level) -> None:
    """Leave a flag's explanation: the slow average, and ``x``'s distance from it in spreads."""
    state[O_EXPECTED] = level.mean
    spread = max(math.sqrt(level.var), 1e-12 * (abs(level.mean) + 1.0))
    state[O_DEVIATION] = (x - level.mean) / spread


@_inline
def _commit_level(
    state: NDArray[np.float64], x: float, t: int, level: Level, warm: bool, learn: bool
) -> None:
    """Put ``x`` in the short window, with whether it is learned from; keep the rest."""
    value_at, learned_at, _ = _level_slot(state, t)
    state[value_at] = x
    state[learned_at] = 1.0 if learn else 0.0
    state[S_SUM] = level.total
    state[S_MEAN], state[S_VAR] = level.mean, level.var
    _commit_record(state, S_Z_RECORD, level.z, level.record, warm)


# --- Season: the newest window of block means against the windows one period ago ----------------
# Where the block means show a cycle, a shape may be known but not at this time of the cycle. The
# period is learned online from the autocorrelations of block means at lags up to
# ``season_lags``; the novelty is the L1 distance from the newest window to the nearest of those
# one period (+-1 block) ago, in units of the value range. It holds until the next block completes
# and is judged against a raised record (a cycle repeats less exactly than the shapes in the
# memory), once its record has seen ``season_lags`` distances. ``season_lags`` 0 turns it off.

# Decay per block of the autocorrelation sums (half-life 1,000 blocks), and the rate of the slow
# average of block means they are centred on.
SEASON_DECAY, SEASON_AVERAGE_RATE = 0.5 ** (1.0 / 1000.0), 0.01


class Season(NamedTuple):
    """The seasonal view at one reading, until it is committed."""

    distance: float
    measured: float  # seasonal distances measured, this one included
    record: float
    score: float  # counts only when ``scored``
    scored: bool  # the view is on and its record has seen enough distances


@_inline
def _season_distance(state: NDArray[np.float64], x: float, block: Block, period: int) -> float:
    """L1 distance from the newest window of block means to those one period (+-1 block) ago.

    In units of the value range as learned at this reading. The newest block mean is the one
    ``block`` completes; the older ones are in the ring (block ``k`` at ``k % len``).
    """
    means = _section(state, AT_SEASON_MEANS)
    size = means.shape[0]
    window = int(state[P_WINDOW])
    best = math.inf
    for offset in range(period - 1, period + 2):
        d = 0.0
        for j in range(window):
            k = block.blocks - 1 - j
            current = block.mean if j == 0 else means[k % size]
            d += abs(current - means[(k - offset) % size])
        best = min(best, d)
    return best / _learned_range(state, x)[1]


@_inline
def _learn_season(state: NDArray[np.float64], b: float, blocks: int) -> None:
    """Learn block mean ``b`` (of block ``blocks - 1``): the ring, the autocorrelations, the period.

    The period is the lag whose autocorrelation is a local peak above ``season_correlation`` of
    the variance and rises most above the lowest autocorrelation at shorter lags; 0 (no seasonal
    novelty) when there is none, or before the ring has been filled twice over.
    """
    acf = _section(state, AT_ACF)
    means = _section(state, AT_SEASON_MEANS)
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


@_inline
def _score_season(state: NDArray[np.float64], x: float, block: Block, floor: float) -> Season:
    """Measure the distance a completed block brings, where a period is known."""
    lags = state[P_SEASON_LAGS]
    distance = state[S_SEASON]
    measured = state[S_SEASON_COUNT]
    if lags > 0 and block.done:
        period = int(state[S_PERIOD])
        distance = 0.0
        if period > 0 and block.blocks >= period + int(state[P_WINDOW]) + 2:
            distance = _season_distance(state, x, block, period)
            measured += 1.0
    record = _decayed_record(state, S_SEASON_RECORD, state[P_NOVELTY_DECAY])
    factor = state[P_SEASON_FACTOR]
    score = _novelty_score(state, S_SEASON_RECORD, distance, record, floor, factor)
    return Season(distance, measured, record, score, lags > 0 and measured >= lags)


@_inline
def _commit_season(state: NDArray[np.float64], block: Block, season: Season, warm: bool) -> None:
    """Learn a completed block's mean; keep the distance, how many were measured, the record.

    With the view off these stay 0.
    """
    if block.done and state[P_SEASON_LAGS] > 0:
        _learn_season(state, block.mean, block.blocks)
    state[S_SEASON] = season.distance
    state[S_SEASON_COUNT] = season.measured
    _commit_record(state, S_SEASON_RECORD, season.distance, season.record, warm)


# --- Rest and episodes: one alarm per episode, and what the model may learn from -----------------
# After a new record (a score of 0.5) or a flag, scores are 0 for ``rest`` readings; a new record
# during the rest starts it again. An episode is a rest and what started it. Its high-scoring
# readings are not learned from (unless ``learn_anomalies``) until it has lasted ``recover``
# readings; then the model re-baselines on them.


class Verdict(NamedTuple):
    """What a reading's score means, until it is committed."""

    score: float  # 0 during a rest
    high: bool  # at the record (or the threshold, if lower): starts or restarts the rest
    flagged: bool
    resting: bool


@_inline
def _judge(state: NDArray[np.float64], score: float) -> Verdict:
    """Flag ``score`` if it reaches the threshold outside a rest."""
    resting = state[S_REST] > 0.0
    threshold = state[P_THRESHOLD]
    high = score >= min(RECORD, threshold)
    flagged = not resting and score >= threshold
    return Verdict(0.0 if resting else score, high, flagged, resting)


@_inline
def _commit_episode(state: NDArray[np.float64], verdict: Verdict) -> bool:
    """Start, restart or run down the rest and the episode; whether the model learns the reading."""
    rest = state[S_REST]
    if verdict.high:
        rest = state[P_REST]
    elif verdict.resting:
        rest -= 1.0
    episode = state[S_EPISODE] + 1.0 if (verdict.resting or verdict.high) else 0.0
    recovered = state[S_RECOVERED] if episode > 0.0 else 0.0
    learn = True
    if verdict.high and state[P_LEARN_ANOMALIES] == 0.0:
        learn = episode > state[P_RECOVER]
        if learn and recovered == 0.0:
            recovered = 1.0
            state[S_REBASELINES] += 1.0
    state[S_REST] = rest
    state[S_EPISODE] = episode
    state[S_RECOVERED] = recovered
    return learn


# --- The entry points ----------------------------------------------------------------------------

# Modes of :func:`step`.
SCORE, DETECT, LEARN = 0, 1, 2


@numba.njit("float64(float64[::1], float64, int64)", cache=True, nogil=True, error_model="numpy")
def step(state: NDArray[np.float64], x: float, mode: int) -> float:
    """Score one value; in DETECT mode also decide and learn, in LEARN mode learn unconditionally.

    Returns the anomaly score in [0, 1], 0 during a rest. In DETECT mode the reading is flagged
    exactly when the returned score reaches the threshold, and its explanation is left in
    ``O_EXPECTED`` and ``O_DEVIATION``. A missing (non-finite) value scores 0 and changes nothing.
    Every view scores against the state as it was before the value; then, unless scoring only,
    the rest decides whether the model learns from the value, and the views commit.
    """
    if not math.isfinite(x):
        return 0.0
    t = int(state[S_COUNT])
    warm = t >= state[P_WARMUP]
    floor = _floor(state, t)
    block = _next_block(state, x)
    value_range = _score_value_range(state, x)
    difference = _score_difference_range(state, x, t)
    shape = _score_shape(state, x, block, floor, mode != SCORE)
    season = _score_season(state, x, block, floor)
    level = _score_level(state, x, t, floor)
    score = 0.0
    if warm:
        score = max(value_range, difference.score)
        score = max(score, shape.score, level.score)
        if season.scored:
            score = max(score, season.score)
    verdict = _judge(state, score)
    if mode == SCORE:
        return verdict.score

    learn = True
    if mode == DETECT:
        if verdict.flagged:
            _explain(state, x, level)
        learn = _commit_episode(state, verdict)
    state[S_COUNT] = t + 1
    _commit_value_range(state, x)
    _commit_difference_range(state, x, t, difference)
    _commit_shape(state, block, shape, warm, learn)
    _commit_season(state, block, season, warm)
    _commit_block(state, block)
    _commit_level(state, x, t, level, warm, learn)
    return verdict.score


@numba.njit(cache=True, nogil=True, error_model="numpy")
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
