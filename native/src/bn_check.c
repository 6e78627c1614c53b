/*
 * bn_check.c - argument validation, done once, up front, for every public entry point.
 *
 * N = batch, C = channels, S = spatial size (H*W, or L; 1 for NC). M = N*S values per channel.
 *
 * Checks, in this order; the first one that fails gives the status. Nothing is written by
 * any check, and the kernels write nothing unless all of them pass.
 *   1. BN_ERR_NULL_POINTER   a required buffer is NULL. Required: every buffer that the function
 *                            always takes, plus each optional one whose flag or mask bit is set
 *                            (res: BN_FUSE_ADD; out: BN_FUSE_RELU; dres: BN_DIFF_RES; bits of
 *                            flags and mask that are unknown to the function are ignored here;
 *                            they fail in step 2 or 4). bn_backward reads inp, so requires it,
 *                            when BN_DIFF_SCALE is in mask or BN_USE_GLOBAL_STATS is not set.
 *   2. BN_ERR_BAD_FLAGS      flags has a bit the function does not take (unknown bits included),
 *                            or an optional buffer is non-NULL while its flag bit (forward) or its
 *                            mask bit (backward outputs) is not set.
 *   3. BN_ERR_BAD_DTYPE     flags has both BN_DATA_BF16 and BN_DATA_F16 (functions that take them).
 *   4. BN_ERR_BAD_MASK       bn_backward: mask is 0 or has bits other than BN_DIFF_*, or has
 *                            BN_DIFF_RES without BN_FUSE_ADD.
 *   5. BN_ERR_BAD_DIMENSION  N, C or S < 1, or layout is BN_LAYOUT_NC and S != 1.
 *   6. BN_ERR_OVERFLOW       N*C*S*e > min(INT64_MAX, SIZE_MAX, PTRDIFF_MAX), e the element size
 *                            of the activations (4 bytes, 2 with BN_DATA_BF16 or F16), checked
 *                            with divisions so that no product can overflow.
 *   7. BN_ERR_BAD_LAYOUT     layout is not a bn_layout value.
 *   8. BN_ERR_BAD_EPS        forward: eps is NaN, infinite or <= 0.
 *   9. BN_ERR_BAD_MOMENTUM   bn_forward_training with BN_UPDATE_RUNNING: momentum is NaN or
 *                            outside [0, 1]. Without the flag momentum is not looked at.
 *  10. BN_ERR_SINGLE_VALUE   bn_forward_training: M = N*S == 1. (bn_backward accepts M == 1.)
 *  11. BN_ERR_MISALIGNED     a non-NULL buffer address is not a multiple of its element size:
 *                            4 (float), 8 (double), 2 ((N,C,S) buffers of BN_DATA_BF16, F16).
 *  12. BN_ERR_ALIAS          the byte range of an output overlaps the byte range of any other
 *                            non-NULL buffer (input or output), unless both are (N,C,S) buffers,
 *                            the other one is an input, the two pointers are equal, and the pair
 *                            is allowed (out == inp or res; dinp == dout or inp; dres == dout).
 *                            Inputs may overlap inputs.
 *                            Running statistics are outputs (updated in place).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "bn.h"
#include "bn_internal.h"

// ----------------------------------------------------------------------------
// dimensions

// the element size of the (N,C,S) buffers: 2 bytes with BN_DATA_BF16 or BN_DATA_F16, else 4
static size_t elem_size(unsigned int flags) {
    return (flags & (BN_DATA_BF16 | BN_DATA_F16)) != 0 ? 2u : sizeof(float);
}

static int bad_dtype(unsigned int flags) {
    return (flags & (BN_DATA_BF16 | BN_DATA_F16)) == (BN_DATA_BF16 | BN_DATA_F16);
}

static bn_status check_dims(int layout, int64_t N, int64_t C, int64_t S, size_t es) {
    if (N < 1 || C < 1 || S < 1) return BN_ERR_BAD_DIMENSION;
    if (layout == BN_LAYOUT_NC && S != 1) return BN_ERR_BAD_DIMENSION;
    // the largest byte count that int64_t, size_t and ptrdiff_t can all hold
    uint64_t max_bytes = (uint64_t)INT64_MAX;
    if ((uint64_t)SIZE_MAX < max_bytes) max_bytes = (uint64_t)SIZE_MAX;
    if ((uint64_t)PTRDIFF_MAX < max_bytes) max_bytes = (uint64_t)PTRDIFF_MAX;
    const uint64_t max_elems = max_bytes / es;
    const uint64_t n = (uint64_t)N, c = (uint64_t)C, s = (uint64_t)S;
    if (n > max_elems) return BN_ERR_OVERFLOW;
    if (c > max_elems / n) return BN_ERR_OVERFLOW;
    if (s > max_elems / (n * c)) return BN_ERR_OVERFLOW;
    if (layout != BN_LAYOUT_NC && layout != BN_LAYOUT_NCHW && layout != BN_LAYOUT_NHWC) {
        return BN_ERR_BAD_LAYOUT;
    }
    return BN_OK;
}

// ----------------------------------------------------------------------------
// buffers: alignment and overlap

typedef struct {
    const void *p;      // NULL: absent, ignored by the checks below
    uintptr_t bytes;
    int kind;           // 1: an output; 2: a double buffer (split phase), 8-byte aligned; 4: a
                        // 16-bit (N,C,S) buffer, 2-byte aligned; else 4-byte aligned
    unsigned int eq;    // (N,C,S) buffers: an input's bit; an output may equal the inputs of
                        // these bits (0: a per-channel (C,) buffer)
} bn_buf;

// [lo, hi) of a buffer; hi saturates instead of wrapping around the address space
static uintptr_t buf_hi(const bn_buf *b) {
    const uintptr_t lo = (uintptr_t)b->p;
    return b->bytes > UINTPTR_MAX - lo ? UINTPTR_MAX : lo + b->bytes;
}

static int bad_alias(const bn_buf *b, int n) {
    for (int i = 0; i < n; i++) {
        if (b[i].p == NULL || !(b[i].kind & 1)) continue;
        const uintptr_t lo_i = (uintptr_t)b[i].p, hi_i = buf_hi(&b[i]);
        for (int j = 0; j < n; j++) {
            if (j == i || b[j].p == NULL) continue;
            const uintptr_t lo_j = (uintptr_t)b[j].p, hi_j = buf_hi(&b[j]);
            if (!(lo_i < hi_j && lo_j < hi_i)) continue; // disjoint
            // the one allowed overlap: an (N,C,S) output that IS an (N,C,S) input
            if ((b[i].eq & b[j].eq) != 0 && !(b[j].kind & 1) && lo_i == lo_j) continue;
            return 1;
        }
    }
    return 0;
}

// steps 10 and 11 for the n buffers b
static bn_status check_bufs(const bn_buf *b, int n) {
    for (int i = 0; i < n; i++) {
        const uintptr_t mask = (b[i].kind & 2) ? 7u : (b[i].kind & 4) ? 1u : 3u;
        if (b[i].p != NULL && ((uintptr_t)b[i].p & mask) != 0) return BN_ERR_MISALIGNED;
    }
    return bad_alias(b, n) ? BN_ERR_ALIAS : BN_OK;
}
#define CHECK_BUFS(b) check_bufs(b, (int)(sizeof b / sizeof b[0]))

// sizes in bytes, valid only after check_dims returned BN_OK
static uintptr_t tensor_bytes(int64_t N, int64_t C, int64_t S, size_t es) {
    return (uintptr_t)((uint64_t)N * (uint64_t)C * (uint64_t)S * es);
}

static uintptr_t channel_bytes(int64_t C) { return (uintptr_t)((uint64_t)C * sizeof(float)); }

static int bad_eps(double eps) { return !(eps > 0.0) || !isfinite(eps); }

// optional buffer p against its bit: 1 if present while the bit is absent
static int present_without(const void *p, unsigned int bits, unsigned int bit) {
    return p != NULL && (bits & bit) == 0;
}

// required buffer p (when bit is set in bits, or always when bit == 0): 1 if NULL
static int missing(const void *p, unsigned int bits, unsigned int bit) {
    return p == NULL && (bit == 0 || (bits & bit) != 0);
}

// ----------------------------------------------------------------------------
// entry points

bn_status bn_check_forward_training(const void *out, const float *save_mean,
                                    const float *save_rstd, const float *running_mean,
                                    const float *running_var, const void *inp, const void *res,
                                    const float *gamma, const float *beta,
                                    double eps, double momentum, unsigned int flags,
                                    int layout, int64_t N, int64_t C, int64_t S) {
    const unsigned int taken = BN_USE_SCALE | BN_USE_SHIFT | BN_UPDATE_RUNNING | BN_FUSE_RELU |
                               BN_FUSE_ADD | BN_DATA_BF16 | BN_DATA_F16;
    if (missing(out, flags, 0) || missing(save_mean, flags, 0) || missing(save_rstd, flags, 0) ||
        missing(inp, flags, 0) || missing(res, flags, BN_FUSE_ADD) ||
        missing(gamma, flags, BN_USE_SCALE) ||
        missing(beta, flags, BN_USE_SHIFT) || missing(running_mean, flags, BN_UPDATE_RUNNING) ||
        missing(running_var, flags, BN_UPDATE_RUNNING)) {
        return BN_ERR_NULL_POINTER;
    }
    if ((flags & ~taken) != 0 || present_without(gamma, flags, BN_USE_SCALE) ||
        present_without(beta, flags, BN_USE_SHIFT) || present_without(res, flags, BN_FUSE_ADD) ||
        present_without(running_mean, flags, BN_UPDATE_RUNNING) ||
        present_without(running_var, flags, BN_UPDATE_RUNNING)) {
        return BN_ERR_BAD_FLAGS;
    }
    if (bad_dtype(flags)) return BN_ERR_BAD_DTYPE;
    bn_status st = check_dims(layout, N, C, S, elem_size(flags));
    if (st != BN_OK) return st;
    if (bad_eps(eps)) return BN_ERR_BAD_EPS;
    if ((flags & BN_UPDATE_RUNNING) != 0 && !(momentum >= 0.0 && momentum <= 1.0)) {
        return BN_ERR_BAD_MOMENTUM;
    }
    if (N * S == 1) return BN_ERR_SINGLE_VALUE;
    const uintptr_t tb = tensor_bytes(N, C, S, elem_size(flags)), cb = channel_bytes(C);
    const int h = elem_size(flags) == 2 ? 4 : 0; // bn_buf.kind of a 16-bit (N,C,S) buffer
    const bn_buf b[] = {
        {out, tb, 1 | h, 1},  {save_mean, cb, 1, 0}, {save_rstd, cb, 1, 0}, {running_mean, cb, 1, 0},
        {running_var, cb, 1, 0}, {inp, tb, h, 1}, {res, tb, h, 1}, {gamma, cb, 0, 0}, {beta, cb, 0, 0},
    };
    return CHECK_BUFS(b);
}

bn_status bn_check_forward_inference(const void *out, const void *inp, const void *res,
                                     const float *mean, const float *var,
                                     const float *gamma, const float *beta,
                                     double eps, unsigned int flags,
                                     int layout, int64_t N, int64_t C, int64_t S) {
    const unsigned int taken = BN_USE_SCALE | BN_USE_SHIFT | BN_FUSE_RELU | BN_FUSE_ADD |
                               BN_DATA_BF16 | BN_DATA_F16;
    if (missing(out, flags, 0) || missing(inp, flags, 0) || missing(res, flags, BN_FUSE_ADD) ||
        missing(mean, flags, 0) || missing(var, flags, 0) ||
        missing(gamma, flags, BN_USE_SCALE) || missing(beta, flags, BN_USE_SHIFT)) {
        return BN_ERR_NULL_POINTER;
    }
    if ((flags & ~taken) != 0 || present_without(gamma, flags, BN_USE_SCALE) ||
        present_without(beta, flags, BN_USE_SHIFT) || present_without(res, flags, BN_FUSE_ADD)) {
        return BN_ERR_BAD_FLAGS;
    }
    if (bad_dtype(flags)) return BN_ERR_BAD_DTYPE;
    bn_status st = check_dims(layout, N, C, S, elem_size(flags));
    if (st != BN_OK) return st;
    if (bad_eps(eps)) return BN_ERR_BAD_EPS;
    const uintptr_t tb = tensor_bytes(N, C, S, elem_size(flags)), cb = channel_bytes(C);
    const int h = elem_size(flags) == 2 ? 4 : 0; // bn_buf.kind of a 16-bit (N,C,S) buffer
    const bn_buf b[] = {
        {out, tb, 1 | h, 1},  {inp, tb, h, 1},   {res, tb, h, 1},
        {mean, cb, 0, 0}, {var, cb, 0, 0},   {gamma, cb, 0, 0}, {beta, cb, 0, 0},
    };
    return CHECK_BUFS(b);
}

bn_status bn_check_backward(const void *dinp, const void *dres, const float *dgamma,
                            const float *dbeta, const void *dout, const void *out,
                            const void *inp, const float *gamma, const float *mean,
                            const float *rstd, unsigned int flags, unsigned int mask,
                            int layout, int64_t N, int64_t C, int64_t S) {
    const unsigned int taken = BN_USE_SCALE | BN_USE_GLOBAL_STATS | BN_FUSE_RELU | BN_FUSE_ADD |
                               BN_DATA_BF16 | BN_DATA_F16;
    const unsigned int known_mask = BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT | BN_DIFF_RES;
    // inp is read for dgamma, and for dinp with batch statistics (and nothing else)
    const int inp_read = (mask & BN_DIFF_SCALE) != 0 || (flags & BN_USE_GLOBAL_STATS) == 0;
    if (missing(dinp, mask, BN_DIFF_INP) || missing(dgamma, mask, BN_DIFF_SCALE) ||
        missing(dbeta, mask, BN_DIFF_SHIFT) || missing(dres, mask, BN_DIFF_RES) ||
        missing(dout, flags, 0) || missing(out, flags, BN_FUSE_RELU) ||
        (inp_read && inp == NULL) || missing(gamma, flags, BN_USE_SCALE) ||
        missing(mean, flags, 0) || missing(rstd, flags, 0)) {
        return BN_ERR_NULL_POINTER;
    }
    if ((flags & ~taken) != 0 || present_without(gamma, flags, BN_USE_SCALE) ||
        present_without(out, flags, BN_FUSE_RELU) ||
        present_without(dinp, mask, BN_DIFF_INP) || present_without(dgamma, mask, BN_DIFF_SCALE) ||
        present_without(dbeta, mask, BN_DIFF_SHIFT) || present_without(dres, mask, BN_DIFF_RES)) {
        return BN_ERR_BAD_FLAGS;
    }
    if (bad_dtype(flags)) return BN_ERR_BAD_DTYPE;
    if (mask == 0 || (mask & ~known_mask) != 0) return BN_ERR_BAD_MASK;
    if ((mask & BN_DIFF_RES) != 0 && (flags & BN_FUSE_ADD) == 0) return BN_ERR_BAD_MASK;
    bn_status st = check_dims(layout, N, C, S, elem_size(flags));
    if (st != BN_OK) return st;
    const uintptr_t tb = tensor_bytes(N, C, S, elem_size(flags)), cb = channel_bytes(C);
    const int h = elem_size(flags) == 2 ? 4 : 0; // bn_buf.kind of a 16-bit (N,C,S) buffer
    const bn_buf b[] = { // eq: dout 1, inp 2, out 4; dinp may be dout or inp, dres dout
        {dinp, tb, 1 | h, 1 | 2}, {dres, tb, 1 | h, 1}, {dgamma, cb, 1, 0}, {dbeta, cb, 1, 0}, {dout, tb, h, 1},
        {inp, tb, h, 2}, {out, tb, h, 4}, {gamma, cb, 0, 0}, {mean, cb, 0, 0}, {rstd, cb, 0, 0},
    };
    return CHECK_BUFS(b);
}

// ----------------------------------------------------------------------------
// split phase (bn.h): the same rules; double buffers 8-byte aligned; the counts of statistics
// (data, read only once the buffers are known valid) checked last

// P and C of (P, 3, C) doubles: >= 1, and the byte count fits
static bn_status check_parts(int64_t C, int64_t P) {
    if (C < 1 || P < 1) return BN_ERR_BAD_DIMENSION;
    const uint64_t max_doubles = (uint64_t)(PTRDIFF_MAX < INT64_MAX ? PTRDIFF_MAX : INT64_MAX) / 8u;
    if ((uint64_t)P > max_doubles / 3u / (uint64_t)C) return BN_ERR_OVERFLOW;
    return BN_OK;
}

static uintptr_t parts_bytes(int64_t C, int64_t P) {
    return (uintptr_t)((uint64_t)P * 3u * (uint64_t)C * sizeof(double));
}

// counts of (P, 3, C) partials: whole numbers in [0, 2^53]; per channel a total >= least
static bn_status check_counts(const double *parts, int64_t C, int64_t P, double least) {
    for (int64_t c = 0; c < C; c++) {
        double total = 0.0;
        for (int64_t q = 0; q < P; q++) {
            const double n = parts[q * 3 * C + c];
            if (!(n >= 0.0 && n <= 9007199254740992.0) || n != floor(n)) return BN_ERR_BAD_DIMENSION;
            total += n;
        }
        if (!(total >= least)) return BN_ERR_SINGLE_VALUE;
    }
    return BN_OK;
}

bn_status bn_check_stats_local(const double *stats, const void *inp, unsigned int flags,
                               int layout, int64_t N, int64_t C, int64_t S) {
    if (stats == NULL || inp == NULL) return BN_ERR_NULL_POINTER;
    if ((flags & ~(BN_DATA_BF16 | BN_DATA_F16)) != 0) return BN_ERR_BAD_FLAGS;
    if (bad_dtype(flags)) return BN_ERR_BAD_DTYPE;
    bn_status st = check_dims(layout, N, C, S, elem_size(flags));
    if (st != BN_OK) return st;
    const int h = elem_size(flags) == 2 ? 4 : 0; // bn_buf.kind of a 16-bit (N,C,S) buffer
    const bn_buf b[] = {{stats, (uintptr_t)C * 3u * sizeof(double), 3, 0},
                        {inp, tensor_bytes(N, C, S, elem_size(flags)), h, 1}};
    return CHECK_BUFS(b);
}

bn_status bn_check_stats_merge(const double *mean, const double *rstd, const float *running_mean,
                               const float *running_var, const double *stats, double eps,
                               double momentum, unsigned int flags, int64_t C, int64_t P) {
    if (mean == NULL || rstd == NULL || stats == NULL ||
        missing(running_mean, flags, BN_UPDATE_RUNNING) ||
        missing(running_var, flags, BN_UPDATE_RUNNING)) {
        return BN_ERR_NULL_POINTER;
    }
    if ((flags & ~BN_UPDATE_RUNNING) != 0 ||
        present_without(running_mean, flags, BN_UPDATE_RUNNING) ||
        present_without(running_var, flags, BN_UPDATE_RUNNING)) {
        return BN_ERR_BAD_FLAGS;
    }
    bn_status st = check_parts(C, P);
    if (st != BN_OK) return st;
    if (bad_eps(eps)) return BN_ERR_BAD_EPS;
    if ((flags & BN_UPDATE_RUNNING) != 0 && !(momentum >= 0.0 && momentum <= 1.0)) {
        return BN_ERR_BAD_MOMENTUM;
    }
    const uintptr_t cb = channel_bytes(C);
    const bn_buf b[] = {
        {(const float *)mean, 2 * cb, 3, 0}, {(const float *)rstd, 2 * cb, 3, 0},
        {running_mean, cb, 1, 0},            {running_var, cb, 1, 0},
        {(const float *)stats, parts_bytes(C, P), 2, 0},
    };
    st = CHECK_BUFS(b);
    return st != BN_OK ? st : check_counts(stats, C, P, 2.0);
}

bn_status bn_check_forward_apply(const void *out, const void *inp, const void *res,
                                 const double *mean, const double *rstd, const float *gamma,
                                 const float *beta, unsigned int flags, int layout, int64_t N,
                                 int64_t C, int64_t S) {
    const unsigned int taken = BN_USE_SCALE | BN_USE_SHIFT | BN_FUSE_RELU | BN_FUSE_ADD |
                               BN_DATA_BF16 | BN_DATA_F16;
    if (out == NULL || inp == NULL || mean == NULL || rstd == NULL ||
        missing(res, flags, BN_FUSE_ADD) || missing(gamma, flags, BN_USE_SCALE) ||
        missing(beta, flags, BN_USE_SHIFT)) {
        return BN_ERR_NULL_POINTER;
    }
    if ((flags & ~taken) != 0 || present_without(res, flags, BN_FUSE_ADD) ||
        present_without(gamma, flags, BN_USE_SCALE) || present_without(beta, flags, BN_USE_SHIFT)) {
        return BN_ERR_BAD_FLAGS;
    }
    if (bad_dtype(flags)) return BN_ERR_BAD_DTYPE;
    bn_status st = check_dims(layout, N, C, S, elem_size(flags));
    if (st != BN_OK) return st;
    const uintptr_t tb = tensor_bytes(N, C, S, elem_size(flags)), cb = channel_bytes(C);
    const int h = elem_size(flags) == 2 ? 4 : 0; // bn_buf.kind of a 16-bit (N,C,S) buffer
    const bn_buf b[] = {
        {out, tb, 1 | h, 1}, {inp, tb, h, 1}, {res, tb, h, 1},
        {(const float *)mean, 2 * cb, 2, 0}, {(const float *)rstd, 2 * cb, 2, 0},
        {gamma, cb, 0, 0}, {beta, cb, 0, 0},
    };
    return CHECK_BUFS(b);
}

bn_status bn_check_backward_reduce(const double *sums, const void *dout, const void *out,
                                   const void *inp, const double *mean, unsigned int flags,
                                   int layout, int64_t N, int64_t C, int64_t S) {
    if (sums == NULL || dout == NULL || inp == NULL || mean == NULL ||
        missing(out, flags, BN_FUSE_RELU)) {
        return BN_ERR_NULL_POINTER;
    }
    if ((flags & ~(BN_FUSE_RELU | BN_DATA_BF16 | BN_DATA_F16)) != 0 ||
        present_without(out, flags, BN_FUSE_RELU)) {
        return BN_ERR_BAD_FLAGS;
    }
    if (bad_dtype(flags)) return BN_ERR_BAD_DTYPE;
    bn_status st = check_dims(layout, N, C, S, elem_size(flags));
    if (st != BN_OK) return st;
    const uintptr_t tb = tensor_bytes(N, C, S, elem_size(flags)), cb = channel_bytes(C);
    const int h = elem_size(flags) == 2 ? 4 : 0; // bn_buf.kind of a 16-bit (N,C,S) buffer
    const bn_buf b[] = {
        {(const float *)sums, 6 * cb, 3, 0},
        {dout, tb, h, 1}, {out, tb, h, 1}, {inp, tb, h, 1},
        {(const float *)mean, 2 * cb, 2, 0},
    };
    return CHECK_BUFS(b);
}

bn_status bn_check_backward_apply(const void *dinp, const void *dres, const float *dgamma,
                                  const float *dbeta, const void *dout, const void *out,
                                  const void *inp, const float *gamma, const double *mean,
                                  const double *rstd, const double *sums, unsigned int flags,
                                  unsigned int mask, int layout, int64_t N, int64_t C, int64_t S,
                                  int64_t P) {
    const unsigned int taken = BN_USE_SCALE | BN_FUSE_RELU | BN_FUSE_ADD | BN_DATA_BF16 |
                               BN_DATA_F16;
    const unsigned int known_mask = BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT | BN_DIFF_RES;
    if (missing(dinp, mask, BN_DIFF_INP) || missing(dgamma, mask, BN_DIFF_SCALE) ||
        missing(dbeta, mask, BN_DIFF_SHIFT) || missing(dres, mask, BN_DIFF_RES) || dout == NULL ||
        missing(out, flags, BN_FUSE_RELU) || inp == NULL || missing(gamma, flags, BN_USE_SCALE) ||
        mean == NULL || rstd == NULL || sums == NULL) {
        return BN_ERR_NULL_POINTER;
    }
    if ((flags & ~taken) != 0 || present_without(gamma, flags, BN_USE_SCALE) ||
        present_without(out, flags, BN_FUSE_RELU) ||
        present_without(dinp, mask, BN_DIFF_INP) || present_without(dgamma, mask, BN_DIFF_SCALE) ||
        present_without(dbeta, mask, BN_DIFF_SHIFT) || present_without(dres, mask, BN_DIFF_RES)) {
        return BN_ERR_BAD_FLAGS;
    }
    if (bad_dtype(flags)) return BN_ERR_BAD_DTYPE;
    if (mask == 0 || (mask & ~known_mask) != 0) return BN_ERR_BAD_MASK;
    if ((mask & BN_DIFF_RES) != 0 && (flags & BN_FUSE_ADD) == 0) return BN_ERR_BAD_MASK;
    bn_status st = check_dims(layout, N, C, S, elem_size(flags));
    if (st != BN_OK) return st;
    st = check_parts(C, P);
    if (st != BN_OK) return st;
    const uintptr_t tb = tensor_bytes(N, C, S, elem_size(flags)), cb = channel_bytes(C);
    const int h = elem_size(flags) == 2 ? 4 : 0; // bn_buf.kind of a 16-bit (N,C,S) buffer
    const bn_buf b[] = { // eq: dout 1, inp 2, out 4; dinp may be dout or inp, dres dout
        {dinp, tb, 1 | h, 1 | 2}, {dres, tb, 1 | h, 1}, {dgamma, cb, 1, 0}, {dbeta, cb, 1, 0},
        {dout, tb, h, 1}, {inp, tb, h, 2}, {out, tb, h, 4}, {gamma, cb, 0, 0},
        {(const float *)mean, 2 * cb, 2, 0}, {(const float *)rstd, 2 * cb, 2, 0},
        {(const float *)sums, parts_bytes(C, P), 2, 0},
    };
    st = CHECK_BUFS(b);
    return st != BN_OK ? st : check_counts(sums, C, P, 1.0);
}
