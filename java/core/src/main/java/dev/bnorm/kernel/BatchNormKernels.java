package dev.bnorm.kernel;

import java.lang.foreign.MemorySegment;

/**
 * The Batch Normalization kernels: one contract, two implementations ({@link NativeKernels}, the
 * C library through the FFM bindings, and {@link JavaKernels}, plain Java with double
 * accumulation, the test oracle and the fallback where no native library exists).
 *
 * <p>Dimensions: N (batch), C (channels), S (spatial size, H*W or L); the MLP case is N = m,
 * C = k, S = 1 with {@link Layout#NC}. Per channel the reduction runs over M = N*S values. The
 * formulas, flags and aliasing rules are those of {@code native/include/bn.h} (PyTorch's
 * semantics): biased variance to normalize, unbiased variance into {@code runningVar},
 * {@code momentum} is the weight of the new batch.
 *
 * <p>Every method validates all its arguments before it writes anything (see {@code dev.bnorm.internal.Checks}):
 * an {@link IllegalArgumentException} names the argument with the expected and actual values,
 * an {@link IllegalStateException} names a closed segment, and nothing is written. Absent
 * optional buffers are {@code null}. Outputs are overwritten, never accumulated.
 * Float buffers are float32 in native byte order, 4-byte aligned, {@code byteSize() >= 4 * count};
 * the (N,C,S) activation buffers are of the dtype the flags name (DATA_BF16, DATA_F16: 2 bytes,
 * 2-byte aligned; neither: float32), the same for all of them in one call.
 *
 * <p>Fused forms (flags FUSE_RELU, FUSE_ADD): the ResNet block's {@code relu(bn(x) + identity)} and
 * {@code relu(bn(x))} in one pass over the data, forward and backward. Backward takes the ReLU's
 * gate from the forward's output {@code out} instead of a saved mask: ReLU does not round, so
 * out &gt; 0 exactly when z &gt; 0, and z &lt;= 0 (out = 0) has gradient 0; a NaN output passes
 * dout, as PyTorch's {@code threshold_backward(dout, out, 0)} does.
 */
public interface BatchNormKernels {

    /** {@code BN_USE_SCALE}: gamma is read; without it gamma = 1 and must be null. */
    int USE_SCALE = 0x1;
    /** {@code BN_USE_SHIFT}: beta is read; without it beta = 0 and must be null. */
    int USE_SHIFT = 0x2;
    /** {@code BN_UPDATE_RUNNING}: forward training updates runningMean/runningVar in place. */
    int UPDATE_RUNNING = 0x4;
    /** {@code BN_USE_GLOBAL_STATS}: backward treats mean/rstd as constants (inference mode). */
    int USE_GLOBAL_STATS = 0x8;

    /** Backward mask bit {@code BN_DIFF_INP}: compute dinp. */
    int DIFF_INP = 0x1;
    /** Backward mask bit {@code BN_DIFF_SCALE}: compute dgamma. */
    int DIFF_SCALE = 0x2;
    /** Backward mask bit {@code BN_DIFF_SHIFT}: compute dbeta. */
    int DIFF_SHIFT = 0x4;
    /** Backward mask bit {@code BN_DIFF_RES}: compute dres, the residual's gradient (only with FUSE_ADD). */
    int DIFF_RES = 0x8;

    /**
     * {@code BN_FUSE_RELU}: the forwards write out = z &gt; 0 ? z : 0 (NaN stays NaN; -0 gives +0), z
     * the normalized, scaled and shifted value (plus res with FUSE_ADD); backward first gates dout
     * with the forward's output: g = out &lt;= 0 ? 0 : dout (PyTorch's {@code threshold_backward}; a NaN
     * output passes dout).
     */
    int FUSE_RELU = 0x10;
    /**
     * {@code BN_FUSE_ADD}: the forwards add res (N,C,S) to the normalized value (rounded to float
     * first, then one float addition) before the activation; backward may return dres (DIFF_RES).
     */
    int FUSE_ADD = 0x20;

    /**
     * {@code BN_DATA_BF16}: every (N,C,S) activation buffer of the call (inp, res, out, dout, dinp,
     * dres) holds bfloat16 elements, 2 bytes each, 2-byte aligned; the per-channel buffers stay
     * float32. Without it and without DATA_F16 the activations are float32 ({@link DType#flags()}).
     * bn.h defines the result as the float32 call on the widened activations with each activation
     * output rounded once to bf16 (nearest, ties to even), and the per-channel outputs as the
     * float32 call's. {@link NativeKernels} computes exactly that; {@link JavaKernels} rounds each
     * activation output once from double instead, which is one ulp away where the float32 value
     * lies on a tie of the 16-bit format.
     */
    int DATA_BF16 = 0x40;
    /** {@code BN_DATA_F16}: as {@link #DATA_BF16} with IEEE binary16 activations; not together with DATA_BF16. */
    int DATA_F16 = 0x80;

    /** A short name for logs and reports: "native" or "java". */
    String name();

    /**
     * Forward in training mode (batch statistics); {@code bn_forward_training}.
     *
     * @param out         (N,C,S) output; may be the same segment as {@code inp} or {@code res}
     * @param saveMean    (C,) batch mean, written
     * @param saveRstd    (C,) 1/sqrt(biased batch variance + eps), written
     * @param runningMean (C,) updated when flags has UPDATE_RUNNING, else null
     * @param runningVar  (C,) updated (with the unbiased variance) when UPDATE_RUNNING, else null
     * @param inp         (N,C,S) input
     * @param res         (N,C,S) residual added before the activation with FUSE_ADD, else null
     * @param gamma       (C,) with USE_SCALE, else null
     * @param beta        (C,) with USE_SHIFT, else null
     * @param eps         finite, &gt; 0
     * @param momentum    in [0, 1], weight of the new batch (1/numBatchesTracked for a cumulative average)
     * @param flags       USE_SCALE | USE_SHIFT | UPDATE_RUNNING | FUSE_RELU | FUSE_ADD
     * @throws IllegalArgumentException also when M = N*S == 1 ("expected more than 1 value per channel when training")
     */
    void forwardTraining(MemorySegment out, MemorySegment saveMean, MemorySegment saveRstd,
                         MemorySegment runningMean, MemorySegment runningVar,
                         MemorySegment inp, MemorySegment res, MemorySegment gamma, MemorySegment beta,
                         double eps, double momentum, int flags,
                         Layout layout, long n, long c, long s);

    /** {@link #forwardTraining} without a residual (flags without FUSE_ADD). */
    default void forwardTraining(MemorySegment out, MemorySegment saveMean, MemorySegment saveRstd,
                                 MemorySegment runningMean, MemorySegment runningVar,
                                 MemorySegment inp, MemorySegment gamma, MemorySegment beta,
                                 double eps, double momentum, int flags,
                                 Layout layout, long n, long c, long s) {
        forwardTraining(out, saveMean, saveRstd, runningMean, runningVar, inp, null, gamma, beta, eps, momentum,
                flags, layout, n, c, s);
    }

    /**
     * Forward in inference mode with given statistics; {@code bn_forward_inference}.
     *
     * @param out   (N,C,S) output; may be the same segment as {@code inp} or {@code res}
     * @param res   (N,C,S) with FUSE_ADD, else null
     * @param mean  (C,) usually the running mean
     * @param var   (C,) a variance (not rstd), usually the running variance
     * @param flags USE_SCALE | USE_SHIFT | FUSE_RELU | FUSE_ADD
     */
    void forwardInference(MemorySegment out, MemorySegment inp, MemorySegment res, MemorySegment mean,
                          MemorySegment var, MemorySegment gamma, MemorySegment beta, double eps, int flags,
                          Layout layout, long n, long c, long s);

    /** {@link #forwardInference} without a residual (flags without FUSE_ADD). */
    default void forwardInference(MemorySegment out, MemorySegment inp, MemorySegment mean, MemorySegment var,
                                  MemorySegment gamma, MemorySegment beta, double eps, int flags,
                                  Layout layout, long n, long c, long s) {
        forwardInference(out, inp, null, mean, var, gamma, beta, eps, flags, layout, n, c, s);
    }

    /**
     * Backward; {@code bn_backward}. Outputs not in {@code mask} must be null. With FUSE_RELU every
     * use of dout below is of the gated g = out &lt;= 0 ? 0 : dout.
     *
     * @param dinp   (N,C,S) with DIFF_INP; may be the same segment as dout or inp
     * @param dres   (N,C,S) with DIFF_RES (needs FUSE_ADD): g; may be the same segment as dout
     * @param dgamma (C,) with DIFF_SCALE
     * @param dbeta  (C,) with DIFF_SHIFT
     * @param dout   (N,C,S)
     * @param out    (N,C,S) the forward's output with FUSE_RELU, else null
     * @param inp    (N,C,S); may be null only with USE_GLOBAL_STATS and without DIFF_SCALE
     * @param gamma  (C,) with USE_SCALE, else null
     * @param mean   (C,) save_mean of the forward (or the running mean with USE_GLOBAL_STATS)
     * @param rstd   (C,) save_rstd of the forward (or 1/sqrt(running_var + eps) with USE_GLOBAL_STATS)
     * @param flags  USE_SCALE | USE_GLOBAL_STATS | FUSE_RELU | FUSE_ADD
     * @param mask   non-empty subset of DIFF_INP | DIFF_SCALE | DIFF_SHIFT | DIFF_RES
     */
    void backward(MemorySegment dinp, MemorySegment dres, MemorySegment dgamma, MemorySegment dbeta,
                  MemorySegment dout, MemorySegment out, MemorySegment inp, MemorySegment gamma,
                  MemorySegment mean, MemorySegment rstd, int flags, int mask,
                  Layout layout, long n, long c, long s);

    /** {@link #backward} of an unfused forward (flags without FUSE_RELU and FUSE_ADD). */
    default void backward(MemorySegment dinp, MemorySegment dgamma, MemorySegment dbeta,
                          MemorySegment dout, MemorySegment inp, MemorySegment gamma,
                          MemorySegment mean, MemorySegment rstd, int flags, int mask,
                          Layout layout, long n, long c, long s) {
        backward(dinp, null, dgamma, dbeta, dout, null, inp, gamma, mean, rstd, flags, mask, layout, n, c, s);
    }
}
