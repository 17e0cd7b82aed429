/* The default detector's kernel in C99: one input in one flat double array.
 *
 * A port of edgewise/detect/_default_kernel.py (numba) with the same layout (default_layout.h,
 * generated from it) and the same operations in the same order, so the two give the same bits
 * (compile without -ffast-math and with -ffp-contract=off) and a state made by one runs on the
 * other. No allocation: the caller owns the state array, made by _default_kernel.new_state.
 */
#ifndef EDGEWISE_DEFAULT_KERNEL_H
#define EDGEWISE_DEFAULT_KERNEL_H

#include <stdint.h>

#include "default_layout.h"

/* Score one value; in DETECT mode also decide and learn, in LEARN mode learn unconditionally
 * (the modes of default_layout.h). Returns the score in [0, 1); see _default_kernel.step. The
 * shape window is at most EW_MAX_WINDOW blocks (DefaultDetector checks its parameters). */
double ew_default_step(double *state, double x, int64_t mode);

/* DETECT over n values: each one's score, abnormal views, events and, where abnormal, its
 * EW_EVIDENCE evidence fields (row-major, n rows); see _default_kernel.run_column. */
void ew_default_run_column(double *state, const double *values, int64_t n, double *scores,
                           double *views, double *events, double *evidence);

#endif
