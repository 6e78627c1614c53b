package dev.bnorm.kernel;

import static dev.bnorm.kernel.Downcalls.p;
import static dev.bnorm.kernel.Downcalls.rethrow;
import static dev.bnorm.kernel.Downcalls.status;

import dev.bnorm.ffi.CriticalDowncalls;
import dev.bnorm.ffi.bn_h;
import dev.bnorm.internal.Checks;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * The split-phase C kernels of libbnorm through the FFM bindings. As {@link NativeKernels}: every
 * call is first validated by {@link Checks} (native segments required), a non-OK status becomes
 * an {@link IllegalArgumentException} with {@code bn_strerror}'s text, and calls on at most
 * {@link NativeKernels#CRITICAL_MAX} elements (the merge: channels times parts) are critical
 * downcalls. Threads: the library's ({@link NativeKernels#setNumThreads}); results do not depend
 * on their number.
 */
public final class NativeSplitKernels implements SplitKernels {

    private static final NativeSplitKernels INSTANCE = new NativeSplitKernels();

    private NativeSplitKernels() {}

    /**
     * The native split kernels, loading the library if needed.
     *
     * @throws dev.bnorm.NativeLibraryException if no usable library can be loaded
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
    public void statsLocal(MemorySegment stats, MemorySegment inp, int flags, Layout layout, long n, long c, long s) {
        Checks.checkStatsLocal(stats, inp, flags, layout, n, c, s, true);
        MethodHandle h = NativeKernels.critical(n * c * s, flags) ? CriticalDowncalls.bn_stats_local() : bn_h.bn_stats_local$handle();
        int status;
        try {
            status = (int) h.invokeExact(stats, inp, flags, layout.code, n, c, s);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_stats_local", status);
    }

    @Override
    public void statsMerge(MemorySegment mean, MemorySegment rstd, MemorySegment runningMean, MemorySegment runningVar,
                           MemorySegment stats, double eps, double momentum, int flags, long c, long parts) {
        Checks.checkStatsMerge(mean, rstd, runningMean, runningVar, stats, eps, momentum, flags, c, parts, true);
        MethodHandle h = c * parts <= NativeKernels.CRITICAL_MAX ? CriticalDowncalls.bn_stats_merge() : bn_h.bn_stats_merge$handle();
        int status;
        try {
            status = (int) h.invokeExact(mean, rstd, p(runningMean), p(runningVar), stats, eps, momentum, flags, c, parts);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_stats_merge", status);
    }

    @Override
    public void forwardApply(MemorySegment out, MemorySegment inp, MemorySegment res, MemorySegment mean,
                             MemorySegment rstd, MemorySegment gamma, MemorySegment beta, int flags, Layout layout,
                             long n, long c, long s) {
        Checks.checkForwardApply(out, inp, res, mean, rstd, gamma, beta, flags, layout, n, c, s, true);
        MethodHandle h = NativeKernels.critical(n * c * s, flags) ? CriticalDowncalls.bn_forward_apply() : bn_h.bn_forward_apply$handle();
        int status;
        try {
            status = (int) h.invokeExact(out, inp, p(res), mean, rstd, p(gamma), p(beta), flags, layout.code, n, c, s);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_forward_apply", status);
    }

    @Override
    public void backwardReduce(MemorySegment sums, MemorySegment dout, MemorySegment out, MemorySegment inp,
                               MemorySegment mean, int flags, Layout layout, long n, long c, long s) {
        Checks.checkBackwardReduce(sums, dout, out, inp, mean, flags, layout, n, c, s, true);
        MethodHandle h = NativeKernels.critical(n * c * s, flags, 0) ? CriticalDowncalls.bn_backward_reduce()
                : bn_h.bn_backward_reduce$handle();
        int status;
        try {
            status = (int) h.invokeExact(sums, dout, p(out), inp, mean, flags, layout.code, n, c, s);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_backward_reduce", status);
    }

    @Override
    public void backwardApply(MemorySegment dinp, MemorySegment dres, MemorySegment dgamma, MemorySegment dbeta,
                              MemorySegment dout, MemorySegment out, MemorySegment inp, MemorySegment gamma,
                              MemorySegment mean, MemorySegment rstd, MemorySegment sums, int flags, int mask,
                              Layout layout, long n, long c, long s, long parts) {
        Checks.checkBackwardApply(dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean, rstd, sums, flags, mask,
                layout, n, c, s, parts, true);
        MethodHandle h = NativeKernels.critical(n * c * s, flags, mask) && c * parts <= NativeKernels.CRITICAL_MAX
                ? CriticalDowncalls.bn_backward_apply()
                : bn_h.bn_backward_apply$handle();
        int status;
        try {
            status = (int) h.invokeExact(p(dinp), p(dres), p(dgamma), p(dbeta), dout, p(out), inp, p(gamma), mean, rstd, sums,
                    flags, mask, layout.code, n, c, s, parts);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_backward_apply", status);
    }
}
