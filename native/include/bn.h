/*
 * bn.h - Batch Normalization kernels for float32, bfloat16 and float16 tensors (libbnorm).
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
 *   fused (BN_FUSE_RELU, BN_FUSE_ADD): out = relu(bn(x) + res), the ResNet block's tail; backward
 *               takes dout through the ReLU's gate first (see the flags).
 *
 * Conventions: outputs first, then inputs, then scalars, then dimensions. Every function returns
 * a bn_status and validates all of its arguments before it writes anything: on any status other
 * than BN_OK no output has been touched. Kernels OVERWRITE their outputs (they never accumulate).
 * Nothing is allocated, printed or aborted inside a kernel call, but once per process: the first
 * calls read the machine's cache sizes (sysfs files on Linux, GetLogicalProcessorInformation on
 * Windows), and the helper threads of large calls are started at the first such call (see
 * bn_set_num_threads). Buffers are float32, 4-byte aligned, except the (N,C,S) activation
 * buffers of a call with BN_DATA_BF16 or BN_DATA_F16 (16-bit elements, 2-byte aligned) and the
 * split phase's double buffers. Buffer shapes are given as (N, C, S) in the layout's order;
 * per-channel buffers are (C,).
 *
 * 16-bit activations (BN_DATA_BF16, BN_DATA_F16): a call computes exactly what the float32 call
 * computes on the widened inputs (widening is exact), and narrows each activation output once as
 * bn_convert does: out == bn_convert(float32 out of the widened inputs), bit for bit, and the
 * per-channel outputs (save_*, running_*, dgamma, dbeta, the split phase's statistics and sums)
 * are bit-identical to the float32 call's (a NaN result is NaN in both; where two NaNs meet, its
 * sign and payload are not specified). In place, dres == dout without BN_FUSE_RELU may be left
 * as it is (a signaling NaN of dout then stays signaling). Every sum stays in double.
 *
 * Aliasing: an output may be the very same buffer as an elementwise input of equal size
 * (out == inp or out == res for in-place forward; dinp == dout or dinp == inp, and dres == dout,
 * in backward). Any other overlap between an output and any buffer (dinp == dres included) is
 * rejected with BN_ERR_ALIAS.
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
    BN_ERR_MISALIGNED = 9,     /* a buffer is not aligned to its element size (float 4, 16-bit 2) */
    BN_ERR_ALIAS = 10,         /* an output overlaps another buffer in a way that is not allowed */
    BN_ERR_BAD_MASK = 11,      /* backward: empty mask or unknown mask bits */
    BN_ERR_BAD_DTYPE = 12      /* a dtype is not one of bn_dtype; or both BN_DATA_BF16 and _F16 */
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

/* BN_FUSE_RELU: bn_forward_training, bn_forward_inference: out = max(z, 0), z being the
 *   normalized, scaled and shifted value (plus res with BN_FUSE_ADD); NaN stays NaN, and
 *   max(-0, 0) = +0. bn_backward: dout first goes through the ReLU's gate, taken from the
 *   forward's output out (then required, else NULL): g = (out <= 0) ? 0 : dout, exactly
 *   PyTorch's threshold_backward(dout, out, 0) (a NaN out passes dout). out > 0 is the exact gate
 *   for a finite z because relu does not round: out = z when z > 0, else 0, so out > 0 <=> z > 0,
 *   and z == 0 gives 0 as in PyTorch. No workspace is kept between forward and backward. */
#define BN_FUSE_RELU 0x10u
/* BN_FUSE_ADD: forward: z = bn(x) + res with res (N,C,S) (then required, else NULL); out = z, or
 *   max(z, 0) with BN_FUSE_RELU. The add is one float addition of res to bn(x) rounded to float:
 *   out = relu(fl(fl(bn(x)) + res)), where fl(bn(x)) is the out of the unfused call.
 *   bn_backward: allows the mask bit BN_DIFF_RES. */
#define BN_FUSE_ADD 0x20u

/* BN_DATA_BF16, BN_DATA_F16: the element format of the (N,C,S) activation buffers (inp, res, out;
 *   dout, dinp, dres): bfloat16 or IEEE binary16 (bn_dtype, below) instead of float32. At most
 *   one of them (both: BN_ERR_BAD_DTYPE). Taken by bn_forward_training, bn_forward_inference,
 *   bn_backward, bn_stats_local, bn_forward_apply, bn_backward_reduce, bn_backward_apply. */
#define BN_DATA_BF16 0x40u
#define BN_DATA_F16 0x80u

/* Backward mask: which gradients to compute. Unrequested outputs must be NULL. */
#define BN_DIFF_INP 0x1u
#define BN_DIFF_SCALE 0x2u
#define BN_DIFF_SHIFT 0x4u
/* dres (N,C,S) = the gradient of res: dout through the ReLU's gate (dout without BN_FUSE_RELU);
 * only with the flag BN_FUSE_ADD (BN_ERR_BAD_MASK otherwise). */
#define BN_DIFF_RES 0x8u

/* Version of the library, "MAJOR.MINOR.PATCH[-QUALIFIER]", the same as the Maven project version.
 * Static storage; never NULL. */
BN_API const char *bn_version(void);

/* A static English sentence describing a status; unknown values give "unknown bn_status". */
BN_API const char *bn_strerror(int status);

/* Forward, training mode (batch statistics).
 * out: (N,C,S) in layout; may be the same buffer as inp or as res.
 * save_mean, save_rstd: (C,), the batch mean and 1/sqrt(biased var + eps), for bn_backward.
 * running_mean, running_var: (C,), updated in place when BN_UPDATE_RUNNING, else NULL.
 * inp: (N,C,S). res: (N,C,S) with BN_FUSE_ADD, else NULL. gamma, beta: (C,) or NULL (see flags).
 * Flags: BN_USE_SCALE, BN_USE_SHIFT, BN_UPDATE_RUNNING, BN_FUSE_RELU, BN_FUSE_ADD, BN_DATA_BF16,
 * BN_DATA_F16.
 * eps > 0 and finite; momentum in [0, 1] (read only with BN_UPDATE_RUNNING).
 * Requires M = N*S > 1 (BN_ERR_SINGLE_VALUE otherwise).
 * NaN or Inf in a channel propagate to that channel's outputs and statistics only. */
BN_API bn_status bn_forward_training(void *out, float *save_mean, float *save_rstd,
                                     float *running_mean, float *running_var,
                                     const void *inp, const void *res, const float *gamma,
                                     const float *beta, double eps, double momentum,
                                     unsigned int flags, int layout, int64_t N, int64_t C,
                                     int64_t S);

/* Forward, inference mode: normalizes with the given statistics (usually running_mean and
 * running_var). out: (N,C,S), may be the same buffer as inp or as res. res: (N,C,S) with
 * BN_FUSE_ADD, else NULL. mean, var: (C,); var is a variance, not rstd.
 * Flags: BN_USE_SCALE, BN_USE_SHIFT, BN_FUSE_RELU, BN_FUSE_ADD, BN_DATA_BF16, BN_DATA_F16.
 * M = 1 is allowed. */
BN_API bn_status bn_forward_inference(void *out, const void *inp, const void *res,
                                      const float *mean, const float *var, const float *gamma,
                                      const float *beta, double eps, unsigned int flags,
                                      int layout, int64_t N, int64_t C, int64_t S);

/* Backward. dinp: (N,C,S) (may be the same buffer as dout or inp); dres: (N,C,S) (may be the same
 * buffer as dout); dgamma, dbeta: (C,). Each is written when its bit is in mask (BN_DIFF_INP,
 * BN_DIFF_RES, BN_DIFF_SCALE, BN_DIFF_SHIFT) and must be NULL otherwise. dout, inp: (N,C,S).
 * out: (N,C,S), the forward's output, with BN_FUSE_RELU, else NULL. gamma: (C,) with
 * BN_USE_SCALE, else NULL. With BN_FUSE_RELU every formula above reads the gated dout (see the
 * flag). mean, rstd: (C,); save_mean/save_rstd of the forward, or with BN_USE_GLOBAL_STATS the
 * running mean and 1/sqrt(running_var + eps). inp is read only when dgamma is wanted or without
 * BN_USE_GLOBAL_STATS; it must be non-NULL whenever it is read.
 * Flags: BN_USE_SCALE, BN_USE_GLOBAL_STATS, BN_FUSE_RELU, BN_FUSE_ADD, BN_DATA_BF16,
 * BN_DATA_F16. */
BN_API bn_status bn_backward(void *dinp, void *dres, float *dgamma, float *dbeta,
                             const void *dout, const void *out, const void *inp,
                             const float *gamma, const float *mean, const float *rstd,
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
 * out == inp or res, dinp == dout or inp, and dres == dout, is BN_ERR_ALIAS); BN_ERR_MISALIGNED
 * also when a double buffer is not 8-byte aligned. The fusions split too: bn_forward_apply takes
 * BN_FUSE_RELU and BN_FUSE_ADD as bn_forward_training does, and with BN_FUSE_RELU the backward
 * steps read the gated dout (steps 4 and 5 take the forward's out), as bn_backward does.
 */

/* stats: (3, C), written. inp: (N,C,S). M = N*S may be 1. Flags: BN_DATA_BF16, BN_DATA_F16. */
BN_API bn_status bn_stats_local(double *stats, const void *inp, unsigned int flags,
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

/* out = gamma*(x - mean)*rstd + beta (with BN_FUSE_ADD plus res, with BN_FUSE_RELU then the
 * ReLU), as bn_forward_training computes it. out: (N,C,S), may be the same buffer as inp or res.
 * res: (N,C,S) with BN_FUSE_ADD, else NULL. mean, rstd: (C,) double (bn_stats_merge).
 * gamma, beta: (C,) or NULL. Flags: BN_USE_SCALE, BN_USE_SHIFT, BN_FUSE_RELU, BN_FUSE_ADD,
 * BN_DATA_BF16, BN_DATA_F16. */
BN_API bn_status bn_forward_apply(void *out, const void *inp, const void *res,
                                  const double *mean, const double *rstd, const float *gamma,
                                  const float *beta, unsigned int flags, int layout, int64_t N,
                                  int64_t C, int64_t S);

/* sums: (3, C), written: [count = N*S | sum(dout) | sum(dout*(x - mean))] per channel, dout
 * gated with BN_FUSE_RELU. dout, inp: (N,C,S). out: (N,C,S), the forward's output, with
 * BN_FUSE_RELU, else NULL. mean: (C,) double. Flags: BN_FUSE_RELU, BN_DATA_BF16, BN_DATA_F16. */
BN_API bn_status bn_backward_reduce(double *sums, const void *dout, const void *out,
                                    const void *inp, const double *mean, unsigned int flags,
                                    int layout, int64_t N, int64_t C, int64_t S);

/* With M, T1 = sum(dout), T2 = sum(dout*(x - mean)) the totals of the P reductions in sums
 * (P, 3, C), added in order p = 0, 1, ..., P-1:
 *   dinp   = gamma*rstd*((dout - T1/M) - (x - mean)*rstd*rstd*T2/M)   // BN_DIFF_INP
 *   dgamma = rstd*T2                                                   // BN_DIFF_SCALE
 *   dbeta  = T1                                                        // BN_DIFF_SHIFT
 *   dres   = dout                                                      // BN_DIFF_RES
 * with dout gated by the forward's out with BN_FUSE_RELU (as bn_backward). Each output is
 * written when its bit is in mask and must be NULL otherwise. dinp: (N,C,S), may be the same
 * buffer as dout or inp. dres: (N,C,S), may be the same buffer as dout; BN_DIFF_RES needs
 * BN_FUSE_ADD. dout, inp: (N,C,S). out: (N,C,S) with BN_FUSE_RELU, else NULL. gamma: (C,) with
 * BN_USE_SCALE, else NULL. mean, rstd: (C,) double. Flags: BN_USE_SCALE, BN_FUSE_RELU,
 * BN_FUSE_ADD, BN_DATA_BF16, BN_DATA_F16. Requires M >= 1 in every channel (BN_ERR_SINGLE_VALUE). */
BN_API bn_status bn_backward_apply(void *dinp, void *dres, float *dgamma, float *dbeta,
                                   const void *dout, const void *out, const void *inp,
                                   const float *gamma, const double *mean, const double *rstd,
                                   const double *sums, unsigned int flags, unsigned int mask,
                                   int layout, int64_t N, int64_t C, int64_t S, int64_t P);

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

/* ---------------------------------------------------------------------------------------------
 * 16-bit activations: the element formats, and conversions between them.
 *   BN_BF16: bfloat16, the top 16 bits of a float32 (8 exponent bits, 7 mantissa bits).
 *   BN_F16:  IEEE 754 binary16 (5 exponent bits, 10 mantissa bits; max 65504; subnormals).
 * Widening to float32 is exact. Narrowing rounds to nearest, ties to even, once; a value too
 * large for the format becomes an infinity of its sign (f16 from |x| >= 65520); subnormals are
 * produced and read exactly (no flush to zero). NaN stays NaN: narrowing keeps the sign and the
 * high payload bits and sets the quiet bit; bf16 widening keeps the payload exactly, f16
 * widening sets the quiet bit. The bits are the same on every instruction set (AVX512-BF16,
 * AVX-512F / F16C conversions where the CPU has them, portable C elsewhere; BNORM_ISA as for
 * the kernels) and do not depend on the floating-point environment.
 * ------------------------------------------------------------------------------------------- */

/* The element format of an activation buffer. */
typedef enum bn_dtype {
    BN_F32 = 0,   /* float32, 4 bytes */
    BN_BF16 = 1,  /* bfloat16, 2 bytes */
    BN_F16 = 2    /* IEEE binary16, 2 bytes */
} bn_dtype;

/* Converts n elements: dst[i] = src[i] rounded to dst_dtype (a copy when the dtypes are equal;
 * bf16 <-> f16 is widened exactly, then narrowed once). dst, src: n elements of their dtype,
 * aligned to its size; they must not overlap (BN_ERR_ALIAS). n >= 0 (0 writes nothing). Runs on
 * the calling thread. Statuses: BN_ERR_NULL_POINTER, BN_ERR_BAD_DTYPE, BN_ERR_BAD_DIMENSION
 * (n < 0), BN_ERR_OVERFLOW, BN_ERR_MISALIGNED, BN_ERR_ALIAS, in this order of checking. */
BN_API bn_status bn_convert(void *dst, int dst_dtype, const void *src, int src_dtype, int64_t n);

/* ---------------------------------------------------------------------------------------------
 * Convolution as matrix products: the data movement around bn_linear_forward/backward for a 2-d
 * convolution (PyTorch's Conv2d, dilation 1, no groups), float32:
 *   forward:   cols (M, K) = im2col(inp),  rows (M, Cout) = cols . weight^T + bias
 *   backward:  dcols (M, K) = drows . weight,  dinp = col2im(dcols),  dweight = drows^T . cols
 * Dimensions: N samples of C channels and H x W pixels (layout BN_LAYOUT_NCHW or BN_LAYOUT_NHWC);
 * KH x KW taps, stride_h, stride_w >= 1, zero padding pad_h, pad_w >= 0 on each side;
 *   HO = (H + 2*pad_h - KH)/stride_h + 1, WO = (W + 2*pad_w - KW)/stride_w + 1 (KH <= H + 2*pad_h,
 *   KW <= W + 2*pad_w), P = HO*WO output pixels per sample, K = C*KH*KW taps per output pixel.
 * The functions take the samples n0 .. n0+count-1 of the N (0 <= n0, count >= 1, n0+count <= N):
 * inp and dinp point to all N samples, cols and dcols to the count*P rows of these samples only.
 * Row (n-n0)*P + y*WO + x of cols holds output pixel (y, x) of sample n; its K taps are ordered
 * (c, i, j) for NCHW, the order of PyTorch's weight (Cout, C, KH, KW), and (i, j, c) for NHWC
 * (the weight permuted to (Cout, KH, KW, C)). Tap (c, i, j) of pixel (y, x) is the input at row
 * y*stride_h - pad_h + i, column x*stride_w - pad_w + j, or 0 outside the image.
 * Statuses, in this order of checking: BN_ERR_NULL_POINTER, BN_ERR_BAD_LAYOUT, BN_ERR_BAD_DIMENSION
 * (a size, stride, count < 1, a padding or n0 < 0, a kernel larger than the padded image,
 * n0+count > N), BN_ERR_OVERFLOW (N*C*H*W, count*P*K or any dimension as floats does not fit in
 * int64_t, size_t and ptrdiff_t bytes), BN_ERR_MISALIGNED, BN_ERR_ALIAS (the output overlaps the
 * part of the input it reads). Nothing is written unless all pass. A call copies and adds in a
 * fixed order on the calling thread: results are bit-identical for any thread count.
 * ------------------------------------------------------------------------------------------- */

/* cols (count*P, K) = im2col of samples n0 .. n0+count-1 of inp (N, C, H, W) or (N, H, W, C). */
BN_API bn_status bn_im2col(float *cols, const float *inp, int layout, int64_t N, int64_t C,
                           int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride_h,
                           int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t n0,
                           int64_t count);

/* The adjoint of bn_im2col: samples n0 .. n0+count-1 of dinp are OVERWRITTEN with, at each input
 * pixel and channel, the sum of the dcols (count*P, K) entries that im2col copied from there
 * (0 where none), added in increasing row order of dcols. The other samples are not touched. */
BN_API bn_status bn_col2im(float *dinp, const float *dcols, int layout, int64_t N, int64_t C,
                           int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride_h,
                           int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t n0,
                           int64_t count);

/* out[n][c][r] = inp[n][r][c] (+ bias[c]): N matrices (R, C) transposed, e.g. (N, P, Cout) rows
 * of bn_linear_forward into an NCHW output (N, Cout, P), or an NCHW gradient (N, Cout, P) into
 * rows (N, P, Cout) with R = Cout, C = P. bias: (C,), or NULL for none (then no addition at all,
 * -0 stays -0). out: (N, C, R), must not overlap inp or bias. Statuses as above (no layout). */
BN_API bn_status bn_transpose(float *out, const float *inp, const float *bias, int64_t N,
                              int64_t R, int64_t C);

#ifdef __cplusplus
}
#endif

#endif /* BN_H */
