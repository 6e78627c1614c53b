/*
 * bn_internal.h - helpers shared by the kernel files; never installed, never exported.
 *
 * N = batch, C = channels, S = spatial size (H*W, or L; 1 for NC). M = N*S values per channel.
 *
 * Every public entry point calls its bn_check_* function first and returns its status unless it
 * is BN_OK. The checks are the only place where arguments are validated: after BN_OK a kernel
 * trusts that
 *   - every buffer it reads or writes is non-NULL, 4-byte aligned and of its documented size,
 *   - an optional buffer is non-NULL exactly when its flag or mask bit is set (gamma != NULL
 *     <=> BN_USE_SCALE, ...), so kernels test the pointer, not the flag,
 *   - N*C*S*sizeof(float) fits in ptrdiff_t, so every index can be a ptrdiff_t,
 *   - outputs overlap nothing, except an (N,C,S) output that is the very same buffer as an
 *     (N,C,S) input (out == inp; dinp == dout or dinp == inp).
 */
#ifndef BN_INTERNAL_H
#define BN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bn.h"

#if defined(__GNUC__) && !defined(_WIN32)
#  define BN_HIDDEN __attribute__((visibility("hidden")))
#else
#  define BN_HIDDEN
#endif

// ----------------------------------------------------------------------------
// plan: how a call is cut into units, groups and blocks (PERFORMANCE.md explains the numbers)

#define BN_BLOCK_ROWS 64       // rows view: wide rows per block
#define BN_BLOCK_LEN 4096      // runs view: values per block
#define BN_SHORT_RUN 512       // runs view: S below this is walked in memory order (short runs)
#define BN_SHORT_UNIT_BYTES ((ptrdiff_t)512 * 1024) // short runs: a unit's channels fit in L2
#define BN_CHUNK 256           // rows view: wide columns per unit (the length of stack arrays)
#define BN_MIN_WIDE 64         // rows view: k rows of C < 64 channels make one wide row of k*C
#define BN_MAX_GROUPS 16       // units*groups from which a unit is no longer cut into groups
#define BN_GROUP_BYTES ((ptrdiff_t)1 << 20) // the least a group of a unit's blocks holds
#define BN_SCRATCH_BYTES ((size_t)256 * 1024) // the team's scratch
#define BN_PARALLEL_BYTES ((size_t)256 * 1024)    // bytes a call touches before it uses threads
#define BN_STREAM_BYTES ((size_t)16 * 1024 * 1024) // output bytes from which stores bypass caches

/*
 * Rows view (NC, NHWC, NCHW with S == 1): R = N*S rows of C floats. When C < BN_MIN_WIDE, k
 * consecutive rows are read as one wide row of W = k*C columns (wide column w is channel
 * w mod C), so that a row has enough independent columns; the R mod k rows left over form a
 * partial wide row of tailn = (R mod k)*C columns, which belongs to the last block. Units are
 * chunks of BN_CHUNK wide columns (one unit when k > 1). Blocks are BN_BLOCK_ROWS wide rows.
 *
 * Runs view (NCHW with S > 1): channel c is N runs of S floats. A unit is a channel. A block is
 * BN_BLOCK_LEN / S whole runs, or when S > BN_BLOCK_LEN one of `pieces` equal pieces of a run.
 * Short runs (S < BN_SHORT_RUN, `shorts` set): a channel's runs are too short and too far apart
 * to stream one channel at a time, so a unit is `cg` consecutive channels (at most
 * BN_SHORT_UNIT_BYTES of values, so that the output pass reads them from L2), walked sample by
 * sample (their runs are contiguous), and a block is one sample: one run per channel.
 *
 * Both: a unit's blocks are cut into `groups` contiguous groups of at least BN_GROUP_BYTES of
 * values (so more than one only for a unit of 2*BN_GROUP_BYTES or more), and only while
 * units*groups <= BN_MAX_GROUPS, so that a few large units still spread over threads. Blocks, groups and their order depend only on (layout, N, C, S): statistics are
 * computed per block, merged over the blocks of a group in order, then over the groups in order,
 * whichever threads ran them.
 */
typedef struct bn_plan {
    int rows;                           // 1: rows view, 0: runs view
    ptrdiff_t N, C, S, M;               // M = N*S values per channel
    ptrdiff_t k, W, nrows, tailn;       // rows view: W = k*C is also the row stride
    ptrdiff_t per_block, pieces, piece; // runs view: whole runs per block, pieces per run, length
    int shorts;                         // runs view, S < BN_SHORT_RUN: short runs
    ptrdiff_t cg;                       // short runs: channels per unit
    ptrdiff_t units, blocks, groups;    // blocks and groups per unit
} bn_plan;

BN_HIDDEN void bn_plan_init(bn_plan *p, int layout, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S);

// rows view: wide columns [*w0, *w0 + *wn) of unit u
BN_HIDDEN void bn_plan_unit_cols(const bn_plan *p, ptrdiff_t u, ptrdiff_t *w0, ptrdiff_t *wn);
// rows view: block b is wide rows [*r0, *r0 + *nr) and, when *tail > 0, the partial row
BN_HIDDEN void bn_plan_rows_block(const bn_plan *p, ptrdiff_t b, ptrdiff_t *r0, ptrdiff_t *nr,
                                  ptrdiff_t *tail);
// columns of unit u (wide columns, channels of short runs, or the one channel of a unit)
BN_HIDDEN void bn_plan_cols(const bn_plan *p, ptrdiff_t u, ptrdiff_t *w0, ptrdiff_t *wn);
// runs view: block b of channel c is *nruns runs of *len floats from *offset, *stride apart
BN_HIDDEN void bn_plan_runs_block(const bn_plan *p, ptrdiff_t c, ptrdiff_t b, ptrdiff_t *offset,
                                  ptrdiff_t *stride, ptrdiff_t *nruns, ptrdiff_t *len);
// blocks [*b0, *b1) of group g
BN_HIDDEN void bn_plan_group(const bn_plan *p, ptrdiff_t g, ptrdiff_t *b0, ptrdiff_t *b1);
// task i of a job over (unit, group) pairs: unit *u, its blocks [*b0, *b1); returns where the
// task's columns start in a scratch array of per-(group, column) sums
BN_HIDDEN ptrdiff_t bn_plan_task(const bn_plan *p, ptrdiff_t i, ptrdiff_t *u, ptrdiff_t *b0,
                                 ptrdiff_t *b1);

// values per column in blocks [b0, b1); the partial row's columns have one more if b1 is last
BN_HIDDEN double bn_plan_values(const bn_plan *p, ptrdiff_t b0, ptrdiff_t b1);

// Chan et al.: (na, T, M2) += (nb, Tb, M2b) for n columns, T being sums and M2 sums of squared
// deviations from the mean; na or nb may be 0.
BN_HIDDEN void bn_merge(double *T, double *M2, double na, const double *Tb, const double *M2b,
                        double nb, ptrdiff_t n);

// ----------------------------------------------------------------------------
// threads (bn_threads.c)

typedef void (*bn_task_fn)(void *ctx, ptrdiff_t task);

// Takes the team for one call: returns the threads it may use (>= 2) with the team held, or 1
// (nothing held) when the limit is 1 or another call holds the team.
BN_HIDDEN int bn_team_acquire(void);
// Runs fn(ctx, i) for i in [0, ntasks): thread t (the caller is 0) takes the contiguous slice
// [t*ntasks/nthreads, (t+1)*ntasks/nthreads). Only while the team is held.
BN_HIDDEN void bn_team_run(int nthreads, ptrdiff_t ntasks, bn_task_fn fn, void *ctx);
BN_HIDDEN void bn_team_release(void);
// BN_SCRATCH_BYTES, aligned for doubles, only while the team is held
BN_HIDDEN void *bn_team_scratch(void);

// fn(ctx, i) for i in [0, ntasks): on the team when nthreads >= 2, else in order on this thread
BN_HIDDEN void bn_run(int nthreads, ptrdiff_t ntasks, bn_task_fn fn, void *ctx);

/* Statuses, in the order they are checked (the first failing check wins):
 *   BN_ERR_NULL_POINTER, BN_ERR_BAD_FLAGS, BN_ERR_BAD_MASK, BN_ERR_BAD_DIMENSION, BN_ERR_OVERFLOW,
 *   BN_ERR_BAD_LAYOUT, BN_ERR_BAD_EPS, BN_ERR_BAD_MOMENTUM, BN_ERR_SINGLE_VALUE,
 *   BN_ERR_MISALIGNED, BN_ERR_ALIAS.
 * See bn_check.c for the exact rules. The arguments are those of the public function. */
BN_HIDDEN bn_status bn_check_forward_training(const float *out, const float *save_mean,
                                              const float *save_rstd, const float *running_mean,
                                              const float *running_var, const float *inp,
                                              const float *gamma, const float *beta,
                                              double eps, double momentum, unsigned int flags,
                                              int layout, int64_t N, int64_t C, int64_t S);

BN_HIDDEN bn_status bn_check_forward_inference(const float *out, const float *inp,
                                               const float *mean, const float *var,
                                               const float *gamma, const float *beta,
                                               double eps, unsigned int flags,
                                               int layout, int64_t N, int64_t C, int64_t S);

BN_HIDDEN bn_status bn_check_backward(const float *dinp, const float *dgamma, const float *dbeta,
                                      const float *dout, const float *inp, const float *gamma,
                                      const float *mean, const float *rstd,
                                      unsigned int flags, unsigned int mask,
                                      int layout, int64_t N, int64_t C, int64_t S);

// ----------------------------------------------------------------------------
// split phase (bn_split.c): checks (bn_check.c), then the work (bn_forward.c, bn_backward.c),
// the arguments as in bn.h; the work functions trust their arguments

BN_HIDDEN bn_status bn_check_stats_local(const double *stats, const float *inp, int layout,
                                         int64_t N, int64_t C, int64_t S);
BN_HIDDEN bn_status bn_check_stats_merge(const double *mean, const double *rstd,
                                         const float *running_mean, const float *running_var,
                                         const double *stats, double eps, double momentum,
                                         unsigned int flags, int64_t C, int64_t P);
BN_HIDDEN bn_status bn_check_forward_apply(const float *out, const float *inp,
                                           const double *mean, const double *rstd,
                                           const float *gamma, const float *beta,
                                           unsigned int flags, int layout, int64_t N, int64_t C,
                                           int64_t S);
BN_HIDDEN bn_status bn_check_backward_reduce(const double *sums, const float *dout,
                                             const float *inp, const double *mean, int layout,
                                             int64_t N, int64_t C, int64_t S);
BN_HIDDEN bn_status bn_check_backward_apply(const float *dinp, const float *dgamma,
                                            const float *dbeta, const float *dout,
                                            const float *inp, const float *gamma,
                                            const double *mean, const double *rstd,
                                            const double *sums, unsigned int flags,
                                            unsigned int mask, int layout, int64_t N, int64_t C,
                                            int64_t S, int64_t P);

// stats (3, C) of inp, through the forward's plan, kernels and threads
BN_HIDDEN void bn_forward_stats(double *stats, const float *inp, int layout, int64_t N,
                                int64_t C, int64_t S);
// out of inp with mean, rstd given in double
BN_HIDDEN void bn_forward_given(float *out, const float *inp, const double *mean,
                                const double *rstd, const float *gamma, const float *beta,
                                int layout, int64_t N, int64_t C, int64_t S);
// sums (3, C) of dout, inp about mean, through the backward's plan, kernels and threads
BN_HIDDEN void bn_backward_sums(double *sums, const float *dout, const float *inp,
                                const double *mean, int layout, int64_t N, int64_t C, int64_t S);
// dinp, dgamma, dbeta (each may be NULL) from the P parts' sums (P, 3, C)
BN_HIDDEN void bn_backward_given(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                 const float *inp, const float *gamma, const double *mean,
                                 const double *rstd, const double *psums, int layout, int64_t N,
                                 int64_t C, int64_t S, int64_t P);

#endif /* BN_INTERNAL_H */
