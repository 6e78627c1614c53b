package dev.bnorm.kernel;

import java.lang.foreign.MemorySegment;

/**
 * Split-phase Batch Normalization: one batch spread over P parts (processes, threads, ghost
 * batches) normalized as one batch of M = M_0 + ... + M_{P-1} values per channel; the split
 * section of {@code native/include/bn.h}, with the same two implementations as
 * {@link BatchNormKernels} ({@link NativeSplitKernels}, {@link JavaSplitKernels}: the oracle).
 * <pre>
 *   forward   statsLocal on each part            (count, mean, M2) per channel, in double
 *             gather the P partials in part order, statsMerge on each part:
 *                                                mean, rstd of the whole batch (double), running statistics
 *             forwardApply on each part          out = gamma*(x - mean)*rstd + beta
 *   backward  backwardReduce on each part        (count, sum(dout), sum(dout*(x - mean))) per channel
 *             gather the P reductions in part order, backwardApply on each part:
 *                                                dinp = gamma*rstd*((dout - T1/M) - (x - mean)*rstd^2*T2/M),
 *                                                dgamma = rstd*T2, dbeta = T1 (totals of all parts)
 * </pre>
 * Every part merges the same partials in the same order, so every part gets the same bits. With
 * one part the forward is bit-identical to {@link BatchNormKernels#forwardTraining} (out, running
 * statistics; {@code (float) mean} is its saveMean), and backward agrees with
 * {@link BatchNormKernels#backward} within rounding: it uses mean and rstd in double, and is the
 * more accurate when |mean| is large against the standard deviation.
 *
 * <p>Statistics are doubles (8-byte aligned): a partial is (3, C) = [count | mean | M2] with
 * M2 = sum((x - mean)^2); P partials are (P, 3, C), part p from double index p*3*C. A part
 * with no values contributes zeros (the caller writes them). Counts must be whole numbers in
 * [0, 2^53]. Validation, aliasing and thread rules are those of {@link BatchNormKernels}, and so
 * are the activations' dtype flags (DATA_BF16, DATA_F16: every (N,C,S) buffer of a call; the
 * statistics stay doubles and gamma, beta, dgamma, dbeta, running statistics float32).
 */
public interface SplitKernels {

    /** A short name: "native" or "java". */
    String name();

    /**
     * {@code bn_stats_local}.
     *
     * @param stats (3, C) doubles, written
     * @param inp   (N,C,S) of the dtype {@code flags} names; M = N*S may be 1
     * @param flags 0 (float32), {@link BatchNormKernels#DATA_BF16} or {@link BatchNormKernels#DATA_F16}
     */
    void statsLocal(MemorySegment stats, MemorySegment inp, int flags, Layout layout, long n, long c, long s);

    /** {@link #statsLocal} of a float32 {@code inp}. */
    default void statsLocal(MemorySegment stats, MemorySegment inp, Layout layout, long n, long c, long s) {
        statsLocal(stats, inp, 0, layout, n, c, s);
    }

    /**
     * {@code bn_stats_merge}: Chan's merge of the partials in part order.
     *
     * @param mean        (C,) doubles, written: the mean of the whole batch
     * @param rstd        (C,) doubles, written: 1/sqrt(var + eps), var = M2/M biased
     * @param runningMean (C,) floats updated with UPDATE_RUNNING (f = momentum), else null
     * @param runningVar  (C,) floats updated with the unbiased variance var*M/(M-1), else null
     * @param stats       (P, 3, C) doubles; every channel must have M &gt; 1 in total
     * @param flags       UPDATE_RUNNING or 0
     */
    void statsMerge(MemorySegment mean, MemorySegment rstd, MemorySegment runningMean, MemorySegment runningVar,
                    MemorySegment stats, double eps, double momentum, int flags, long c, long parts);

    /**
     * {@code bn_forward_apply}: out = gamma*(x - mean)*rstd + beta, with the fused add and ReLU
     * of {@link BatchNormKernels#FUSE_ADD} and {@link BatchNormKernels#FUSE_RELU}.
     *
     * @param out   (N,C,S); may be the same segment as inp or res
     * @param res   (N,C,S) with FUSE_ADD, else null
     * @param mean  (C,) doubles
     * @param rstd  (C,) doubles
     * @param flags USE_SCALE | USE_SHIFT | FUSE_RELU | FUSE_ADD
     */
    void forwardApply(MemorySegment out, MemorySegment inp, MemorySegment res, MemorySegment mean,
                      MemorySegment rstd, MemorySegment gamma, MemorySegment beta, int flags,
                      Layout layout, long n, long c, long s);

    /** {@link #forwardApply} without a residual (flags without FUSE_ADD). */
    default void forwardApply(MemorySegment out, MemorySegment inp, MemorySegment mean, MemorySegment rstd,
                              MemorySegment gamma, MemorySegment beta, int flags, Layout layout, long n, long c,
                              long s) {
        forwardApply(out, inp, null, mean, rstd, gamma, beta, flags, layout, n, c, s);
    }

    /**
     * {@code bn_backward_reduce}. With FUSE_RELU, dout is first gated by the forward's output:
     * g = out &lt;= 0 ? 0 : dout (see {@link BatchNormKernels#FUSE_RELU}).
     *
     * @param sums  (3, C) doubles, written: [count = N*S | sum(g) | sum(g*(x - mean))]
     * @param out   (N,C,S) the forward's output with FUSE_RELU, else null
     * @param mean  (C,) doubles
     * @param flags FUSE_RELU or 0
     */
    void backwardReduce(MemorySegment sums, MemorySegment dout, MemorySegment out, MemorySegment inp,
                        MemorySegment mean, int flags, Layout layout, long n, long c, long s);

    /** {@link #backwardReduce} of an unfused forward. */
    default void backwardReduce(MemorySegment sums, MemorySegment dout, MemorySegment inp, MemorySegment mean,
                                Layout layout, long n, long c, long s) {
        backwardReduce(sums, dout, null, inp, mean, 0, layout, n, c, s);
    }

    /**
     * {@code bn_backward_apply}, with the totals of the P reductions added in part order; with
     * FUSE_RELU every use of dout is of the gated g (as in {@link #backwardReduce}).
     *
     * @param dinp   (N,C,S) with DIFF_INP, else null; may be the same segment as dout or inp
     * @param dres   (N,C,S) with DIFF_RES (needs FUSE_ADD): g, else null; may be the same segment as dout
     * @param dgamma (C,) with DIFF_SCALE: rstd*T2 of all parts, else null
     * @param dbeta  (C,) with DIFF_SHIFT: T1 of all parts, else null
     * @param out    (N,C,S) the forward's output with FUSE_RELU, else null
     * @param sums   (P, 3, C) doubles; every channel must have M &gt;= 1 in total
     * @param flags  USE_SCALE | FUSE_RELU | FUSE_ADD
     * @param mask   non-empty subset of DIFF_INP | DIFF_SCALE | DIFF_SHIFT | DIFF_RES
     */
    void backwardApply(MemorySegment dinp, MemorySegment dres, MemorySegment dgamma, MemorySegment dbeta,
                       MemorySegment dout, MemorySegment out, MemorySegment inp, MemorySegment gamma,
                       MemorySegment mean, MemorySegment rstd, MemorySegment sums, int flags, int mask,
                       Layout layout, long n, long c, long s, long parts);

    /** {@link #backwardApply} of an unfused forward. */
    default void backwardApply(MemorySegment dinp, MemorySegment dgamma, MemorySegment dbeta, MemorySegment dout,
                               MemorySegment inp, MemorySegment gamma, MemorySegment mean, MemorySegment rstd,
                               MemorySegment sums, int flags, int mask, Layout layout, long n, long c, long s,
                               long parts) {
        backwardApply(dinp, null, dgamma, dbeta, dout, null, inp, gamma, mean, rstd, sums, flags, mask, layout, n, c,
                s, parts);
    }

    /** The split kernels of the same implementation as {@code kernels} (native or Java). */
    static SplitKernels of(BatchNormKernels kernels) {
        return kernels instanceof NativeKernels ? NativeSplitKernels.get() : JavaSplitKernels.INSTANCE;
    }
}
