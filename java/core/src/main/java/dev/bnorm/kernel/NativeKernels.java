package dev.bnorm.kernel;

import static dev.bnorm.kernel.Downcalls.p;
import static dev.bnorm.kernel.Downcalls.rethrow;
import static dev.bnorm.kernel.Downcalls.status;

import dev.bnorm.ffi.CriticalDowncalls;
import dev.bnorm.ffi.NativeLibrary;
import dev.bnorm.ffi.bn_h;
import dev.bnorm.internal.Checks;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * The C kernels of libbnorm through the FFM bindings. Every call is first validated in Java by
 * {@link Checks} (with native segments required), so bad input is an exception naming the
 * argument and never reaches C; the C library validates again and a non-OK status (which would
 * mean the two validations disagree) becomes an {@link IllegalArgumentException} with
 * {@code bn_strerror}'s text. Segments passed to a downcall are kept alive for its duration.
 *
 * <p>Calls on at most {@value #CRITICAL_MAX} elements (a few microseconds of work, always on the
 * calling thread) use critical downcalls ({@code dev.bnorm.ffi.CriticalDowncalls}), which skip
 * the thread-state transition of an ordinary downcall; larger calls, which may run for
 * milliseconds and use the library's threads, use ordinary downcalls so that they never hold up
 * the garbage collector.
 *
 * <p>Threads: {@link #setNumThreads(int)}. Results are bit-identical for any number of threads.
 * When the environment variable {@code BNORM_NUM_THREADS} is not set, the first {@link #get()}
 * sets the library's number to {@link Runtime#availableProcessors()} (which, unlike the C
 * library's default, respects container limits and {@code -XX:ActiveProcessorCount}).
 */
public final class NativeKernels implements BatchNormKernels {

    /**
     * Elements (N*C*S) up to which a call is a critical downcall. The library uses its threads
     * only for calls that touch at least 256 KiB ({@code BN_PARALLEL_BYTES} in
     * {@code native/src/bn_internal.h}). The forwards count 8 bytes per element; a backward that
     * computes dinp with batch statistics counts 16 (inp, dout, and dinp twice: see
     * {@code native/src/bn_backward.c}), so unfused calls of up to 16,383 elements stay below the
     * threshold in every kernel and never wait for the library's threads. A fused backward also
     * reads the forward's out (FUSE_RELU) and writes dres (DIFF_RES), 4 bytes each: its limit is
     * lower by that proportion ({@link #critical}). With 16-bit activations (DATA_BF16, DATA_F16)
     * every stream moves half the bytes, and the limits in elements are twice as high.
     */
    public static final long CRITICAL_MAX = (1 << 14) - 1;

    /**
     * Whether a backward of {@code count} elements is a critical downcall: below the threading
     * threshold with the fused streams counted too and each element of the activations' dtype
     * (see {@link #CRITICAL_MAX}).
     */
    static boolean critical(long count, int flags, int mask) {
        int streams = 4 + ((flags & FUSE_RELU) != 0 ? 1 : 0) + ((mask & DIFF_RES) != 0 ? 1 : 0);
        return count * streams * DType.ofFlags(flags).bytes() <= 16 * CRITICAL_MAX;
    }

    /** Whether a forward (or a split-phase pass over inp) of {@code count} elements is a critical downcall. */
    static boolean critical(long count, int flags) {
        return count * DType.ofFlags(flags).bytes() <= 4 * CRITICAL_MAX;
    }

    private static final NativeKernels INSTANCE = new NativeKernels();

    private NativeKernels() {}

    /**
     * The native kernels, loading the library if needed.
     *
     * @throws dev.bnorm.NativeLibraryException if no usable library can be loaded
     */
    public static NativeKernels get() {
        NativeLibrary.load();
        DefaultThreads.init();
        return INSTANCE;
    }

    /**
     * Sets how many threads large calls may use (the calling thread included); small calls always
     * run on the calling thread. {@code n <= 0} restores the default: {@code BNORM_NUM_THREADS} if
     * set, else {@link Runtime#availableProcessors()}. The library caps the number at 64.
     *
     * @return the number now in effect
     */
    public static int setNumThreads(int n) {
        get();
        return bn_h.bn_set_num_threads(n > 0 ? n : DefaultThreads.defaultThreads());
    }

    /** How many threads large calls may use. */
    public static int numThreads() {
        get();
        return bn_h.bn_get_num_threads();
    }

    @Override
    public String name() {
        return "native";
    }

    @Override
    public void forwardTraining(MemorySegment out, MemorySegment saveMean, MemorySegment saveRstd,
                                MemorySegment runningMean, MemorySegment runningVar,
                                MemorySegment inp, MemorySegment res, MemorySegment gamma, MemorySegment beta,
                                double eps, double momentum, int flags, Layout layout, long n, long c, long s) {
        Checks.checkForwardTraining(out, saveMean, saveRstd, runningMean, runningVar, inp, res, gamma, beta,
                eps, momentum, flags, layout, n, c, s, true);
        MethodHandle h = critical(n * c * s, flags) ? CriticalDowncalls.bn_forward_training() : bn_h.bn_forward_training$handle();
        int status;
        try {
            status = (int) h.invokeExact(out, saveMean, saveRstd, p(runningMean), p(runningVar),
                    inp, p(res), p(gamma), p(beta), eps, momentum, flags, layout.code, n, c, s);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_forward_training", status);
    }

    @Override
    public void forwardInference(MemorySegment out, MemorySegment inp, MemorySegment res, MemorySegment mean,
                                 MemorySegment var, MemorySegment gamma, MemorySegment beta, double eps, int flags,
                                 Layout layout, long n, long c, long s) {
        Checks.checkForwardInference(out, inp, res, mean, var, gamma, beta, eps, flags, layout, n, c, s, true);
        MethodHandle h = critical(n * c * s, flags) ? CriticalDowncalls.bn_forward_inference() : bn_h.bn_forward_inference$handle();
        int status;
        try {
            status = (int) h.invokeExact(out, inp, p(res), mean, var, p(gamma), p(beta), eps, flags,
                    layout.code, n, c, s);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_forward_inference", status);
    }

    @Override
    public void backward(MemorySegment dinp, MemorySegment dres, MemorySegment dgamma, MemorySegment dbeta,
                         MemorySegment dout, MemorySegment out, MemorySegment inp, MemorySegment gamma,
                         MemorySegment mean, MemorySegment rstd, int flags, int mask,
                         Layout layout, long n, long c, long s) {
        Checks.checkBackward(dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean, rstd, flags, mask, layout, n, c,
                s, true);
        MethodHandle h = critical(n * c * s, flags, mask) ? CriticalDowncalls.bn_backward() : bn_h.bn_backward$handle();
        int status;
        try {
            status = (int) h.invokeExact(p(dinp), p(dres), p(dgamma), p(dbeta), dout,
                    p(out), p(inp), p(gamma), mean, rstd, flags, mask, layout.code, n, c, s);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_backward", status);
    }

    /** The library's default number of threads, set once the library is loaded. */
    private static final class DefaultThreads {
        static {
            if (System.getenv("BNORM_NUM_THREADS") == null) {
                bn_h.bn_set_num_threads(Runtime.getRuntime().availableProcessors());
            }
        }

        /** Forces the class initialization above. */
        static void init() {}

        static int defaultThreads() {
            return System.getenv("BNORM_NUM_THREADS") == null ? Runtime.getRuntime().availableProcessors() : 0;
        }
    }
}
