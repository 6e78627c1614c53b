/*
 * bn_kernels.h - the inner loops, one table per instruction set and activation format
 * (bn_kernels_impl.h is compiled once per ISA: generic C, AVX2+FMA, AVX-512, and format: float32,
 * bf16, f16), chosen at run time by bn_kernels_get() and bn_kernels_for().
 *
 * One set of kernels per view (bn_view, bn_internal.h); each call walks one block (bn_block):
 *
 * Rows ("cl", channels-last: NC, NHWC, NCHW with S == 1). A matrix of nrows full rows of wn
 * columns, row stride ld floats, plus one partial row (row index nrows) whose first tailn columns
 * are valid (tailn == 0: no partial row). Column w of the view is a "wide column": the planner
 * folds rows of C channels into one row of fold*C columns when C is small, so the channel of
 * wide column w is w mod C (see bn_internal.h).
 *
 * Runs (NCHW with S >= BN_SHORT_RUN). nruns runs of len contiguous floats, run i at
 * x + i*stride, all of one channel. Short runs (S < BN_SHORT_RUN, and any S > 1 in a call that
 * only applies: bn_plan_init): nch runs of consecutive channels of one sample, which are
 * contiguous.
 *
 * Fusions (bn.h): the apply kernels add res and take max(., 0) after rounding; the sums and dinp
 * kernels read dout through the ReLU's gate g = (gate <= 0) ? 0 : dout; dinp writes dres = g.
 *
 * Statistics are shifted sums (see bn_internal.h): for each column (or for all the runs) the
 * kernel takes K = the first value (0 if it is not finite) and returns
 *   sum = n*K + S1,   m2 = S2 - S1*S1/n,   S1 = sum(x - K), S2 = sum((x - K)^2)
 * in double, where n is the number of values. x - K of two floats is exact in double and so is
 * its square, so only the sums round.
 *
 * Sums and the lane structure of every reduction depend only on the arguments (the shape), never
 * on the thread running them: the library's results are bit-identical for any thread count.
 */
#ifndef BN_KERNELS_H
#define BN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

// the most columns (wn) of a rows-view call: the planner's BN_CHUNK; cl_apply also takes whole
// rows of up to BN_KERNEL_ROW_COLS (bn_forward.c: inference over wide rows)
#define BN_KERNEL_COLS 512
#define BN_KERNEL_ROW_COLS 2048

// the kernels' `stream` argument: 0 cached stores; else non-temporal stores, where the apply
// kernels (run_apply, short_apply) fetch their input ahead towards L2 (BN_STREAM) or as values read
// a last time (BN_STREAM_NTA, prefetchnta on x86), and cl_dinp fetches contiguous rows ahead
// (BN_STREAM) or leaves them to the hardware (BN_STREAM_NTA); the other kernels take any nonzero
// value as BN_STREAM
#define BN_STREAM 1
#define BN_STREAM_NTA 2

/* 1/n where it is exact (n a power of two), else 0; n is a count of values, a whole number in
 * [1, 2^63). Where it is exact, x * (1/n) and x / n are the same real number rounded once, so
 * the same bits, for a multiplication in place of a division. */
static inline double bn_exact_reciprocal(double n) {
    const int64_t i = (int64_t)n;
    return i > 0 && (i & (i - 1)) == 0 ? 1.0 / n : 0.0;
}

/* Per-channel terms of the forward, for n <= BN_KERNEL_COLS channels (all pointers at the first
 * one). Training (T != NULL): mean = T/count, var = M2/count, and save_mean, save_rstd (and
 * running_mean, running_var when not NULL) are written; given statistics (dmean != NULL): mean =
 * dmean, rstd = drstd; inference: mean, var are read. Always: mean_d, scale, shift = mean,
 * gamma*rstd, beta in double, and the float terms of out = fma(x - mean_f, scale_f, shift_f)
 * (bn_affine) with fast = 0 where float cannot hold them. */
typedef struct {
    const double *T, *M2;
    double count;
    const float *mean, *var, *gamma, *beta; // gamma, beta may be NULL
    double eps, momentum, unbias;
    float *save_mean, *save_rstd, *running_mean, *running_var;
    double *mean_d, *scale, *shift;
    float *mean_f, *scale_f, *shift_f;
    unsigned char *fast;
    const double *dmean, *drstd; // split phase: mean, rstd given in double (T == NULL), else NULL
} bn_fwd_terms;

/* Per-channel terms of the backward, for n <= BN_KERNEL_COLS channels: dbeta = sum_dy,
 * dgamma = rstd*sum_dy_xmu (written when not NULL); the double terms of
 * dinp = scale*((g - dy_mean) - (x - mean)*xmu_scale): mean_d = mean, dy_mean = sum_dy/M,
 * xmu_scale = rstd*dgamma/M, scale = gamma*rstd; scale_f = (float)scale with fast = 0 where
 * scale is not a normal float or 0 (for global statistics). */
typedef struct {
    const double *sum_dy, *sum_dy_xmu;
    double M;
    const float *mean, *rstd, *gamma; // gamma may be NULL
    float *dgamma, *dbeta;            // may be NULL
    double *mean_d, *dy_mean, *xmu_scale, *scale;
    float *scale_f;
    unsigned char *fast;
    const double *dmean, *drstd; // split phase: mean, rstd given in double instead, else NULL
} bn_back_terms;

typedef struct bn_kernels {
    const char *name; // "generic", "avx2", "avx512"
    // the activations' format: 0 (float32), BN_DATA_BF16 or BN_DATA_F16; their element size in
    // bytes (4 or 2): every (N,C,S) pointer below points to such elements
    unsigned int data;
    size_t esize;

    // The rows view's kernels (cl_*) fetch the rows ahead of the one they read, and the
    // backward's runs kernels (run_sums, run_dinp) the next run (software prefetch), when
    // `fetch` is nonzero: for tensors not expected in cache (bn_plan_fetch).

    // sum[w], m2[w] of the block for w < wn (0, 0 for a column without values)
    void (*cl_stats)(double *sum, double *m2, const void *x, ptrdiff_t ld, ptrdiff_t nrows,
                     ptrdiff_t tailn, ptrdiff_t wn, int fetch);
    // out = (x - mh[w])*sc[w] + sh[w], one rounding with FMA; then, fused (bn.h), out + res
    // (res != NULL) and max(out, 0) (relu != 0), each one float operation
    void (*cl_apply)(void *out, const void *x, const void *res, int relu, ptrdiff_t ld,
                     ptrdiff_t nrows, ptrdiff_t tailn, ptrdiff_t wn, const float *mh,
                     const float *sc, const float *sh, int stream, int fetch);
    // with g = dy, or with gate != NULL g = (gate <= 0) ? 0 : dy (the ReLU's gate, bn.h):
    // t1[w] = sum(g) (sum_dy), t2[w] = sum(g*(x - mean[w])) (sum_dy_xmu, only when x != NULL,
    // else 0); overwrites
    void (*cl_sums)(double *t1, double *t2, const void *dy, const void *gate, const void *x,
                    const float *mean, ptrdiff_t ld, ptrdiff_t nrows, ptrdiff_t tailn,
                    ptrdiff_t wn, int fetch);
    // with g as for cl_sums: dinp = scale[w]*((g - dy_mean[w]) - (x - mean[w])*xmu_scale[w]) in
    // double, rounded once to float, and dres = g when dres != NULL; the constant arrays are
    // padded with finite values to a multiple of 32 columns
    void (*cl_dinp)(void *dinp, void *dres, const void *dy, const void *gate, const void *x,
                    ptrdiff_t ld, ptrdiff_t nrows, ptrdiff_t tailn, ptrdiff_t wn,
                    const double *mean, const double *dy_mean, const double *xmu_scale,
                    const double *scale, int stream, int fetch);

    // *sum, *m2 of all nruns*len values
    void (*run_stats)(double *sum, double *m2, const void *x, ptrdiff_t stride,
                      ptrdiff_t nruns, ptrdiff_t len);
    void (*run_apply)(void *out, const void *x, const void *res, int relu, ptrdiff_t stride,
                      ptrdiff_t nruns, ptrdiff_t len, float mh, float sc, float sh, int stream);
    void (*run_sums)(double *t1, double *t2, const void *dy, const void *gate, const void *x,
                     float mean, ptrdiff_t stride, ptrdiff_t nruns, ptrdiff_t len, int fetch);
    void (*run_dinp)(void *dinp, void *dres, const void *dy, const void *gate, const void *x,
                     ptrdiff_t stride, ptrdiff_t nruns, ptrdiff_t len, double mean,
                     double dy_mean, double xmu_scale, double scale, int stream, int fetch);

    // short runs: nch runs of len elements, contiguous (run j at x + j*len), a sample's block;
    // the reductions take nsamp such blocks, sstride apart, and give one result per channel j
    // (run j of every sample); short_apply reads one block, sstride before the next block it is
    // given, and fetches ahead in that order (past the tensor's end a prefetch, which never
    // faults); stream: non-temporal stores
    void (*short_stats)(double *sum, double *m2, const void *x, ptrdiff_t nch, ptrdiff_t len,
                        ptrdiff_t nsamp, ptrdiff_t sstride);
    void (*short_apply)(void *out, const void *x, const void *res, int relu, ptrdiff_t nch,
                        ptrdiff_t len, ptrdiff_t sstride, const float *mh, const float *sc,
                        const float *sh, int stream);
    void (*short_sums)(double *t1, double *t2, const void *dy, const void *gate,
                       const void *x, const float *mean, ptrdiff_t nch, ptrdiff_t len,
                       ptrdiff_t nsamp, ptrdiff_t sstride);
    void (*short_dinp)(void *dinp, void *dres, const void *dy, const void *gate,
                       const void *x, ptrdiff_t nch, ptrdiff_t len, const double *mean,
                       const double *dy_mean, const double *xmu_scale, const double *scale);

    void (*fwd_terms)(const bn_fwd_terms *t, ptrdiff_t n);
    void (*back_terms)(const bn_back_terms *t, ptrdiff_t n);
} bn_kernels;

// The table of the best instruction set this CPU supports, capped by the environment variable
// BNORM_ISA (generic, avx2, avx512; read once). Never NULL.
const bn_kernels *bn_kernels_get(void);
// The table of the same instruction set for the activation format of flags (BN_DATA_BF16,
// BN_DATA_F16 or neither; not both); for the 16-bit formats the instruction set also needs F16C,
// else the generic table of the format; AVX-512's bf16 table narrows with AVX512-BF16 where the
// CPU has it, unless BNORM_ISA is "avx512" (the same bits either way). Never NULL.
const bn_kernels *bn_kernels_for(unsigned int flags);

extern const bn_kernels bn_kernels_generic, bn_kernels_generic_bf16, bn_kernels_generic_f16;
#if defined(BN_X86_KERNELS) // set by CMakeLists.txt when it builds the x86 files
extern const bn_kernels bn_kernels_avx2, bn_kernels_avx2_bf16, bn_kernels_avx2_f16;
extern const bn_kernels bn_kernels_avx512, bn_kernels_avx512_bf16, bn_kernels_avx512_f16;
extern const bn_kernels bn_kernels_avx512_bf16hw; // bf16 narrowed by AVX512-BF16
#endif

#endif /* BN_KERNELS_H */
