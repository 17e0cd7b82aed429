"""Numba kernel of :class:`~edgewise.detect.default.DefaultDetector`: one input in one array.

Everything one input needs lives in one flat ``float64`` array, declared once below (the
*layout*): the parameters (``P_*``), so that a kernel call takes nothing else; the learned state
(``S_*``); what the last reading left for the detector (``O_*``: its decision, the episode's
events, the evidence for an explanation); then the variable-size sections, whose starts are held
in ``AT_*`` fields. Offsets are handed out in the order of declaration, and numba compiles them in
as constants.

:func:`step` runs one value through five views, each with a *score* part, which reads the state
as it was before the value, and a *commit* part, which updates it once it is decided whether the
model learns from the value: the value range and the difference range, the shape of the last
window of block means (kNN), the level (a short mean against a slow average) and the season (the
window against the windows one period ago). The shared parts are the blocks (the means the shape
and seasonal views see), the records (a novelty against its decaying record and long-run floor),
the rest (a run of new records: what the score damps and the model does not learn yet), the
decision (each view against its limit, and against the normal frozen when an episode began) and
the episode (alarms, its end, the acceptance of a lasting change). The per-reading and the batch
(:func:`run_column`) paths run the same :func:`step`, so they agree exactly.

The kernel is one module on purpose: numba's cache is keyed on the source file of each compiled
function only, so a cached :func:`step` would not notice a change to a view, or to the layout,
kept in another file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from edgewise._jit import njit

__all__ = ["DETECT", "LEARN", "SCORE", "new_state", "run_column", "step"]

# The parts of the kernel are inlined into its two entry points (numba's own inlining, before
# typing): each is compiled once, inside them, and what a call costs -- two atomic reference
# counts of ``state`` wherever numba cannot prune them -- is not paid per reading. For the same
# reason the per-reading paths index ``state`` rather than slice it. The parameters are
# validated, so no division is by zero: the numpy error model drops the checks and the exception
# paths that keep reference counts from being pruned.
_inline = njit(cache=True, nogil=True, error_model="numpy", inline="always")

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
# Decisions and episodes: the warm-up, the severity at which a view is abnormal, readings not
# abnormal that end an episode, readings after which an episode is accepted as the new normal
# (0: never), and whether abnormal readings are learned all the same.
P_WARMUP = _LAYOUT.param()
P_THRESHOLD = _LAYOUT.param()
P_END_AFTER = _LAYOUT.param()
P_ACCEPT_AFTER = _LAYOUT.param()
P_LEARN_ANOMALIES = _LAYOUT.param()
# Rest: readings it lasts after a new record, the margin by which a reading in it must beat the
# record to score as high, readings after which its readings are learned; readings after which
# novelties join the records (shortly before the warm-up ends).
P_REST = _LAYOUT.param()
P_REST_MARGIN = _LAYOUT.param()
P_RECOVER = _LAYOUT.param()
P_RECORD_START = _LAYOUT.param()
# Value range and difference range; the widest step a reading may widen them by unless it is
# learned as normal, and the least margin of their decisions, in slow spreads.
P_RANGE_TOLERANCE = _LAYOUT.param()
P_LAG = _LAYOUT.param()
P_LAG_TOLERANCE = _LAYOUT.param()
P_RANGE_JUMP = _LAYOUT.param()
P_RANGE_SPREADS = _LAYOUT.param()
# Shape: readings per block, blocks per window, windows remembered and kept out, record decay.
P_BLOCK = _LAYOUT.param()
P_WINDOW = _LAYOUT.param()
P_MEMORY = _LAYOUT.param()
P_EXCLUDE = _LAYOUT.param()
P_NOVELTY_DECAY = _LAYOUT.param()
P_SHAPE_MARGIN = _LAYOUT.param()  # the decision's multiple of the record
# Level: readings in the short mean, rate of the slow average, record decay.
P_SHORT = _LAYOUT.param()
P_LEVEL_RATE = _LAYOUT.param()
P_LEVEL_DECAY = _LAYOUT.param()
P_LEVEL_MARGIN = _LAYOUT.param()  # the decision's multiple of the record
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
# The readings' variance about the short mean: their noise, which a level change does not inflate
# the way it inflates the variance about the slow average (the decisions' unit of spread).
S_NOISE_VAR = _LAYOUT.field()
# Readings in the short window that were not learned: while one is there (a glitch), the short
# mean is not the level, and no reading teaches the noise.
S_WINDOW_UNLEARNED = _LAYOUT.field()
S_Z_RECORD = _LAYOUT.record()
# Season: the period in blocks (0 = none) and the slow average of block means it is learned
# around; the seasonal distance (held until the next block completes), how many were measured,
# and its record.
S_PERIOD = _LAYOUT.field()
S_BLOCK_AVERAGE = _LAYOUT.field()
S_SEASON = _LAYOUT.field()
S_SEASON_COUNT = _LAYOUT.field()
S_SEASON_RECORD = _LAYOUT.record()
# Rest: readings of it left, readings into the run of new records, whether this run was
# learned again, and how many were.
S_REST = _LAYOUT.field()
S_RUN = _LAYOUT.field()
S_RECOVERED = _LAYOUT.field()
S_REBASELINES = _LAYOUT.field()
# The episode: the views it has seen (bits), readings in a row not abnormal, readings in a row
# the live model (not the frozen normal) found normal, readings in it, whether it was accepted as
# the new normal; episodes accepted so far; whether the detector keeps a reference (then no
# episode is accepted by itself).
S_EPISODE_VIEWS = _LAYOUT.field()
S_EPISODE_QUIET = _LAYOUT.field()
S_EPISODE_LIVE_QUIET = _LAYOUT.field()
S_EPISODE_LENGTH = _LAYOUT.field()
S_EPISODE_ACCEPTED = _LAYOUT.field()
S_ACCEPTS = _LAYOUT.field()
S_REFERENCE = _LAYOUT.field()
# The normal frozen when the episode began: the value range, the slow average and spread, and
# the level's limit.
S_FROZEN_LOW = _LAYOUT.field()
S_FROZEN_HIGH = _LAYOUT.field()
S_FROZEN_MEAN = _LAYOUT.field()
S_FROZEN_SPREAD = _LAYOUT.field()
S_FROZEN_LIMIT = _LAYOUT.field()

# What the last reading leaves for the detector: the abnormal views (bits), the episode's events
# (bits), and the evidence of an explanation: the slow average and the reading's distance from
# it in spreads, the value range and the change with the range of changes it was judged against.
O_VIEWS = _LAYOUT.field()
O_EVENTS = _LAYOUT.field()
O_EXPECTED = _LAYOUT.field()
O_DEVIATION = _LAYOUT.field()
O_LOW = _LAYOUT.field()
O_HIGH = _LAYOUT.field()
O_CHANGE = _LAYOUT.field()
O_CHANGE_LOW = _LAYOUT.field()
O_CHANGE_HIGH = _LAYOUT.field()
# The evidence fields, from ``O_EXPECTED`` on, in order.
EVIDENCE = O_CHANGE_HIGH + 1 - O_EXPECTED

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

# The widest shape window, in blocks: the C port (``_ckernel``) codes a window on its stack.
MAX_WINDOW = 256


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

SQRT2 = math.sqrt(2.0)

# The floor's quantile of past novelty, and the relative step of its estimate.
FLOOR_QUANTILE, FLOOR_STEP = 0.99, 0.05


# The severity of a novelty beyond a limit of zero width.
BEYOND = 1e9


@_inline
def _ratio(raw: float, limit: float) -> float:
    """A novelty's severity: the novelty in units of its limit (1 at the limit)."""
    if limit > 0.0:
        return raw / limit
    return BEYOND if raw > 0.0 else 0.0


def score_of(severity: float) -> float:
    """A severity as a score in [0, 1): half of it up to the limit, then ``1 - 1 / (2 s)``.

    Below the limit this is the score edgewise always gave (0.5 at the record); beyond it the
    score keeps ranking readings by how far out they are instead of stopping at 1.
    """
    return 0.5 * severity if severity <= 1.0 else 1.0 - 0.5 / severity


# The kernel's own: Python callers call ``score_of``, which does not load numba.
_score_of = _inline(score_of)


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
    """The severity of ``novelty`` against ``factor`` times its record, or its floor if higher."""
    return _ratio(novelty, _limit(state, fields, record, floor, factor))


@_inline
def _limit(
    state: NDArray[np.float64], fields: Record, record: float, floor: float, factor: float = 1.0
) -> float:
    """``factor`` times the record, or times the floor's multiple of the quantile if higher."""
    return float(factor * max(record, floor * state[fields.quantile]))


@_inline
def _commit_record(
    state: NDArray[np.float64], fields: Record, novelty: float, record: float, warm: bool
) -> None:
    """Keep the record; the novelty joins it at the next reading and moves the quantile.

    Novelties start to count shortly before the end of the warm-up (``warm``): the first
    ones are huge and would inflate the record for thousands of readings, and a record that has
    seen none would make the first judged reading a record.
    """
    if warm:
        state[fields.quantile] = _quantile(state[fields.quantile], novelty)
    state[fields.record] = record
    state[fields.previous] = novelty if warm else 0.0


# --- The value range and the difference range ----------------------------------------------------
# What has been seen: a value or change beyond it scores in units of ``tolerance`` of its width.
# A range learns every reading that is learned, and any other that widens it by at most
# ``range_jump`` of its width; what lies farther out joins it only once its run of new records
# has lasted (``recover``). One glitch -- a sensor's error code, 65535 -- cannot stretch a range
# and blind it; a spike of the usual size is learned at once, so the next like it is not new.


class Difference(NamedTuple):
    """The difference range at one reading, until it is committed."""

    score: float
    change: float  # over ``difference_lag`` readings
    known: bool  # ``difference_lag`` readings have been seen, so ``change`` is one


@_inline
def _beyond(v: float, low: float, high: float) -> float:
    """How far ``v`` lies outside ``[low, high]`` (0 inside)."""
    return max(v - high, low - v, 0.0)


@_inline
def _outside(v: float, low: float, high: float, tolerance: float) -> float:
    """How far ``v`` leaves ``[low, high]``, in units of ``tolerance`` of its width."""
    if high <= low:
        return 0.0
    return _ratio(_beyond(v, low, high), tolerance * (high - low))


@_inline
def _near(v: float, low: float, high: float, jump: float) -> bool:
    """Whether ``v`` widens ``[low, high]`` by at most ``jump`` of its width (or it is empty)."""
    return high <= low or _beyond(v, low, high) <= jump * (high - low)


@_inline
def _score_value_range(state: NDArray[np.float64], x: float) -> float:
    """How far ``x`` leaves the value range, in ``range_tolerance`` of its width."""
    return _outside(x, state[S_LOW], state[S_HIGH], state[P_RANGE_TOLERANCE])


@_inline
def _commit_value_range(state: NDArray[np.float64], x: float, learn: bool) -> None:
    """Widen the value range to ``x`` if it is learned, or near."""
    low, high = state[S_LOW], state[S_HIGH]
    if learn or _near(x, low, high, state[P_RANGE_JUMP]):
        state[S_LOW] = min(low, x)
        state[S_HIGH] = max(high, x)


@_inline
def _learned_range(state: NDArray[np.float64], x: float) -> tuple[float, float]:
    """The value range as learned at this reading (``x`` included): its low end and width.

    The width of an empty range is 1, so that dividing by it is safe.
    """
    low, high = min(state[S_LOW], x), max(state[S_HIGH], x)
    return low, high - low if high > low else 1.0


@_inline
def _score_difference_range(state: NDArray[np.float64], x: float, t: int) -> Difference:
    """How far the change over ``difference_lag`` readings leaves the range of changes.

    In ``difference_tolerance`` of that range's width; ``t`` readings have been seen.
    """
    past, lag = _bounds(state, AT_PAST)
    change = x - state[past + t % lag]
    known = t >= lag
    low, high, tolerance = state[S_DIFF_LOW], state[S_DIFF_HIGH], state[P_LAG_TOLERANCE]
    outside = _outside(change, low, high, tolerance) if known else 0.0
    return Difference(outside, change, known)


@_inline
def _commit_difference_range(
    state: NDArray[np.float64], x: float, t: int, difference: Difference, learn: bool
) -> None:
    """Widen the range of changes to this one if it is learned, or near; remember ``x``."""
    low, high = state[S_DIFF_LOW], state[S_DIFF_HIGH]
    change = difference.change
    if difference.known and (learn or _near(change, low, high, state[P_RANGE_JUMP])):
        state[S_DIFF_LOW] = min(low, change)
        state[S_DIFF_HIGH] = max(high, change)
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
    if t >= short and state[learned_at] == 0.0:
        # An unlearned reading (a glitch: 1e30) leaves: taking it off the sum would cancel the
        # other readings' digits, so the window is summed afresh.
        start = _bounds(state, AT_LEVEL_VALUES)[0]
        total = x
        for j in range(short):
            if start + j != value_at:
                total += state[start + j]
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
    value_at, learned_at, short = _level_slot(state, t)
    unlearned = state[S_WINDOW_UNLEARNED] + (0.0 if learn else 1.0)
    if t >= short and state[learned_at] == 0.0:
        unlearned -= 1.0  # the reading leaving the window
    state[S_WINDOW_UNLEARNED] = unlearned
    state[value_at] = x
    state[learned_at] = 1.0 if learn else 0.0
    state[S_SUM] = level.total
    state[S_MEAN], state[S_VAR] = level.mean, level.var
    if learn and t + 1 >= short and unlearned == 0.0:
        rate = state[P_LEVEL_RATE]
        deviation = x - level.total / short
        state[S_NOISE_VAR] = (1.0 - rate) * (state[S_NOISE_VAR] + rate * deviation * deviation)
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


# --- Rest: a run of new records, which the score damps and the model does not learn yet ---------
# A reading at or beyond its record (severity 1) starts a rest of ``rest`` readings, or restarts
# it. During the rest a reading's severity is divided by ``rest_margin``: the readings that follow
# an onset, records by a hair, no longer stand out, while a new fault far beyond the record still
# does (no reading is ever blind). A run's readings at their record are not learned (unless
# ``learn_anomalies``) until it has lasted ``recover`` readings; then the model re-baselines on
# them: the records and the view models follow a lasting change, which the decisions, frozen at
# the episode's start, keep reporting (see the episode).


class Run(NamedTuple):
    """What a reading's severity means for the rest, until it is committed."""

    severity: float  # damped during a rest
    high: bool  # at the record: starts or restarts the rest
    resting: bool


@_inline
def _judge(state: NDArray[np.float64], severity: float) -> Run:
    """Damp ``severity`` if it falls in a rest; whether it is a new record."""
    resting = state[S_REST] > 0.0
    damped = severity / state[P_REST_MARGIN] if resting else severity
    return Run(damped, severity >= 1.0, resting)


@_inline
def _commit_rest(state: NDArray[np.float64], run: Run) -> bool:
    """Start, restart or run down the rest and the run; whether the model learns the reading."""
    rest = state[S_REST]
    if run.high:
        rest = state[P_REST]
    elif run.resting:
        rest -= 1.0
    length = state[S_RUN] + 1.0 if (run.resting or run.high) else 0.0
    recovered = state[S_RECOVERED] if length > 0.0 else 0.0
    learn = True
    if run.high and state[P_LEARN_ANOMALIES] == 0.0:
        learn = length > state[P_RECOVER]
        if learn and recovered == 0.0:
            recovered = 1.0
            state[S_REBASELINES] += 1.0
    state[S_REST] = rest
    state[S_RUN] = length
    state[S_RECOVERED] = recovered
    return learn


# --- Decisions: each view against its limit, and the normal frozen when the episode began --------
# The severities above rank readings; a decision needs more. A range is left by more than its
# tolerance and by at least ``range_spreads`` slow spreads (a new extreme of plain noise is not
# abnormal); the shape and the level beat their records by ``shape_margin`` and ``level_margin``.
# During an episode that was not accepted, the value range and the level frozen at its alarm judge
# too: the model follows a lasting change, the decision keeps it abnormal.

# Views, as bits of a decision.
RANGE_VIEW, DIFFERENCE_VIEW, SHAPE_VIEW, LEVEL_VIEW, SEASON_VIEW = 1, 2, 4, 8, 16


class Decision(NamedTuple):
    """Which views find a reading abnormal, and the level's record (or floor) at this reading."""

    views: int
    live: int  # the views the live model alone finds abnormal (without the frozen normal)
    level_limit: float


@_inline
def _range_decision(
    state: NDArray[np.float64], v: float, low: float, high: float, spread: float
) -> bool:
    """Whether ``v`` leaves ``[low, high]`` by the threshold times its decision margin."""
    if high <= low:
        return False
    margin = max(state[P_RANGE_TOLERANCE] * (high - low), state[P_RANGE_SPREADS] * spread)
    return bool(_beyond(v, low, high) >= state[P_THRESHOLD] * margin)


@_inline
def _decide(
    state: NDArray[np.float64],
    x: float,
    difference: Difference,
    shape: Shape,
    level: Level,
    season: Season,
    floor: float,
) -> Decision:
    """The views that find ``x`` abnormal, against the state as it was before it."""
    threshold = state[P_THRESHOLD]
    # The noise variance starts from 0: early on it is scaled up by the weight it has gathered.
    learned = max(state[S_COUNT] - _bounds(state, AT_LEVEL_VALUES)[1], 1.0)
    gathered = 1.0 - (1.0 - state[P_LEVEL_RATE]) ** learned
    spread = math.sqrt(state[S_NOISE_VAR] / gathered)
    views = 0
    if _range_decision(state, x, state[S_LOW], state[S_HIGH], spread):
        views |= RANGE_VIEW
    if difference.known:
        change = difference.change
        # The change over many readings of noise spreads sqrt(2) times wider than one reading.
        if _range_decision(state, change, state[S_DIFF_LOW], state[S_DIFF_HIGH], SQRT2 * spread):
            views |= DIFFERENCE_VIEW
    shape_limit = _limit(state, S_DIST_RECORD, shape.record, floor, state[P_SHAPE_MARGIN])
    if _ratio(shape.distance, shape_limit) >= threshold:
        views |= SHAPE_VIEW
    level_limit = _limit(state, S_Z_RECORD, level.record, floor)
    if _ratio(level.z, state[P_LEVEL_MARGIN] * level_limit) >= threshold:
        views |= LEVEL_VIEW
    if season.scored and season.score >= threshold:
        views |= SEASON_VIEW
    live = views
    if state[S_EPISODE_LENGTH] > 0.0 and state[S_EPISODE_ACCEPTED] == 0.0:
        # What the episode's start set apart stays apart: beyond the frozen range by its
        # tolerance, or the short mean beyond the frozen level's record.
        low, high = state[S_FROZEN_LOW], state[S_FROZEN_HIGH]
        if _outside(x, low, high, state[P_RANGE_TOLERANCE]) >= threshold:
            views |= RANGE_VIEW
        short = _bounds(state, AT_LEVEL_VALUES)[1]
        frozen_z = _ratio(abs(level.total / short - state[S_FROZEN_MEAN]), state[S_FROZEN_SPREAD])
        if _ratio(frozen_z, state[S_FROZEN_LIMIT]) >= threshold:
            views |= LEVEL_VIEW
    return Decision(views, live, level_limit)


@_inline
def _evidence(state: NDArray[np.float64], x: float, difference: Difference, level: Level) -> None:
    """Leave what an explanation needs: the level, the value range, the change and its range."""
    _explain(state, x, level)
    frozen = state[S_EPISODE_LENGTH] > 0.0 and state[S_EPISODE_ACCEPTED] == 0.0
    state[O_LOW] = state[S_FROZEN_LOW] if frozen else state[S_LOW]
    state[O_HIGH] = state[S_FROZEN_HIGH] if frozen else state[S_HIGH]
    state[O_CHANGE] = difference.change
    state[O_CHANGE_LOW] = state[S_DIFF_LOW]
    state[O_CHANGE_HIGH] = state[S_DIFF_HIGH]


# --- The episode: alarms, its end, the acceptance of a lasting change ----------------------------
# An episode starts with an alarm at the first abnormal reading; another view going abnormal in
# it after its first block raises another alarm. It ends once ``end_after`` readings in a row are
# not abnormal. Online, an episode that has lasted ``accept_after`` readings is accepted as the
# new normal: the frozen normal stops judging, and the episode ends once the model has followed.
# With a reference (``S_REFERENCE``) nothing is accepted by itself.

# Events, as bits.
ALARM, ENDED, ACCEPTED = 1, 2, 4


@_inline
def _advance_episode(state: NDArray[np.float64], views: int, live: int) -> int:
    """Take one reading's abnormal views (``live``: the live model's); return the events."""
    seen = int(state[S_EPISODE_VIEWS])
    if state[S_EPISODE_LENGTH] == 0.0:
        if views == 0:
            return 0
        state[S_EPISODE_VIEWS] = views
        state[S_EPISODE_QUIET] = 0.0
        state[S_EPISODE_LIVE_QUIET] = 0.0
        state[S_EPISODE_LENGTH] = 1.0
        state[S_EPISODE_ACCEPTED] = 0.0
        return ALARM
    state[S_EPISODE_LENGTH] += 1.0
    events = 0
    accept = state[P_ACCEPT_AFTER]
    if (
        accept > 0.0
        and state[S_REFERENCE] == 0.0
        and state[S_EPISODE_ACCEPTED] == 0.0
        and state[S_EPISODE_LENGTH] >= accept
    ):
        state[S_EPISODE_ACCEPTED] = 1.0
        state[S_ACCEPTS] += 1.0
        events |= ACCEPTED
    # The live model follows a lasting change; once it has found the readings normal for
    # ``end_after`` in a row, what it finds abnormal next is a new onset, as after an episode's end.
    renewed = False
    if live == 0:
        state[S_EPISODE_LIVE_QUIET] += 1.0
    else:
        renewed = state[S_EPISODE_LIVE_QUIET] >= state[P_END_AFTER]
        state[S_EPISODE_LIVE_QUIET] = 0.0
    if views == 0:
        state[S_EPISODE_QUIET] += 1.0
        if state[S_EPISODE_QUIET] >= state[P_END_AFTER]:
            state[S_EPISODE_VIEWS] = 0.0
            state[S_EPISODE_QUIET] = 0.0
            state[S_EPISODE_LIVE_QUIET] = 0.0
            state[S_EPISODE_LENGTH] = 0.0
            state[S_EPISODE_ACCEPTED] = 0.0
            events |= ENDED
        return events
    state[S_EPISODE_QUIET] = 0.0
    state[S_EPISODE_VIEWS] = seen | views
    # The views that see the onset join within a block (the shape view waits for the block to
    # complete): one cause, one alarm. A view going abnormal later is news.
    late = state[S_EPISODE_LENGTH] > state[P_BLOCK]
    return events | (ALARM if (views & ~seen and late) or renewed else 0)


@_inline
def _freeze(state: NDArray[np.float64], level: Level, level_limit: float) -> None:
    """Keep the normal as it was when the episode began: the range, the level and its limit."""
    state[S_FROZEN_LOW] = state[S_LOW]
    state[S_FROZEN_HIGH] = state[S_HIGH]
    state[S_FROZEN_MEAN] = level.mean
    state[S_FROZEN_SPREAD] = math.sqrt(level.var)
    state[S_FROZEN_LIMIT] = level_limit


# --- The entry points ----------------------------------------------------------------------------

# Modes of :func:`step`.
SCORE, DETECT, LEARN = 0, 1, 2


@njit("float64(float64[::1], float64, int64)", cache=True, nogil=True, error_model="numpy")
def step(state: NDArray[np.float64], x: float, mode: int) -> float:
    """Score one value; in DETECT mode also decide and learn, in LEARN mode learn unconditionally.

    Returns the anomaly score in [0, 1): the largest severity of the views (damped during a
    rest), as :func:`score_of`. In DETECT mode the decision is left in ``O_VIEWS`` (the abnormal
    views, 0 when the reading is normal), the episode's events in ``O_EVENTS`` and, when
    abnormal, the evidence of an explanation in the other ``O_*`` fields. A missing (non-finite)
    value scores 0 and changes nothing. Every view scores against the state as it was before the
    value; then, unless scoring only, the rest decides whether the model learns from the value,
    and the views commit.
    """
    if not math.isfinite(x):
        return 0.0
    t = int(state[S_COUNT])
    warm = t >= state[P_WARMUP]
    records = t >= state[P_RECORD_START]
    floor = _floor(state, t)
    block = _next_block(state, x)
    value_range = _score_value_range(state, x)
    difference = _score_difference_range(state, x, t)
    shape = _score_shape(state, x, block, floor, mode != SCORE)
    season = _score_season(state, x, block, floor)
    level = _score_level(state, x, t, floor)
    severity = 0.0
    if warm:
        severity = max(value_range, difference.score, shape.score, level.score)
        if season.scored:
            severity = max(severity, season.score)
    run = _judge(state, severity)
    if mode == SCORE:
        return _score_of(run.severity)

    learn = True
    if mode == DETECT:
        views, events = 0, 0
        if warm:
            decision = _decide(state, x, difference, shape, level, season, floor)
            views = decision.views
            starting = state[S_EPISODE_LENGTH] == 0.0
            events = _advance_episode(state, views, decision.live)
            if starting and events & ALARM:
                _freeze(state, level, decision.level_limit)
            if views:
                _evidence(state, x, difference, level)
        state[O_VIEWS] = views
        state[O_EVENTS] = events
        learn = _commit_rest(state, run)
    state[S_COUNT] = t + 1
    _commit_value_range(state, x, learn)
    _commit_difference_range(state, x, t, difference, learn)
    _commit_shape(state, block, shape, records, learn)
    _commit_season(state, block, season, records)
    _commit_block(state, block)
    _commit_level(state, x, t, level, records, learn)
    return _score_of(run.severity)


@njit(cache=True, nogil=True, error_model="numpy")
def run_column(
    state: NDArray[np.float64],
    values: NDArray[np.float64],
    scores: NDArray[np.float64],
    views: NDArray[np.float64],
    events: NDArray[np.float64],
    evidence: NDArray[np.float64],
) -> None:
    """DETECT over a column of values: each row's score, abnormal views, events and evidence.

    ``evidence`` has one row per value and :data:`EVIDENCE` columns, the ``O_*`` fields from
    ``O_EXPECTED`` on; it is written where the row is abnormal.
    """
    for i in range(values.shape[0]):
        scores[i] = step(state, values[i], DETECT)
        if math.isfinite(values[i]):
            views[i] = state[O_VIEWS]
            events[i] = state[O_EVENTS]
            if views[i] > 0.0:
                for j in range(EVIDENCE):
                    evidence[i, j] = state[O_EXPECTED + j]
