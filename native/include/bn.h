/*
 * bn.h - Batch Normalization kernels for float32 tensors (libbnorm).
 *
 * Dimensions: N (batch), C (channels / features), S (spatial size H*W, or L).
 *   The MLP case, an m x k activation matrix, is N = m, C = k, S = 1 (layout BN_LAYOUT_NC).
 * Per channel c the reduction runs over the M = N*S values of that channel.
 *
 * Semantics are those of PyTorch's torch.nn.BatchNorm1d/2d:
 *   training:   mean = sum(x)/M, var = sum((x-mean)^2)/M        (BIASED, used to normalize)
 *               rstd = 1/sqrt(var + eps)
 *               out  = gamma*(x - mean)*rstd + beta
 *               running_mean = (1-f)*running_mean + f*mean
 *               running_var  = (1-f)*running_var  + f*var*M/(M-1)   (UNBIASED, only for running_var)
 *               f is PyTorch's momentum: the weight of the NEW batch (default 0.1). For
 *               momentum=None (cumulative average) the caller passes f = 1/num_batches_tracked.
 *   inference:  out = gamma*(x - mean)*rstd + beta with mean/var given (running statistics).
 *   backward:   xhat = (x - mean)*rstd
 *               dbeta  = sum(dout)
 *               dgamma = sum(dout*xhat)
 *               dinp   = gamma*rstd*(dout - dbeta/M - xhat*dgamma/M)     (batch statistics)
 *               dinp   = gamma*rstd*dout                                  (BN_USE_GLOBAL_STATS)
 *
 * Conventions: outputs first, then inputs, then scalars, then dimensions. Every function returns
 * a bn_status and validates all of its arguments before it writes anything: on any status other
 * than BN_OK no output has been touched. Kernels OVERWRITE their outputs (they never accumulate).
 * Nothing is allocated, printed or aborted inside a kernel call (the helper threads of large
 * calls are started once, at the first such call; see bn_set_num_threads). Buffers are float32,
 * 4-byte aligned. Buffer shapes are given as (N, C, S) in the layout's order; per-channel buffers are (C,).
 *
 * Aliasing: an output may be the very same buffer as an elementwise input of equal size
 * (out == inp for in-place forward; dinp == dout or dinp == inp in backward). Any other overlap
 * between an output and any buffer is rejected with BN_ERR_ALIAS.
 */
#ifndef BN_H
#define BN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  if defined(BN_BUILDING_LIBRARY)
#    define BN_API __declspec(dllexport)
#  else
#    define BN_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define BN_API __attribute__((visibility("default")))
#else
#  define BN_API
#endif

typedef enum bn_status {
    BN_OK = 0,
    BN_ERR_NULL_POINTER = 1,   /* a required buffer is NULL */
    BN_ERR_BAD_DIMENSION = 2,  /* N, C or S < 1, or S != 1 for BN_LAYOUT_NC */
    BN_ERR_OVERFLOW = 3,       /* N*C*S (or its size in bytes) does not fit in the address space */
    BN_ERR_BAD_LAYOUT = 4,     /* layout is not one of bn_layout */
    BN_ERR_BAD_FLAGS = 5,      /* unknown flag bits, or a flag that this function does not take */
    BN_ERR_BAD_EPS = 6,        /* eps is not a finite number > 0 */
    BN_ERR_BAD_MOMENTUM = 7,   /* momentum is not in [0, 1] */
    BN_ERR_SINGLE_VALUE = 8,   /* training with M = N*S == 1 value per channel */
    BN_ERR_MISALIGNED = 9,     /* a float buffer is not 4-byte aligned */
    BN_ERR_ALIAS = 10,         /* an output overlaps another buffer in a way that is not allowed */
    BN_ERR_BAD_MASK = 11       /* backward: empty mask or unknown mask bits */
} bn_status;

typedef enum bn_layout {
    BN_LAYOUT_NC = 0,    /* (N, C), row-major; S must be 1 */
    BN_LAYOUT_NCHW = 1,  /* (N, C, S): channel c of sample n is contiguous (also NCL) */
    BN_LAYOUT_NHWC = 2   /* (N, S, C): channels last */
} bn_layout;

/* Flags (a bit-set). */
/* BN_USE_SCALE: if set, gamma (C,) is read; if not set, gamma = 1 and the gamma argument must be
 *   NULL. Backward: also selects gamma in dinp. */
#define BN_USE_SCALE 0x1u
/* BN_USE_SHIFT: forward only. If set, beta (C,) is read; if not set, beta = 0 and beta must be NULL. */
#define BN_USE_SHIFT 0x2u
/* BN_UPDATE_RUNNING: bn_forward_training only. If set, running_mean and running_var (C,) are read
 *   and updated in place with factor momentum; if not set, both must be NULL and momentum is ignored. */
#define BN_UPDATE_RUNNING 0x4u
/* BN_USE_GLOBAL_STATS: bn_backward only. If set, mean and rstd are constants (inference-mode
 *   backward: dinp = gamma*rstd*dout); if not set, they are the batch statistics saved by
 *   bn_forward_training and the full batch-norm gradient is computed. */
#define BN_USE_GLOBAL_STATS 0x8u

/* Backward mask: which gradients to compute. Unrequested outputs must be NULL. */
#define BN_DIFF_INP 0x1u
#define BN_DIFF_SCALE 0x2u
#define BN_DIFF_SHIFT 0x4u

/* Version of the library, "MAJOR.MINOR.PATCH[-QUALIFIER]", the same as the Maven project version.
 * Static storage; never NULL. */
BN_API const char *bn_version(void);

/* A static English sentence describing a status; unknown values give "unknown bn_status". */
BN_API const char *bn_strerror(int status);

/* Forward, training mode (batch statistics).
 * out: (N,C,S) in layout; may be the same buffer as inp.
 * save_mean, save_rstd: (C,), the batch mean and 1/sqrt(biased var + eps), for bn_backward.
 * running_mean, running_var: (C,), updated in place when BN_UPDATE_RUNNING, else NULL.
 * inp: (N,C,S). gamma, beta: (C,) or NULL (see flags).
 * eps > 0 and finite; momentum in [0, 1] (read only with BN_UPDATE_RUNNING).
 * Requires M = N*S > 1 (BN_ERR_SINGLE_VALUE otherwise).
 * NaN or Inf in a channel propagate to that channel's outputs and statistics only. */
BN_API bn_status bn_forward_training(float *out, float *save_mean, float *save_rstd,
                                     float *running_mean, float *running_var,
                                     const float *inp, const float *gamma, const float *beta,
                                     double eps, double momentum, unsigned int flags,
                                     int layout, int64_t N, int64_t C, int64_t S);

/* Forward, inference mode: normalizes with the given statistics (usually running_mean and
 * running_var). out: (N,C,S), may be the same buffer as inp. mean, var: (C,); var is a variance,
 * not rstd. Flags: BN_USE_SCALE, BN_USE_SHIFT. M = 1 is allowed. */
BN_API bn_status bn_forward_inference(float *out, const float *inp, const float *mean,
                                      const float *var, const float *gamma, const float *beta,
                                      double eps, unsigned int flags,
                                      int layout, int64_t N, int64_t C, int64_t S);

/* Backward. dinp: (N,C,S) (may be the same buffer as dout or inp); dgamma, dbeta: (C,).
 * Each is written when its bit is in mask (BN_DIFF_INP, BN_DIFF_SCALE, BN_DIFF_SHIFT) and must be
 * NULL otherwise. dout, inp: (N,C,S). gamma: (C,) with BN_USE_SCALE, else NULL.
 * mean, rstd: (C,); save_mean/save_rstd of the forward, or with BN_USE_GLOBAL_STATS the running
 * mean and 1/sqrt(running_var + eps). inp is read only when dgamma is wanted or without
 * BN_USE_GLOBAL_STATS; it must be non-NULL whenever it is read.
 * Flags: BN_USE_SCALE, BN_USE_GLOBAL_STATS. */
BN_API bn_status bn_backward(float *dinp, float *dgamma, float *dbeta,
                             const float *dout, const float *inp, const float *gamma,
                             const float *mean, const float *rstd,
                             unsigned int flags, unsigned int mask,
                             int layout, int64_t N, int64_t C, int64_t S);

/* Threads. Large calls are spread over up to this many threads (the calling thread included);
 * small ones always run on the calling thread alone. Results are bit-identical whatever the
 * number: every reduction is cut and combined in an order fixed by the shape. The default is
 * the environment variable BNORM_NUM_THREADS if it is a number >= 1, else the number of online
 * CPUs. num_threads >= 1 sets the number (at most 64); num_threads <= 0 restores the default.
 * Returns the number now in effect. Process-wide; may be called at any time from any thread.
 * Builds without threads (a compiler without C11 atomics) always use 1 and return 1. */
BN_API int bn_set_num_threads(int num_threads);

/* The number of threads that large calls may use (see bn_set_num_threads). */
BN_API int bn_get_num_threads(void);

/* ---------------------------------------------------------------------------------------------
 * Split phase: one batch spread over P parts (processes, threads, ghost batches), normalized as
 * one batch of M = M_0 + ... + M_{P-1} values per channel, with the statistics combined in a
 * fixed order so that every part gets bit-identical results:
 *   forward   1. bn_stats_local on each part: per channel (count, mean, M2) in double
 *             2. gather the P partials in part order (every part the same), bn_stats_merge:
 *                mean and rstd of the whole batch in double, running statistics updated
 *             3. bn_forward_apply on each part: out = gamma*(x - mean)*rstd + beta
 *   backward  4. bn_backward_reduce on each part: per channel (count, sum(dout),
 *                sum(dout*(x - mean))) in double
 *             5. gather the P reductions in part order, bn_backward_apply on each part:
 *                dinp = gamma*rstd*(dout - sum(dout)/M - xhat*sum(dout*xhat)/M) with the sums
 *                of all parts; dgamma, dbeta of all parts
 * The mean stays in double from step 2 on. With P = 1, steps 1-3 give bit-identically the out,
 * running_mean and running_var of bn_forward_training (and float(mean), float(rstd) are its
 * save_mean, save_rstd); backward agrees with bn_backward within rounding (it uses the mean and
 * rstd in double rather than rounded to float, and is the more accurate when |mean| >> std).
 *
 * Statistics buffers are double, 8-byte aligned: a partial is (3, C) = [count (C) | mean (C) |
 * M2 (C)], M2 = sum((x - mean)^2); P partials are (P, 3, C), part p at p*3*C. A part with no
 * values contributes (0, 0, 0) (the caller writes it; the functions need N, S >= 1). Counts
 * must be whole numbers in [0, 2^53] (BN_ERR_BAD_DIMENSION otherwise). The statuses and
 * aliasing rules are those above (any overlap of an output with another buffer, except
 * out == inp and dinp == dout or dinp == inp, is BN_ERR_ALIAS); BN_ERR_MISALIGNED also when a
 * double buffer is not 8-byte aligned.
 */

/* stats: (3, C), written. inp: (N,C,S). M = N*S may be 1. */
BN_API bn_status bn_stats_local(double *stats, const float *inp,
                                int layout, int64_t N, int64_t C, int64_t S);

/* Chan's merge of P partials, in order p = 0, 1, ..., P-1, per channel:
 *   M = sum(count), mean, M2 of the union, var = M2/M (BIASED), rstd = 1/sqrt(var + eps)
 *   running_mean = (1-f)*running_mean + f*mean, running_var = (1-f)*running_var + f*var*M/(M-1)
 * mean, rstd: (C,) double, written. running_mean, running_var: (C,) float, updated in place with
 * BN_UPDATE_RUNNING (f = momentum, as in bn_forward_training), else NULL. stats: (P, 3, C).
 * Flags: BN_UPDATE_RUNNING. Requires M > 1 in every channel (BN_ERR_SINGLE_VALUE). */
BN_API bn_status bn_stats_merge(double *mean, double *rstd, float *running_mean,
                                float *running_var, const double *stats, double eps,
                                double momentum, unsigned int flags, int64_t C, int64_t P);

/* out = gamma*(x - mean)*rstd + beta, as bn_forward_training computes it. out: (N,C,S), may be
 * the same buffer as inp. mean, rstd: (C,) double (bn_stats_merge). gamma, beta: (C,) or NULL.
 * Flags: BN_USE_SCALE, BN_USE_SHIFT. */
BN_API bn_status bn_forward_apply(float *out, const float *inp, const double *mean,
                                  const double *rstd, const float *gamma, const float *beta,
                                  unsigned int flags, int layout, int64_t N, int64_t C, int64_t S);

/* sums: (3, C), written: [count = N*S | sum(dout) | sum(dout*(x - mean))] per channel.
 * dout, inp: (N,C,S). mean: (C,) double. */
BN_API bn_status bn_backward_reduce(double *sums, const float *dout, const float *inp,
                                    const double *mean, int layout, int64_t N, int64_t C,
                                    int64_t S);

/* With M, T1 = sum(dout), T2 = sum(dout*(x - mean)) the totals of the P reductions in sums
 * (P, 3, C), added in order p = 0, 1, ..., P-1:
 *   dinp   = gamma*rstd*((dout - T1/M) - (x - mean)*rstd*rstd*T2/M)   // BN_DIFF_INP
 *   dgamma = rstd*T2                                                   // BN_DIFF_SCALE
 *   dbeta  = T1                                                        // BN_DIFF_SHIFT
 * Each output is written when its bit is in mask and must be NULL otherwise. dinp: (N,C,S), may
 * be the same buffer as dout or inp. dout, inp: (N,C,S). gamma: (C,) with BN_USE_SCALE, else
 * NULL. mean, rstd: (C,) double. Flags: BN_USE_SCALE. Requires M >= 1 in every channel
 * (BN_ERR_SINGLE_VALUE). */
BN_API bn_status bn_backward_apply(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                   const float *inp, const float *gamma, const double *mean,
                                   const double *rstd, const double *sums, unsigned int flags,
                                   unsigned int mask, int layout, int64_t N, int64_t C, int64_t S,
                                   int64_t P);

/* ---------------------------------------------------------------------------------------------
 * Linear (fully connected) layer, PyTorch's torch.nn.Linear, float32, row-major:
 *   forward:   out (N, O) = act(inp (N, I) . weight (O, I)^T + bias (O,))
 *   backward:  dinp (N, I) = dout (N, O) . weight (O, I)
 *              dweight (O, I) = dout^T . inp,   dbias (O,) = sum over n of dout
 * weight row o holds the I weights of output o (PyTorch's layout). Every output element is a sum
 * over the reduction index (I for out, O for dinp, N for dweight and dbias) taken in increasing
 * order of that index, in float, one rounding per multiply-add on CPUs with FMA, with partial sums
 * grouped by a pattern fixed by the shape and the instruction set: results are bit-identical for
 * any thread count (a reduction is never split between threads). Aliasing: no output may overlap
 * any other buffer (BN_ERR_ALIAS). The statuses, conventions and threads are those above; large
 * calls use the thread team of bn_set_num_threads.
 * ------------------------------------------------------------------------------------------- */

/* The activation fused into bn_linear_forward, applied to inp . weight^T + bias. */
typedef enum bn_activation {
    BN_ACT_NONE = 0,
    BN_ACT_RELU = 1,    /* max(x, 0); NaN stays NaN */
    BN_ACT_SIGMOID = 2  /* 1/(1 + exp(-x)), computed in double and rounded once */
} bn_activation;

/* BN_LINEAR_ACCUMULATE: bn_linear_backward only. If set, dweight and dbias are ADDED to: each
 *   element's sum starts from its old value and adds the products in order (what a training step
 *   that accumulates gradients wants); if not set they are overwritten. dinp is always overwritten. */
#define BN_LINEAR_ACCUMULATE 0x1u

/* Forward. out: (N, O). inp: (N, I). weight: (O, I). bias: (O,) or NULL (no bias).
 * activation: one of bn_activation (BN_ERR_BAD_FLAGS otherwise). N, I, O >= 1. */
BN_API bn_status bn_linear_forward(float *out, const float *inp, const float *weight,
                                   const float *bias, int activation,
                                   int64_t N, int64_t I, int64_t O);

/* The same forward with the weight given transposed, weight_t (I, O): row k holds the weights of
 * input k for every output, the layout a model that is only evaluated can store once. Each output
 * element is the sum over k in increasing order, one rounding per multiply-add with FMA, with no
 * grouping in lanes, so a row's result never depends on the other rows of the batch (nor, as for
 * every function here, on the thread count). Results may differ from bn_linear_forward's in the
 * last bits (another summation grouping). Statuses and arguments as bn_linear_forward. */
BN_API bn_status bn_linear_forward_t(float *out, const float *inp, const float *weight_t,
                                     const float *bias, int activation,
                                     int64_t N, int64_t I, int64_t O);

/* Backward of out = inp . weight^T + bias (no activation: apply its derivative to dout first).
 * dinp: (N, I), dweight: (O, I), dbias: (O,); each may be NULL (not computed), but not all three
 * (BN_ERR_NULL_POINTER). dout: (N, O). inp: (N, I), read only for dweight (else may be NULL).
 * weight: (O, I), read only for dinp (else may be NULL). flags: 0 or BN_LINEAR_ACCUMULATE. */
BN_API bn_status bn_linear_backward(float *dinp, float *dweight, float *dbias,
                                    const float *dout, const float *inp, const float *weight,
                                    unsigned int flags, int64_t N, int64_t I, int64_t O);

#ifdef __cplusplus
}
#endif

#endif /* BN_H */
