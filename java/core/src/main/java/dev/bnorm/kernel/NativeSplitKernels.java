package dev.bnorm.kernel;

import dev.bnorm.ffi.NativeLibrary;
import dev.bnorm.ffi.bn_h;
import java.lang.foreign.MemorySegment;

/**
 * The split-phase C kernels of libbnorm through the FFM bindings. As {@link NativeKernels}: every
 * call is first validated by {@link Checks} (native segments required), and a non-OK status
 * becomes an {@link IllegalArgumentException} with {@code bn_strerror}'s text. Threads: the
 * library's ({@link NativeKernels#setNumThreads}); results do not depend on their number.
 */
public final class NativeSplitKernels implements SplitKernels {

    private static final NativeSplitKernels INSTANCE = new NativeSplitKernels();

    private NativeSplitKernels() {}

    /**
     * The native split kernels, loading the library if needed.
     *
     * @throws dev.bnorm.ffi.NativeLibraryException if no usable library can be loaded
     */
    public static NativeSplitKernels get() {
        NativeKernels.get();
        return INSTANCE;
    }

    @Override
    public String name() {
        return "native";
    }

    @Override
    public void statsLocal(MemorySegment stats, MemorySegment inp, Layout layout, long n, long c, long s) {
        Checks.checkStatsLocal(stats, inp, layout, n, c, s, true);
        status("bn_stats_local", bn_h.bn_stats_local(stats, inp, layout.code, n, c, s));
    }

    @Override
    public void statsMerge(MemorySegment mean, MemorySegment rstd, MemorySegment runningMean, MemorySegment runningVar,
                           MemorySegment stats, double eps, double momentum, int flags, long c, long parts) {
        Checks.checkStatsMerge(mean, rstd, runningMean, runningVar, stats, eps, momentum, flags, c, parts, true);
        status("bn_stats_merge", bn_h.bn_stats_merge(mean, rstd, p(runningMean), p(runningVar), stats, eps,
                momentum, flags, c, parts));
    }

    @Override
    public void forwardApply(MemorySegment out, MemorySegment inp, MemorySegment mean, MemorySegment rstd,
                             MemorySegment gamma, MemorySegment beta, int flags, Layout layout, long n, long c, long s) {
        Checks.checkForwardApply(out, inp, mean, rstd, gamma, beta, flags, layout, n, c, s, true);
        status("bn_forward_apply", bn_h.bn_forward_apply(out, inp, mean, rstd, p(gamma), p(beta), flags,
                layout.code, n, c, s));
    }

    @Override
    public void backwardReduce(MemorySegment sums, MemorySegment dout, MemorySegment inp, MemorySegment mean,
                               Layout layout, long n, long c, long s) {
        Checks.checkBackwardReduce(sums, dout, inp, mean, layout, n, c, s, true);
        status("bn_backward_reduce", bn_h.bn_backward_reduce(sums, dout, inp, mean, layout.code, n, c, s));
    }

    @Override
    public void backwardApply(MemorySegment dinp, MemorySegment dgamma, MemorySegment dbeta, MemorySegment dout,
                              MemorySegment inp, MemorySegment gamma, MemorySegment mean, MemorySegment rstd,
                              MemorySegment sums, int flags, int mask, Layout layout, long n, long c, long s,
                              long parts) {
        Checks.checkBackwardApply(dinp, dgamma, dbeta, dout, inp, gamma, mean, rstd, sums, flags, mask,
                layout, n, c, s, parts, true);
        status("bn_backward_apply", bn_h.bn_backward_apply(p(dinp), p(dgamma), p(dbeta), dout, inp, p(gamma),
                mean, rstd, sums, flags, mask, layout.code, n, c, s, parts));
    }

    private static MemorySegment p(MemorySegment segment) {
        return segment == null ? MemorySegment.NULL : segment;
    }

    private static void status(String function, int status) {
        if (status != bn_h.BN_OK()) {
            throw new IllegalArgumentException(function + " returned status " + status + ": "
                    + NativeLibrary.strerror(status));
        }
    }
}
