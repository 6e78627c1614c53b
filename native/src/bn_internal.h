/*
 * bn_internal.h - helpers shared by the kernel files; never installed, never exported.
 *
 * N = batch, C = channels, S = spatial size (H*W, or L; 1 for NC). M = N*S values per channel.
 *
 * Every public entry point calls its bn_check_* function first (after BN_CLEAR_UPPER, below) and
 * returns its status unless it is BN_OK. The checks are the only place where arguments are
 * validated: after BN_OK a kernel trusts that
 *   - every buffer it reads or writes is non-NULL, aligned to its element size (4 bytes; 2 for
 *     the (N,C,S) buffers of BN_DATA_BF16 / BN_DATA_F16) and of its documented size,
 *   - an optional buffer is non-NULL exactly when its flag or mask bit is set (gamma != NULL
 *     <=> BN_USE_SCALE, ...), so kernels test the pointer, not the flag,
 *   - N*C*S*(element size) fits in ptrdiff_t, so every index can be a ptrdiff_t,
 *   - outputs overlap nothing, except an (N,C,S) output that is the very same buffer as an
 *     (N,C,S) input (out == inp or out == res; dinp == dout or dinp == inp; dres == dout).
 */
#ifndef BN_INTERNAL_H
#define BN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bn.h"
#include "bn_half.h"

#if defined(__GNUC__) && !defined(_WIN32)
#  define BN_HIDDEN __attribute__((visibility("hidden")))
#else
#  define BN_HIDDEN
#endif

// Every public entry point that computes begins with BN_CLEAR_UPPER(). A caller may leave the
// upper halves of the vector registers set (a JVM's compiled code does: HotSpot's downcall stub
// does not clear them), and the library's code outside the kernels, built for the baseline
// x86-64, is SSE-encoded: on Intel cores its SSE instructions then pay for the set halves (a
// transition on older cores, a dependency on and a merge into the whole register on recent ones)
// until a vzeroupper. From Java, NC 32x64 on the Xeon guest, that was 0.13-0.25 us of a 0.6-1.5
// us call (PERFORMANCE.md, "Calls from the JVM"). vzeroupper keeps the low 128 bits, all that
// baseline code uses, so no argument is lost; the AVX2 and AVX-512 kernels end with one of their
// own (the compiler adds it), so a call returns with the halves clear.
#if defined(BN_X86_KERNELS) && defined(__GNUC__)
#  define BN_CLEAR_UPPER() \
    do { if (__builtin_cpu_supports("avx")) __asm__ volatile("vzeroupper"); } while (0)
#else
#  define BN_CLEAR_UPPER() ((void)0)
#endif

// Per-column arrays that the kernels load as whole vectors (terms, constants) start on a cache
// line, so that no vector load of them splits two lines. Otherwise they are aligned as a double
// or a float needs, and the process's stack address (ASLR) decided whether every 64-byte load of
// a term split two lines: one build ran the same call at two speeds from one process to the next
// (PERFORMANCE.md, "The terms on a cache line"). Not on Windows: there GCC does not realign the
// stack beyond the ABI's 16 bytes (GCC bug 54412).
#if defined(_WIN32)
#  define BN_LINE_ALIGNED
#else
#  define BN_LINE_ALIGNED _Alignas(64)
#endif

// ----------------------------------------------------------------------------
// plan: how a call walks memory (PERFORMANCE.md explains the numbers)
//
// Glossary (the only planning words; each has this one meaning in the C sources):
//   view    one of the three memory walks of bn_view below, fixed by (layout, S) and by whether
//           the call only applies
//   column  what a kernel reduces on its own: a wide column (rows view) or a channel
//   fold    rows view with C < BN_MIN_WIDE: fold rows of C read as one wide row of W = fold*C
//           columns (wide column w is channel w mod C)
//   unit    the columns done together, start to end: `chunk` wide columns (the last unit may
//           have fewer), a channel (runs view), or up to BN_NARROW_CHUNK channels (short runs)
//   block   the part of a unit that one kernel call walks (bn_block): `count` lines of `len`
//           floats, `stride` apart, then a partial line of `tail` floats (short runs: the
//           reductions take a group's blocks in one call)
//   line    a row of a block (rows view) or a run of one channel (runs views)
//   group   contiguous blocks of a unit that one thread reduces (units of 2 MiB or more in
//           calls of few units, or a call's only unit from 256 KiB: bn_plan_init; in the rows
//           walk, from the bytes of the whole tensor: bn_plan_rows)
//   rows walk  rows view, training and backward: each block's rows are taken whole, every unit
//           of them, instead of one unit down the whole tensor at a time (bn_plan_rows)
// Every pass is: reduce over blocks (statistics, or sum_dy and sum_dy_xmu) -> per-channel terms
// -> apply over blocks (out, or dinp and dres). Blocks, groups and their order depend on
// (layout, N, C, S) and, through the rows walk, on the pass and the machine's cache sizes, never
// on the threads: sums are taken per block, merged over the blocks of a group in order, then over
// the groups in order, whichever threads ran them.

#define BN_BLOCK_ROWS 64       // rows view: wide rows per block
#define BN_BLOCK_LEN 4096      // runs view: values per block
#define BN_SHORT_RUN 512       // runs view: S below this is walked as short runs
#define BN_SHORT_UNIT_BYTES ((ptrdiff_t)512 * 1024) // short runs: a unit's channels fit in L2
#define BN_CHUNK 512           // the most columns of a unit (the length of stack arrays)
#define BN_NARROW_CHUNK 256    // the columns of a narrow unit (rows view), the most channels of
                               // a unit of short runs
#define BN_MIN_WIDE 64         // rows view: fewer channels than this are folded
#define BN_MAX_GROUPS 16       // units*groups from which a unit is no longer cut into groups
#define BN_GROUP_BYTES ((ptrdiff_t)1 << 20) // a unit has a group of blocks per this (bn_plan_init)
#define BN_MIN_TASKS 2         // but a call of fewer units has groups for this many units*groups,
#define BN_SMALL_GROUP_BYTES ((ptrdiff_t)128 * 1024) // each of at least this
#define BN_APPLY_RUN ((ptrdiff_t)1 << 18) // values per run of the apply pass's blocks (1 MiB of float32)
#define BN_FETCH_BYTES ((size_t)256 * 1024) // no prefetch up to this (bn_plan_fetch)
#define BN_SCRATCH_BYTES ((size_t)512 * 1024) // the team's scratch
#define BN_PARALLEL_BYTES ((size_t)256 * 1024)    // bytes a call touches before it uses threads

typedef enum bn_view {
    // NC, NHWC, NCHW with S == 1: M rows of C (folded when C < BN_MIN_WIDE, the rows left over
    // the last block's partial line); units of `chunk` wide columns, blocks of BN_BLOCK_ROWS rows
    BN_VIEW_ROWS,
    // NCHW with S >= BN_SHORT_RUN: a unit is a channel; a block BN_BLOCK_LEN / S whole runs, or
    // (S > BN_BLOCK_LEN) one of `pieces` equal pieces of a run
    BN_VIEW_RUNS,
    // NCHW with 1 < S < BN_SHORT_RUN: a unit is `cg` channels (at most BN_SHORT_UNIT_BYTES, read
    // again from L2 by the apply pass), a block one sample of them: their contiguous runs; and
    // NCHW with S > 1 in a call that only applies (any S; up to BN_NARROW_CHUNK channels a unit,
    // fewer when N < BN_MAX_GROUPS, so that the threads have units to share)
    BN_VIEW_SHORT
} bn_view;

typedef struct bn_plan {
    bn_view view;
    ptrdiff_t N, C, S, M;               // M = N*S values per channel
    ptrdiff_t fold, W, nrows, tailn;    // rows view: W = fold*C is also the row stride
    ptrdiff_t chunk;                    // rows view: columns per unit (the last may have fewer)
    ptrdiff_t per_block, pieces, piece; // runs view: whole runs per block, pieces per run, length
    ptrdiff_t cg;                       // short runs: channels per unit
    ptrdiff_t units, blocks, groups;    // blocks and groups per unit
} bn_plan;

// a block as the kernels see it: line r < count is len floats at at + r*stride, line count has
// tail floats (rows view only; else 0)
typedef struct bn_block {
    ptrdiff_t at, stride, count, len, tail;
} bn_block;

// apply: a call that only applies given terms (inference, the split phase's apply), which walks
// NCHW with S > 1 as short runs (units of up to BN_NARROW_CHUNK channels): a sample's runs of them
// are contiguous, so the walk goes through memory in order
BN_HIDDEN void bn_plan_init(bn_plan *p, int layout, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S,
                            int apply);
// Rows view: units of BN_CHUNK columns instead of bn_plan_init's BN_NARROW_CHUNK where that
// leaves at least nthreads tasks and the bytes a narrow unit's second pass reads again (`again`)
// fit in no cache that a wide unit's would not (bn_plan.c has the rule). Groups and blocks do not
// change, nor any result: a column's sums go through the same blocks and groups in the same order
// in a unit of any width.
BN_HIDDEN void bn_plan_widen(bn_plan *p, size_t again, int nthreads);
// Whether the call takes the rows walk, which then sets the groups (those of the whole tensor cut
// among the units): rows view, 2 or more units, rows of at most BN_KERNEL_ROW_COLS columns and no
// partial row, `again` (the bytes of the `tensors` (N,C,S) tensors that the second pass reads
// again) of at least BN_PARALLEL_BYTES, a unit's share of which would not stay in half the L2
// while the whole stays in half the last-level cache (bn_plan.c). Decided before the threads are
// known, so the groups never depend on them; the bytes are counted as float32 whatever the
// activations' format, so that a 16-bit call takes the float32 call's walk and groups (bn.h: the
// same per-channel bits).
BN_HIDDEN int bn_plan_rows(bn_plan *p, int tensors);
// The rows walk's tasks for nthreads: each group's blocks cut into the fewest slices of units
// that make nthreads tasks (at most one a unit); returns the slices a group
BN_HIDDEN ptrdiff_t bn_plan_rows_slices(const bn_plan *p, int nthreads);
// task i of the rows walk with k slices a group: its group (returned), that group's blocks
// [*b0, *b1) and the slice's units [*u0, *u1)
BN_HIDDEN ptrdiff_t bn_plan_rows_task(const bn_plan *p, ptrdiff_t k, ptrdiff_t i, ptrdiff_t *u0,
                                      ptrdiff_t *u1, ptrdiff_t *b0, ptrdiff_t *b1);
// the blocks of a run of the apply pass (bn_plan_apply_span) in rows of wn columns
BN_HIDDEN ptrdiff_t bn_plan_run(ptrdiff_t wn);
// columns [*w0, *w0 + *wn) of unit u (wide columns, or channels)
BN_HIDDEN void bn_plan_cols(const bn_plan *p, ptrdiff_t u, ptrdiff_t *w0, ptrdiff_t *wn);
// block b of unit u
BN_HIDDEN bn_block bn_plan_block(const bn_plan *p, ptrdiff_t u, ptrdiff_t b);
// columns [j0, j1) of a block of the unit (rows view: a range of its columns; short runs: of
// its lines; runs view: the block)
BN_HIDDEN bn_block bn_block_cols(const bn_plan *p, const bn_block *blk, ptrdiff_t j0, ptrdiff_t j1);
// values per column in a block; the partial line's columns have one more
BN_HIDDEN ptrdiff_t bn_block_values(const bn_plan *p, const bn_block *blk);
// the next span of blocks [b0, b1) of unit u that the apply pass takes, *k in [0, b1 - b0) the
// blocks taken so far (advanced past the span). Order: runs of BN_APPLY_RUN values (or one block,
// if larger), the last run first, each run's blocks in memory order. The reduce pass has just
// read the blocks first to last, so the last ones are the likeliest still in cache; taking them
// in the same order again, a unit larger than the cache would find none of its blocks there
// (each one read evicts the next one needed). Without a reduce pass (reduced == 0: inference,
// the split phase's apply) the blocks go in memory order. A span is one block, or in the rows
// view a run's blocks (all of [b0, b1) without a reduce pass) as one block: a kernel call over
// its rows at once rather than BN_BLOCK_ROWS at a time. The results do not depend on the order
// or the spans.
BN_HIDDEN bn_block bn_plan_apply_span(const bn_plan *p, ptrdiff_t u, ptrdiff_t b0, ptrdiff_t b1,
                                      ptrdiff_t *k, int reduced);
// whether the rows view's kernels and the backward's runs kernels prefetch (their `fetch`): for
// (N,C,S) tensors of more than BN_FETCH_BYTES and of at least bn_fetch_bytes() (the size from
// which a tensor is not expected in cache: its stores bypass it). Smaller ones are in
// L2 or the last-level cache, where the hardware prefetchers keep up and the prefetches only cost
// (and those of the last rows land past the tensor): on a 2-core Zen 4, 1 thread, float32 NC
// backward of 8 KiB to 256 KiB tensors took 0.89-0.95x the time without them, and of a 1 MiB
// tensor 0.95x; on a 2-core Zen 5 (32 MiB L3), rows-view passes over tensors of 1 to 6 MiB
// 0.82-0.95x, one backward 1.01x, and NCHW backwards 0.79-0.97x; on a 2-core Xeon (2 MiB L2s)
// NC 256x1024 to 1024x1024 passes 0.90-1.00x (PERFORMANCE.md).
BN_HIDDEN int bn_plan_fetch(const bn_plan *p, size_t esize);
// blocks [*b0, *b1) of group g
BN_HIDDEN void bn_plan_group(const bn_plan *p, ptrdiff_t g, ptrdiff_t *b0, ptrdiff_t *b1);
// task i of a job over (unit, group) pairs: unit *u, its blocks [*b0, *b1); returns where the
// task's columns start in a scratch array of per-(group, column) sums
BN_HIDDEN ptrdiff_t bn_plan_task(const bn_plan *p, ptrdiff_t i, ptrdiff_t *u, ptrdiff_t *b0,
                                 ptrdiff_t *b1);
// v clamped to [0, hi]
BN_HIDDEN ptrdiff_t bn_clamp(ptrdiff_t v, ptrdiff_t hi);

// per-column terms of y = (x - mean)*scale + shift for the columns of one unit: in float as
// fma(x - mean_f, scale_f, shift_f) where `fast`, else in double (bn_forward.c explains why)
typedef struct bn_affine {
    BN_LINE_ALIGNED double mean[BN_CHUNK], scale[BN_CHUNK], shift[BN_CHUNK];
    BN_LINE_ALIGNED float mean_f[BN_CHUNK], scale_f[BN_CHUNK], shift_f[BN_CHUNK];
    unsigned char fast[BN_CHUNK];
} bn_affine;

// y = (x - mean)*scale + shift over block blk of a unit, then y + res (res != NULL) and
// max(y, 0) (relu); the kernels on each range of columns whose terms are fast, the one double
// loop on the others (so that a column's result never depends on its neighbours)
struct bn_kernels;
BN_HIDDEN void bn_apply_block(const bn_plan *p, const struct bn_kernels *kern, void *y,
                              const void *x, const void *res, int relu, const bn_block *blk,
                              const bn_affine *a, int stream);

// activations ((N,C,S) buffers) of esize-byte elements in the format data (0: float32,
// BN_DATA_BF16, BN_DATA_F16; bn_kernels.h): element i (p NULL: NULL), and element i read
// widened to float or written narrowed from float (bn_half.h), for the loops outside the kernels
static inline const void *bn_at(const void *p, ptrdiff_t i, size_t esize) {
    return p != NULL ? (const char *)p + i * (ptrdiff_t)esize : NULL;
}
static inline void *bn_at_w(void *p, ptrdiff_t i, size_t esize) {
    return p != NULL ? (char *)p + i * (ptrdiff_t)esize : NULL;
}
static inline float bn_act_get(const void *p, ptrdiff_t i, unsigned int data) {
    if (data == BN_DATA_BF16) return bn_bf16_to_float(((const uint16_t *)p)[i]);
    if (data == BN_DATA_F16) return bn_f16_to_float(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}
static inline void bn_act_set(void *p, ptrdiff_t i, float v, unsigned int data) {
    if (data == BN_DATA_BF16) ((uint16_t *)p)[i] = bn_float_to_bf16(v);
    else if (data == BN_DATA_F16) ((uint16_t *)p)[i] = bn_float_to_f16(v);
    else ((float *)p)[i] = v;
}

// Output bytes from which the kernels' stores bypass the caches (non-temporal), read off the
// machine once (bn_dispatch.c)
BN_HIDDEN size_t bn_stream_bytes(void);
// The same for an output written once on two or more threads, in a call that reads nothing back
// (bn_dispatch.c)
BN_HIDDEN size_t bn_stream_once_bytes(void);
// The `stream` value of the kernels for outputs above those sizes: BN_STREAM_NTA on AMD CPUs,
// else BN_STREAM (bn_kernels.h; apply_run and cl_dinp_k in bn_kernels_impl.h say why)
BN_HIDDEN int bn_stream_kind(void);
// The size in bytes of the last-level cache (BNORM_CACHE_BYTES overrides it), 0 when unknown,
// read once (bn_dispatch.c)
BN_HIDDEN size_t bn_cache_bytes(void);
// The size in bytes of the L2 (a core's; BNORM_L2_BYTES overrides it), 0 when unknown, read once
// (bn_dispatch.c)
BN_HIDDEN size_t bn_l2_bytes(void);
// Tensor bytes from which the rows view's and the backward's runs kernels fetch ahead
// (bn_plan_fetch), read once
// (bn_dispatch.c): BNORM_FETCH_BYTES, else bn_stream_bytes()
BN_HIDDEN size_t bn_fetch_bytes(void);

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
// BN_SCRATCH_BYTES on a cache line (for the BN_LINE_ALIGNED arrays), only while the team is held
BN_HIDDEN void *bn_team_scratch(void);
// The same scratch for a call on its own thread: takes the team (without its threads) and returns
// the scratch, or NULL with nothing held when another call holds the team (or the build has no
// threads); bn_team_release gives it back
BN_HIDDEN void *bn_scratch_acquire(void);

// fn(ctx, i) for i in [0, ntasks): on the team when nthreads >= 2, else in order on this thread
BN_HIDDEN void bn_run(int nthreads, ptrdiff_t ntasks, bn_task_fn fn, void *ctx);

/* Statuses, in the order they are checked (the first failing check wins):
 *   BN_ERR_NULL_POINTER, BN_ERR_BAD_FLAGS, BN_ERR_BAD_DTYPE, BN_ERR_BAD_MASK, BN_ERR_BAD_DIMENSION,
 *   BN_ERR_OVERFLOW,
 *   BN_ERR_BAD_LAYOUT, BN_ERR_BAD_EPS, BN_ERR_BAD_MOMENTUM, BN_ERR_SINGLE_VALUE,
 *   BN_ERR_MISALIGNED, BN_ERR_ALIAS.
 * See bn_check.c for the exact rules. The arguments are those of the public function. */
BN_HIDDEN bn_status bn_check_forward_training(const void *out, const float *save_mean,
                                              const float *save_rstd, const float *running_mean,
                                              const float *running_var, const void *inp,
                                              const void *res, const float *gamma,
                                              const float *beta, double eps, double momentum,
                                              unsigned int flags,
                                              int layout, int64_t N, int64_t C, int64_t S);

BN_HIDDEN bn_status bn_check_forward_inference(const void *out, const void *inp,
                                               const void *res, const float *mean, const float *var,
                                               const float *gamma, const float *beta,
                                               double eps, unsigned int flags,
                                               int layout, int64_t N, int64_t C, int64_t S);

BN_HIDDEN bn_status bn_check_backward(const void *dinp, const void *dres, const float *dgamma,
                                      const float *dbeta, const void *dout, const void *out,
                                      const void *inp, const float *gamma, const float *mean,
                                      const float *rstd, unsigned int flags, unsigned int mask,
                                      int layout, int64_t N, int64_t C, int64_t S);

// ----------------------------------------------------------------------------
// split phase (bn_split.c): checks (bn_check.c), then the work (bn_forward.c, bn_backward.c),
// the arguments as in bn.h; the work functions trust their arguments

BN_HIDDEN bn_status bn_check_stats_local(const double *stats, const void *inp,
                                         unsigned int flags, int layout,
                                         int64_t N, int64_t C, int64_t S);
BN_HIDDEN bn_status bn_check_stats_merge(const double *mean, const double *rstd,
                                         const float *running_mean, const float *running_var,
                                         const double *stats, double eps, double momentum,
                                         unsigned int flags, int64_t C, int64_t P);
BN_HIDDEN bn_status bn_check_forward_apply(const void *out, const void *inp, const void *res,
                                           const double *mean, const double *rstd,
                                           const float *gamma, const float *beta,
                                           unsigned int flags, int layout, int64_t N, int64_t C,
                                           int64_t S);
BN_HIDDEN bn_status bn_check_backward_reduce(const double *sums, const void *dout,
                                             const void *out, const void *inp,
                                             const double *mean, unsigned int flags, int layout,
                                             int64_t N, int64_t C, int64_t S);
BN_HIDDEN bn_status bn_check_backward_apply(const void *dinp, const void *dres,
                                            const float *dgamma, const float *dbeta,
                                            const void *dout, const void *out,
                                            const void *inp, const float *gamma,
                                            const double *mean, const double *rstd,
                                            const double *sums, unsigned int flags,
                                            unsigned int mask, int layout, int64_t N, int64_t C,
                                            int64_t S, int64_t P);

// stats (3, C) of inp, through the forward's plan, kernels and threads
BN_HIDDEN void bn_forward_stats(double *stats, const void *inp, unsigned int flags, int layout, int64_t N,
                                int64_t C, int64_t S);
// out of inp (and res, ReLU with BN_FUSE_RELU in flags) with mean, rstd given in double
BN_HIDDEN void bn_forward_given(void *out, const void *inp, const void *res,
                                const double *mean, const double *rstd, const float *gamma,
                                const float *beta, unsigned int flags, int layout, int64_t N,
                                int64_t C, int64_t S);
// sums (3, C) of dout (gated by out if not NULL), inp about mean, by the backward's passes
BN_HIDDEN void bn_backward_sums(double *sums, const void *dout, const void *out,
                                const void *inp, const double *mean, unsigned int flags, int layout,
                                int64_t N, int64_t C, int64_t S);
// dinp, dres, dgamma, dbeta (each may be NULL) from the P parts' sums (P, 3, C), gated as above
BN_HIDDEN void bn_backward_given(void *dinp, void *dres, float *dgamma, float *dbeta,
                                 const void *dout, const void *out, const void *inp,
                                 const float *gamma, const double *mean, const double *rstd,
                                 const double *psums, unsigned int flags, int layout, int64_t N, int64_t C,
                                 int64_t S, int64_t P);

#endif /* BN_INTERNAL_H */
