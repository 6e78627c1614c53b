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

#include <stdint.h>

#include "bn.h"

#if defined(__GNUC__) && !defined(_WIN32)
#  define BN_HIDDEN __attribute__((visibility("hidden")))
#else
#  define BN_HIDDEN
#endif

/* Channels per chunk in the channels-last layouts (NC, NHWC): per-channel accumulators live in
 * stack arrays of this many doubles, so nothing is allocated and each row is read sequentially. */
#define BN_CHUNK 256

/* Partial sums per reduction along a contiguous run (NCHW): lane j adds elements j, j+BN_LANES,
 * ... of each run, and the lanes are added pairwise at the end. Independent adds pipeline (a
 * single double accumulator is latency-bound), and the order depends only on the shape, so the
 * result is deterministic. */
#define BN_LANES 8

/* ((a0+a1)+(a2+a3)) + ((a4+a5)+(a6+a7)) of BN_LANES partial sums */
static inline double bn_lanes_total(const double *acc) {
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

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

#endif /* BN_INTERNAL_H */
