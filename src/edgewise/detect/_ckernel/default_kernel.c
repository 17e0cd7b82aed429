/* The default detector's kernel in C99: a line-by-line port of _default_kernel.py.
 *
 * Each function below is the Python function of the same name (without its underscore), with the
 * same operations in the same order: the numba kernel is the reference and the two agree to the
 * last bit (tests/detect/test_ckernel.py). Python's min and max are numba's: the later argument
 * wins only when strictly greater (smaller), which fmax/fmin would not keep for NaN. The ring
 * indices taken modulo are never negative, as in Python, so C's % equals Python's there.
 */
#include "default_kernel.h"

#include <math.h>
#include <stdint.h>

typedef struct {
    int64_t record, previous, quantile;
} Record;

static const Record S_DIST_RECORD = {EW_S_DIST_RECORD_RECORD, EW_S_DIST_RECORD_PREVIOUS,
                                     EW_S_DIST_RECORD_QUANTILE};
static const Record S_Z_RECORD = {EW_S_Z_RECORD_RECORD, EW_S_Z_RECORD_PREVIOUS,
                                  EW_S_Z_RECORD_QUANTILE};
static const Record S_SEASON_RECORD = {EW_S_SEASON_RECORD_RECORD, EW_S_SEASON_RECORD_PREVIOUS,
                                       EW_S_SEASON_RECORD_QUANTILE};

static double max2(double a, double b) { return b > a ? b : a; }
static double min2(double a, double b) { return b < a ? b : a; }
static int64_t imax2(int64_t a, int64_t b) { return b > a ? b : a; }
static int64_t imin2(int64_t a, int64_t b) { return b < a ? b : a; }

/* int() of a double as numba compiles it on x86-64: out of range (or NaN) gives INT64_MIN. */
static int64_t to_int(double v) {
    if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) return (int64_t)v;
    return INT64_MIN;
}

static int64_t count(const double *state, int64_t at) { return to_int(state[at]); }

/* Where the section whose start is held at ``at`` starts, and its length. */
static int64_t section_start(const double *state, int64_t at) { return count(state, at); }
static int64_t section_size(const double *state, int64_t at) {
    return count(state, at + 1) - count(state, at);
}

/* --- Records and their long-run floor --------------------------------------------------------- */

static double ratio(double raw, double limit) {
    if (limit > 0.0) return raw / limit;
    return raw > 0.0 ? EW_BEYOND : 0.0;
}

static double score_of(double severity) {
    return severity <= 1.0 ? 0.5 * severity : 1.0 - 0.5 / severity;
}

static double quantile(double estimate, double x) {
    if (estimate <= 0.0) return x;
    if (x > estimate) return estimate * (1.0 + EW_FLOOR_STEP * EW_FLOOR_QUANTILE);
    return estimate * (1.0 - EW_FLOOR_STEP * (1.0 - EW_FLOOR_QUANTILE));
}

static double floor_at(const double *state, int64_t t) {
    return state[EW_P_FLOOR] * min2(1.0, (double)t / state[EW_P_FLOOR_READINGS]);
}

static double decayed_record(const double *state, Record fields, double decay) {
    return max2(state[fields.record] * decay, state[fields.previous]);
}

static double limit_of(const double *state, Record fields, double record, double floor,
                       double factor) {
    return factor * max2(record, floor * state[fields.quantile]);
}

static double novelty_score(const double *state, Record fields, double novelty, double record,
                            double floor, double factor) {
    return ratio(novelty, limit_of(state, fields, record, floor, factor));
}

static void commit_record(double *state, Record fields, double novelty, double record, int warm) {
    if (warm) state[fields.quantile] = quantile(state[fields.quantile], novelty);
    state[fields.record] = record;
    state[fields.previous] = warm ? novelty : 0.0;
}

/* --- The value range and the difference range ------------------------------------------------- */

typedef struct {
    double score, change;
    int known;
} Difference;

static double beyond(double v, double low, double high) {
    return max2(max2(v - high, low - v), 0.0);
}

static double outside(double v, double low, double high, double tolerance) {
    if (high <= low) return 0.0;
    return ratio(beyond(v, low, high), tolerance * (high - low));
}

static int near(double v, double low, double high, double jump) {
    return high <= low || beyond(v, low, high) <= jump * (high - low);
}

static double score_value_range(const double *state, double x) {
    return outside(x, state[EW_S_LOW], state[EW_S_HIGH], state[EW_P_RANGE_TOLERANCE]);
}

static void commit_value_range(double *state, double x, int learn) {
    double low = state[EW_S_LOW], high = state[EW_S_HIGH];
    if (learn || near(x, low, high, state[EW_P_RANGE_JUMP])) {
        state[EW_S_LOW] = min2(low, x);
        state[EW_S_HIGH] = max2(high, x);
    }
}

/* The width of the value range as learned at this reading (x included); 1 when empty. */
static double learned_low(const double *state, double x) { return min2(state[EW_S_LOW], x); }
static double learned_width(const double *state, double x) {
    double low = min2(state[EW_S_LOW], x), high = max2(state[EW_S_HIGH], x);
    return high > low ? high - low : 1.0;
}

static Difference score_difference_range(const double *state, double x, int64_t t) {
    int64_t past = section_start(state, EW_AT_PAST), lag = section_size(state, EW_AT_PAST);
    Difference d;
    d.change = x - state[past + t % lag];
    d.known = t >= lag;
    d.score = d.known ? outside(d.change, state[EW_S_DIFF_LOW], state[EW_S_DIFF_HIGH],
                                state[EW_P_LAG_TOLERANCE])
                      : 0.0;
    return d;
}

static void commit_difference_range(double *state, double x, int64_t t, Difference difference,
                                    int learn) {
    double low = state[EW_S_DIFF_LOW], high = state[EW_S_DIFF_HIGH];
    double change = difference.change;
    if (difference.known && (learn || near(change, low, high, state[EW_P_RANGE_JUMP]))) {
        state[EW_S_DIFF_LOW] = min2(low, change);
        state[EW_S_DIFF_HIGH] = max2(high, change);
    }
    int64_t past = section_start(state, EW_AT_PAST), lag = section_size(state, EW_AT_PAST);
    state[past + t % lag] = x;
}

/* --- Blocks ----------------------------------------------------------------------------------- */

typedef struct {
    double total;
    int done;
    int64_t blocks;
    double mean;
} Block;

static Block next_block(const double *state, double x) {
    int64_t block = count(state, EW_P_BLOCK);
    Block b;
    b.total = state[EW_S_BLOCK_SUM] + x;
    b.done = state[EW_S_BLOCK_FILL] + 1.0 >= (double)block;
    b.blocks = count(state, EW_S_BLOCKS);
    b.mean = 0.0;
    if (b.done) {
        b.blocks += 1;
        b.mean = b.total / (double)block;
    }
    return b;
}

static void commit_block(double *state, Block block) {
    if (block.done) {
        state[EW_S_BLOCK_SUM] = 0.0;
        state[EW_S_BLOCK_FILL] = 0.0;
        state[EW_S_BLOCKS] = (double)block.blocks;
    } else {
        state[EW_S_BLOCK_SUM] = block.total;
        state[EW_S_BLOCK_FILL] += 1.0;
    }
}

/* --- Shape (kNN) ------------------------------------------------------------------------------ */

typedef struct {
    double distance, record, score;
    int new_window;
} Shape;

static int64_t code(double value, double low, double width) {
    return imin2(255, imax2(0, to_int(floor((value - low) / width * 255.0 + 0.5))));
}

/* Windows measured at a time by nearest(): its distances live on the stack. */
#define EW_CHUNK 256

/* L1 distance, in codes, from a window to the nearest of the ``stored`` remembered ones. As in
 * numba, code by code over runs of windows (contiguous in the column-major memory, so the inner
 * loop vectorises); the sums are of integers, so any order gives the same distances. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
/* Integer sums: wider vectors where the CPU has them change no bit of the result. */
__attribute__((target_clones("avx2", "default")))
#endif
static int64_t nearest(const uint8_t *memory, const uint8_t *codes, int64_t window,
                       int64_t stored, int64_t size) {
    int32_t best = INT32_MAX;
    uint16_t dist[EW_CHUNK]; /* sums of at most EW_MAX_WINDOW codes: < 65536 */
    for (int64_t first = 0; first < stored; first += EW_CHUNK) {
        int64_t n = imin2(EW_CHUNK, stored - first);
        for (int64_t m = 0; m < n; m++) dist[m] = 0;
        for (int64_t j = 0; j < window; j++) {
            uint8_t cj = codes[j];
            const uint8_t *row = memory + j * size + first;
            for (int64_t m = 0; m < n; m++)
                dist[m] += (uint16_t)(cj > row[m] ? cj - row[m] : row[m] - cj);
        }
        for (int64_t m = 0; m < n; m++)
            if (dist[m] < best) best = dist[m];
    }
    return best;
}

/* Where the codes of window number ``windows`` start in the delay line. */
static int64_t delayed(const double *state, int64_t windows) {
    int64_t window = count(state, EW_P_WINDOW);
    int64_t slots = section_size(state, EW_AT_DELAY_JOINS);
    return count(state, EW_AT_DELAY_CODES) + windows % slots * window;
}

static uint8_t *memory_of(double *state) {
    return (uint8_t *)(state + section_start(state, EW_AT_MEMORY));
}

static void remember(double *state, int64_t codes_at) {
    int64_t size = count(state, EW_P_MEMORY), window = count(state, EW_P_WINDOW);
    uint8_t *memory = memory_of(state);
    int64_t at = count(state, EW_S_NEXT);
    for (int64_t j = 0; j < window; j++) memory[j * size + at] = (uint8_t)state[codes_at + j];
    state[EW_S_NEXT] = (double)((at + 1) % size);
    state[EW_S_STORED] = min2(state[EW_S_STORED] + 1.0, (double)size);
}

static double window_distance(double *state, double x, Block block, int keep) {
    int64_t window = count(state, EW_P_WINDOW);
    uint8_t codes[EW_MAX_WINDOW];
    double low = learned_low(state, x), width = learned_width(state, x);
    int64_t means = count(state, EW_AT_BLOCK_MEANS);
    for (int64_t j = 0; j < window - 1; j++)
        codes[j] = (uint8_t)code(state[means + (block.blocks - window + j) % window], low, width);
    codes[window - 1] = (uint8_t)code(block.mean, low, width);
    if (keep) {
        int64_t at = delayed(state, count(state, EW_S_WINDOWS));
        for (int64_t j = 0; j < window; j++) state[at + j] = (double)codes[j];
    }
    int64_t stored = count(state, EW_S_STORED), size = count(state, EW_P_MEMORY);
    if (stored <= 0) return 0.0;
    return (double)nearest(memory_of(state), codes, window, stored, size) / 255.0;
}

static Shape score_shape(double *state, double x, Block block, double floor, int keep) {
    Shape s;
    s.new_window = block.done && block.blocks >= count(state, EW_P_WINDOW);
    s.distance = s.new_window ? window_distance(state, x, block, keep) : state[EW_S_DIST];
    s.record = decayed_record(state, S_DIST_RECORD, state[EW_P_NOVELTY_DECAY]);
    s.score = novelty_score(state, S_DIST_RECORD, s.distance, s.record, floor, 1.0);
    return s;
}

static void advance_delay(double *state, int learn) {
    int64_t joins = section_start(state, EW_AT_DELAY_JOINS);
    int64_t slots = section_size(state, EW_AT_DELAY_JOINS);
    int64_t windows = count(state, EW_S_WINDOWS);
    state[joins + windows % slots] = learn ? 1.0 : 0.0;
    windows += 1;
    state[EW_S_WINDOWS] = (double)windows;
    if (windows >= slots && state[joins + windows % slots] > 0.0)
        remember(state, delayed(state, windows));
}

static void commit_shape(double *state, Block block, Shape shape, int warm, int learn) {
    if (block.done) {
        int64_t window = count(state, EW_P_WINDOW);
        state[count(state, EW_AT_BLOCK_MEANS) + (block.blocks - 1) % window] = block.mean;
    }
    if (shape.new_window) advance_delay(state, learn);
    state[EW_S_DIST] = shape.distance;
    commit_record(state, S_DIST_RECORD, shape.distance, shape.record, warm);
}

/* --- Level ------------------------------------------------------------------------------------ */

typedef struct {
    double z, record, score, total, mean, var;
} Level;

static Level score_level(const double *state, double x, int64_t t, double floor) {
    int64_t short_ = section_size(state, EW_AT_LEVEL_VALUES);
    int64_t value_at = section_start(state, EW_AT_LEVEL_VALUES) + t % short_;
    int64_t learned_at = count(state, EW_AT_LEVEL_LEARNED) + t % short_;
    double leaving = state[value_at];
    Level l;
    l.total = state[EW_S_SUM] + (x - leaving);
    if (t >= short_ && state[learned_at] == 0.0) {
        int64_t start = section_start(state, EW_AT_LEVEL_VALUES);
        l.total = x;
        for (int64_t j = 0; j < short_; j++)
            if (start + j != value_at) l.total += state[start + j];
    }
    l.mean = state[EW_S_MEAN];
    l.var = state[EW_S_VAR];
    l.z = 0.0;
    if (t >= short_) {
        if (t == short_) {
            l.mean = leaving;
        } else if (state[learned_at] > 0.0) {
            double error = leaving - l.mean;
            double rate = state[EW_P_LEVEL_RATE];
            l.mean += rate * error;
            l.var = (1.0 - rate) * (l.var + rate * error * error);
        }
        if (l.var > 0.0) l.z = fabs(l.total / (double)short_ - l.mean) / sqrt(l.var);
    }
    l.record = decayed_record(state, S_Z_RECORD, state[EW_P_LEVEL_DECAY]);
    l.score = novelty_score(state, S_Z_RECORD, l.z, l.record, floor, 1.0);
    return l;
}

static void explain(double *state, double x, Level level) {
    state[EW_O_EXPECTED] = level.mean;
    double spread = max2(sqrt(level.var), 1e-12 * (fabs(level.mean) + 1.0));
    state[EW_O_DEVIATION] = (x - level.mean) / spread;
}

static void commit_level(double *state, double x, int64_t t, Level level, int warm, int learn) {
    int64_t short_ = section_size(state, EW_AT_LEVEL_VALUES);
    int64_t learned_at = count(state, EW_AT_LEVEL_LEARNED) + t % short_;
    double unlearned = state[EW_S_WINDOW_UNLEARNED] + (learn ? 0.0 : 1.0);
    if (t >= short_ && state[learned_at] == 0.0) unlearned -= 1.0;
    state[EW_S_WINDOW_UNLEARNED] = unlearned;
    state[section_start(state, EW_AT_LEVEL_VALUES) + t % short_] = x;
    state[learned_at] = learn ? 1.0 : 0.0;
    state[EW_S_SUM] = level.total;
    state[EW_S_MEAN] = level.mean;
    state[EW_S_VAR] = level.var;
    if (learn && t + 1 >= short_ && unlearned == 0.0) {
        double rate = state[EW_P_LEVEL_RATE];
        double deviation = x - level.total / (double)short_;
        state[EW_S_NOISE_VAR] =
            (1.0 - rate) * (state[EW_S_NOISE_VAR] + rate * deviation * deviation);
    }
    commit_record(state, S_Z_RECORD, level.z, level.record, warm);
}

/* --- Season ----------------------------------------------------------------------------------- */

typedef struct {
    double distance, measured, record, score;
    int scored;
} Season;

static double season_distance(const double *state, double x, Block block, int64_t period) {
    const double *means = state + section_start(state, EW_AT_SEASON_MEANS);
    int64_t size = section_size(state, EW_AT_SEASON_MEANS);
    int64_t window = count(state, EW_P_WINDOW);
    double best = INFINITY;
    for (int64_t offset = period - 1; offset < period + 2; offset++) {
        double d = 0.0;
        for (int64_t j = 0; j < window; j++) {
            int64_t k = block.blocks - 1 - j;
            double current = j == 0 ? block.mean : means[k % size];
            d += fabs(current - means[(k - offset) % size]);
        }
        best = min2(best, d);
    }
    return best / learned_width(state, x);
}

static void learn_season(double *state, double b, int64_t blocks) {
    double *acf = state + section_start(state, EW_AT_ACF);
    double *means = state + section_start(state, EW_AT_SEASON_MEANS);
    int64_t size = section_size(state, EW_AT_SEASON_MEANS);
    int64_t lags = section_size(state, EW_AT_ACF) - 1;
    means[(blocks - 1) % size] = b;
    double average = blocks == 1 ? b : state[EW_S_BLOCK_AVERAGE];
    average += EW_SEASON_AVERAGE_RATE * (b - average);
    state[EW_S_BLOCK_AVERAGE] = average;
    int64_t last = imin2(lags, blocks - 1);
    for (int64_t lag = 0; lag <= last; lag++) {
        double lagged = means[(blocks - 1 - lag) % size] - average;
        acf[lag] = EW_SEASON_DECAY * acf[lag] + (b - average) * lagged;
    }
    int64_t period = 0;
    if (acf[0] > 0.0 && blocks > 2 * lags) {
        double least = acf[1];
        double rise = 0.0;
        for (int64_t lag = 2; lag < lags; lag++) {
            double a = acf[lag];
            least = min2(least, a);
            if (acf[lag - 1] <= a && a >= acf[lag + 1] &&
                a > state[EW_P_SEASON_CORRELATION] * acf[0] && a - least > rise) {
                rise = a - least;
                period = lag;
            }
        }
    }
    state[EW_S_PERIOD] = (double)period;
}

static Season score_season(const double *state, double x, Block block, double floor) {
    double lags = state[EW_P_SEASON_LAGS];
    Season s;
    s.distance = state[EW_S_SEASON];
    s.measured = state[EW_S_SEASON_COUNT];
    if (lags > 0 && block.done) {
        int64_t period = count(state, EW_S_PERIOD);
        s.distance = 0.0;
        if (period > 0 && block.blocks >= period + count(state, EW_P_WINDOW) + 2) {
            s.distance = season_distance(state, x, block, period);
            s.measured += 1.0;
        }
    }
    s.record = decayed_record(state, S_SEASON_RECORD, state[EW_P_NOVELTY_DECAY]);
    s.score = novelty_score(state, S_SEASON_RECORD, s.distance, s.record, floor,
                            state[EW_P_SEASON_FACTOR]);
    s.scored = lags > 0 && s.measured >= lags;
    return s;
}

static void commit_season(double *state, Block block, Season season, int warm) {
    if (block.done && state[EW_P_SEASON_LAGS] > 0) learn_season(state, block.mean, block.blocks);
    state[EW_S_SEASON] = season.distance;
    state[EW_S_SEASON_COUNT] = season.measured;
    commit_record(state, S_SEASON_RECORD, season.distance, season.record, warm);
}

/* --- Rest ------------------------------------------------------------------------------------- */

typedef struct {
    double severity;
    int high, resting;
} Run;

static Run judge(const double *state, double severity) {
    Run r;
    r.resting = state[EW_S_REST] > 0.0;
    r.severity = r.resting ? severity / state[EW_P_REST_MARGIN] : severity;
    r.high = severity >= 1.0;
    return r;
}

static int commit_rest(double *state, Run run) {
    double rest = state[EW_S_REST];
    if (run.high)
        rest = state[EW_P_REST];
    else if (run.resting)
        rest -= 1.0;
    double length = (run.resting || run.high) ? state[EW_S_RUN] + 1.0 : 0.0;
    double recovered = length > 0.0 ? state[EW_S_RECOVERED] : 0.0;
    int learn = 1;
    if (run.high && state[EW_P_LEARN_ANOMALIES] == 0.0) {
        learn = length > state[EW_P_RECOVER];
        if (learn && recovered == 0.0) {
            recovered = 1.0;
            state[EW_S_REBASELINES] += 1.0;
        }
    }
    state[EW_S_REST] = rest;
    state[EW_S_RUN] = length;
    state[EW_S_RECOVERED] = recovered;
    return learn;
}

/* --- Decisions -------------------------------------------------------------------------------- */

static int range_decision(const double *state, double v, double low, double high, double spread) {
    if (high <= low) return 0;
    double margin =
        max2(state[EW_P_RANGE_TOLERANCE] * (high - low), state[EW_P_RANGE_SPREADS] * spread);
    return beyond(v, low, high) >= state[EW_P_THRESHOLD] * margin;
}

static int64_t decide(const double *state, double x, Difference difference, Shape shape,
                      Level level, Season season, double floor, double *level_limit,
                      int64_t *live) {
    double threshold = state[EW_P_THRESHOLD];
    int64_t short_ = section_size(state, EW_AT_LEVEL_VALUES);
    double learned = max2(state[EW_S_COUNT] - (double)short_, 1.0);
    double gathered = 1.0 - pow(1.0 - state[EW_P_LEVEL_RATE], learned);
    double spread = sqrt(state[EW_S_NOISE_VAR] / gathered);
    int64_t views = 0;
    if (range_decision(state, x, state[EW_S_LOW], state[EW_S_HIGH], spread)) views |= EW_RANGE_VIEW;
    if (difference.known &&
        range_decision(state, difference.change, state[EW_S_DIFF_LOW], state[EW_S_DIFF_HIGH],
                       EW_SQRT2 * spread))
        views |= EW_DIFFERENCE_VIEW;
    double shape_limit =
        limit_of(state, S_DIST_RECORD, shape.record, floor, state[EW_P_SHAPE_MARGIN]);
    if (ratio(shape.distance, shape_limit) >= threshold) views |= EW_SHAPE_VIEW;
    *level_limit = limit_of(state, S_Z_RECORD, level.record, floor, 1.0);
    if (ratio(level.z, state[EW_P_LEVEL_MARGIN] * *level_limit) >= threshold)
        views |= EW_LEVEL_VIEW;
    if (season.scored && season.score >= threshold) views |= EW_SEASON_VIEW;
    *live = views;
    if (state[EW_S_EPISODE_LENGTH] > 0.0 && state[EW_S_EPISODE_ACCEPTED] == 0.0) {
        double low = state[EW_S_FROZEN_LOW], high = state[EW_S_FROZEN_HIGH];
        if (outside(x, low, high, state[EW_P_RANGE_TOLERANCE]) >= threshold)
            views |= EW_RANGE_VIEW;
        double frozen_z = ratio(fabs(level.total / (double)short_ - state[EW_S_FROZEN_MEAN]),
                                state[EW_S_FROZEN_SPREAD]);
        if (ratio(frozen_z, state[EW_S_FROZEN_LIMIT]) >= threshold) views |= EW_LEVEL_VIEW;
    }
    return views;
}

static void evidence_of(double *state, double x, Difference difference, Level level) {
    explain(state, x, level);
    int frozen = state[EW_S_EPISODE_LENGTH] > 0.0 && state[EW_S_EPISODE_ACCEPTED] == 0.0;
    state[EW_O_LOW] = frozen ? state[EW_S_FROZEN_LOW] : state[EW_S_LOW];
    state[EW_O_HIGH] = frozen ? state[EW_S_FROZEN_HIGH] : state[EW_S_HIGH];
    state[EW_O_CHANGE] = difference.change;
    state[EW_O_CHANGE_LOW] = state[EW_S_DIFF_LOW];
    state[EW_O_CHANGE_HIGH] = state[EW_S_DIFF_HIGH];
}

/* --- The episode ------------------------------------------------------------------------------ */

static int64_t advance_episode(double *state, int64_t views, int64_t live) {
    int64_t seen = count(state, EW_S_EPISODE_VIEWS);
    if (state[EW_S_EPISODE_LENGTH] == 0.0) {
        if (views == 0) return 0;
        state[EW_S_EPISODE_VIEWS] = (double)views;
        state[EW_S_EPISODE_QUIET] = 0.0;
        state[EW_S_EPISODE_LIVE_QUIET] = 0.0;
        state[EW_S_EPISODE_LENGTH] = 1.0;
        state[EW_S_EPISODE_ACCEPTED] = 0.0;
        return EW_ALARM;
    }
    state[EW_S_EPISODE_LENGTH] += 1.0;
    int64_t events = 0;
    double accept = state[EW_P_ACCEPT_AFTER];
    if (accept > 0.0 && state[EW_S_REFERENCE] == 0.0 && state[EW_S_EPISODE_ACCEPTED] == 0.0 &&
        state[EW_S_EPISODE_LENGTH] >= accept) {
        state[EW_S_EPISODE_ACCEPTED] = 1.0;
        state[EW_S_ACCEPTS] += 1.0;
        events |= EW_ACCEPTED;
    }
    int renewed = 0;
    if (live == 0) {
        state[EW_S_EPISODE_LIVE_QUIET] += 1.0;
    } else {
        renewed = state[EW_S_EPISODE_LIVE_QUIET] >= state[EW_P_END_AFTER];
        state[EW_S_EPISODE_LIVE_QUIET] = 0.0;
    }
    if (views == 0) {
        state[EW_S_EPISODE_QUIET] += 1.0;
        if (state[EW_S_EPISODE_QUIET] >= state[EW_P_END_AFTER]) {
            state[EW_S_EPISODE_VIEWS] = 0.0;
            state[EW_S_EPISODE_QUIET] = 0.0;
            state[EW_S_EPISODE_LIVE_QUIET] = 0.0;
            state[EW_S_EPISODE_LENGTH] = 0.0;
            state[EW_S_EPISODE_ACCEPTED] = 0.0;
            events |= EW_ENDED;
        }
        return events;
    }
    state[EW_S_EPISODE_QUIET] = 0.0;
    state[EW_S_EPISODE_VIEWS] = (double)(seen | views);
    int late = state[EW_S_EPISODE_LENGTH] > state[EW_P_BLOCK];
    return events | (((views & ~seen) && late) || renewed ? EW_ALARM : 0);
}

static void freeze(double *state, Level level, double level_limit) {
    state[EW_S_FROZEN_LOW] = state[EW_S_LOW];
    state[EW_S_FROZEN_HIGH] = state[EW_S_HIGH];
    state[EW_S_FROZEN_MEAN] = level.mean;
    state[EW_S_FROZEN_SPREAD] = sqrt(level.var);
    state[EW_S_FROZEN_LIMIT] = level_limit;
}

/* --- The entry points ------------------------------------------------------------------------- */

double ew_default_step(double *state, double x, int64_t mode) {
    if (!isfinite(x)) return 0.0;
    int64_t t = count(state, EW_S_COUNT);
    int warm = (double)t >= state[EW_P_WARMUP];
    int records = (double)t >= state[EW_P_RECORD_START];
    double floor = floor_at(state, t);
    Block block = next_block(state, x);
    double value_range = score_value_range(state, x);
    Difference difference = score_difference_range(state, x, t);
    Shape shape = score_shape(state, x, block, floor, mode != EW_SCORE);
    Season season = score_season(state, x, block, floor);
    Level level = score_level(state, x, t, floor);
    double severity = 0.0;
    if (warm) {
        severity = max2(max2(max2(value_range, difference.score), shape.score), level.score);
        if (season.scored) severity = max2(severity, season.score);
    }
    Run run = judge(state, severity);
    if (mode == EW_SCORE) return score_of(run.severity);

    int learn = 1;
    if (mode == EW_DETECT) {
        int64_t views = 0, events = 0;
        if (warm) {
            double level_limit;
            int64_t live;
            views =
                decide(state, x, difference, shape, level, season, floor, &level_limit, &live);
            int starting = state[EW_S_EPISODE_LENGTH] == 0.0;
            events = advance_episode(state, views, live);
            if (starting && (events & EW_ALARM)) freeze(state, level, level_limit);
            if (views) evidence_of(state, x, difference, level);
        }
        state[EW_O_VIEWS] = (double)views;
        state[EW_O_EVENTS] = (double)events;
        learn = commit_rest(state, run);
    }
    state[EW_S_COUNT] = (double)(t + 1);
    commit_value_range(state, x, learn);
    commit_difference_range(state, x, t, difference, learn);
    commit_shape(state, block, shape, records, learn);
    commit_season(state, block, season, records);
    commit_block(state, block);
    commit_level(state, x, t, level, records, learn);
    return score_of(run.severity);
}

void ew_default_run_column(double *state, const double *values, int64_t n, double *scores,
                           double *views, double *events, double *evidence) {
    for (int64_t i = 0; i < n; i++) {
        scores[i] = ew_default_step(state, values[i], EW_DETECT);
        if (isfinite(values[i])) {
            views[i] = state[EW_O_VIEWS];
            events[i] = state[EW_O_EVENTS];
            if (views[i] > 0.0)
                for (int64_t j = 0; j < EW_EVIDENCE; j++)
                    evidence[i * EW_EVIDENCE + j] = state[EW_O_EXPECTED + j];
        }
    }
}
