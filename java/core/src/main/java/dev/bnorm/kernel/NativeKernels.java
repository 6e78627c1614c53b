package dev.bnorm.kernel;

import dev.bnorm.ffi.NativeLibrary;
import dev.bnorm.ffi.bn_h;
import java.lang.foreign.MemorySegment;

/**
 * The C kernels of libbnorm through the FFM bindings. Every call is first validated in Java by
 * {@link Checks} (with native segments required), so bad input is an exception naming the
 * argument and never reaches C; the C library validates again and a non-OK status (which would
 * mean the two validations disagree) becomes an {@link IllegalArgumentException} with
 * {@code bn_strerror}'s text. Segments passed to a downcall are kept alive for its duration.
 */
public final class NativeKernels implements BatchNormKernels {

    private static final NativeKernels INSTANCE = new NativeKernels();

    private NativeKernels() {}

    /**
     * The native kernels, loading the library if needed.
     *
     * @throws dev.bnorm.ffi.NativeLibraryException if no usable library can be loaded
     */
    public static NativeKernels get() {
        NativeLibrary.load();
        return INSTANCE;
    }

    @Override
    public String name() {
        return "native";
    }

    @Override
    public void forwardTraining(MemorySegment out, MemorySegment saveMean, MemorySegment saveRstd,
                                MemorySegment runningMean, MemorySegment runningVar,
                                MemorySegment inp, MemorySegment gamma, MemorySegment beta,
                                double eps, double momentum, int flags, Layout layout, long n, long c, long s) {
        Checks.checkForwardTraining(out, saveMean, saveRstd, runningMean, runningVar, inp, gamma, beta,
                eps, momentum, flags, layout, n, c, s, true);
        status("bn_forward_training", bn_h.bn_forward_training(out, saveMean, saveRstd, p(runningMean), p(runningVar),
                inp, p(gamma), p(beta), eps, momentum, flags, layout.code, n, c, s));
    }

    @Override
    public void forwardInference(MemorySegment out, MemorySegment inp, MemorySegment mean, MemorySegment var,
                                 MemorySegment gamma, MemorySegment beta, double eps, int flags,
                                 Layout layout, long n, long c, long s) {
        Checks.checkForwardInference(out, inp, mean, var, gamma, beta, eps, flags, layout, n, c, s, true);
        status("bn_forward_inference", bn_h.bn_forward_inference(out, inp, mean, var, p(gamma), p(beta),
                eps, flags, layout.code, n, c, s));
    }

    @Override
    public void backward(MemorySegment dinp, MemorySegment dgamma, MemorySegment dbeta,
                         MemorySegment dout, MemorySegment inp, MemorySegment gamma,
                         MemorySegment mean, MemorySegment rstd, int flags, int mask,
                         Layout layout, long n, long c, long s) {
        Checks.checkBackward(dinp, dgamma, dbeta, dout, inp, gamma, mean, rstd, flags, mask, layout, n, c, s, true);
        status("bn_backward", bn_h.bn_backward(p(dinp), p(dgamma), p(dbeta), dout, p(inp), p(gamma), mean, rstd,
                flags, mask, layout.code, n, c, s));
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
