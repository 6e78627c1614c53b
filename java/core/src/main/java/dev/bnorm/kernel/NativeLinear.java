package dev.bnorm.kernel;

import static dev.bnorm.kernel.Downcalls.p;
import static dev.bnorm.kernel.Downcalls.rethrow;
import static dev.bnorm.kernel.Downcalls.status;

import dev.bnorm.ffi.CriticalDowncalls;
import dev.bnorm.internal.LinearChecks;
import dev.bnorm.ffi.bn_h;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * {@link LinearKernels} in libbnorm ({@code bn_linear_forward}, {@code bn_linear_forward_t},
 * {@code bn_linear_backward}). Every
 * call is first validated in Java by {@link LinearChecks} (native segments required), so bad input
 * is an exception naming the argument and never reaches C; a non-OK status from C (which would mean
 * the two validations disagree) becomes an {@link IllegalArgumentException} with
 * {@code bn_strerror}'s text. Calls of at most {@value #CRITICAL_MAX} multiply-adds, which always
 * run on the calling thread, are critical downcalls ({@code Linker.Option.critical});
 * larger ones are ordinary downcalls and may use the library's threads
 * ({@link NativeKernels#setNumThreads(int)}); results are bit-identical for any number.
 */
public final class NativeLinear implements LinearKernels {

    /** Multiply-adds (N*I*O) up to which a call is a critical downcall. */
    public static final long CRITICAL_MAX = 1 << 18;

    private static final NativeLinear INSTANCE = new NativeLinear();

    private NativeLinear() {}

    /**
     * The native Linear kernels, loading the library if needed.
     *
     * @throws dev.bnorm.NativeLibraryException if no usable library can be loaded
     */
    public static NativeLinear get() {
        NativeKernels.get(); // loads the library and sets the default number of threads
        return INSTANCE;
    }

    @Override
    public String name() {
        return "native";
    }

    @Override
    public void forward(MemorySegment out, MemorySegment inp, MemorySegment weight, MemorySegment bias,
                        Activation act, long n, long in, long outFeatures) {
        LinearChecks.checkForward(out, inp, weight, bias, act, n, in, outFeatures, true);
        MethodHandle h = small(n, in, outFeatures) ? CriticalDowncalls.bn_linear_forward() : bn_h.bn_linear_forward$handle();
        int status;
        try {
            status = (int) h.invokeExact(out, inp, weight, p(bias), act.code, n, in, outFeatures);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_linear_forward", status);
    }

    @Override
    public void forwardTransposed(MemorySegment out, MemorySegment inp, MemorySegment weightT, MemorySegment bias,
                                  Activation act, long n, long in, long outFeatures) {
        LinearChecks.checkForward(out, inp, weightT, bias, act, n, in, outFeatures, true);
        MethodHandle h = small(n, in, outFeatures) ? CriticalDowncalls.bn_linear_forward_t() : bn_h.bn_linear_forward_t$handle();
        int status;
        try {
            status = (int) h.invokeExact(out, inp, weightT, p(bias), act.code, n, in, outFeatures);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_linear_forward_t", status);
    }

    @Override
    public void backward(MemorySegment dinp, MemorySegment dweight, MemorySegment dbias, MemorySegment dout,
                         MemorySegment inp, MemorySegment weight, int flags, long n, long in, long outFeatures) {
        LinearChecks.checkBackward(dinp, dweight, dbias, dout, inp, weight, flags, n, in, outFeatures, true);
        MethodHandle h = small(n, in, outFeatures) ? CriticalDowncalls.bn_linear_backward() : bn_h.bn_linear_backward$handle();
        int status;
        try {
            status = (int) h.invokeExact(p(dinp), p(dweight), p(dbias), dout, p(inp), p(weight), flags, n, in,
                    outFeatures);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_linear_backward", status);
    }

    // dimensions are validated: n*in fits in a long, so the division cannot be by zero or overflow
    private static boolean small(long n, long in, long out) {
        return out <= CRITICAL_MAX / (n * in);
    }
}
