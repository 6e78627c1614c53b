package dev.bnorm.ffi;

import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;

/**
 * Critical downcall handles ({@link Linker.Option#critical(boolean)}, heap access not allowed) of
 * the three kernels, beside {@link bn_h}'s ordinary ones and with the same descriptors. A critical
 * downcall skips the thread-state transition of an ordinary one and so holds up the garbage
 * collector for as long as it runs: only for calls that are short and never wait for the library's
 * threads (see {@code dev.bnorm.kernel.NativeKernels#CRITICAL_MAX}). Built on first use, which
 * must come after {@link NativeLibrary#load()} (the symbols resolve through the loader lookup).
 */
public final class CriticalDowncalls {

    private CriticalDowncalls() {}

    /** {@code bn_forward_training} as a critical downcall. */
    public static MethodHandle bn_forward_training() {
        return Handles.TRAINING;
    }

    /** {@code bn_forward_inference} as a critical downcall. */
    public static MethodHandle bn_forward_inference() {
        return Handles.INFERENCE;
    }

    /** {@code bn_backward} as a critical downcall. */
    public static MethodHandle bn_backward() {
        return Handles.BACKWARD;
    }

    private static final class Handles {
        private static final Linker.Option CRITICAL = Linker.Option.critical(false);
        static final MethodHandle TRAINING = Linker.nativeLinker().downcallHandle(
                bn_h.bn_forward_training$address(), bn_h.bn_forward_training$descriptor(), CRITICAL);
        static final MethodHandle INFERENCE = Linker.nativeLinker().downcallHandle(
                bn_h.bn_forward_inference$address(), bn_h.bn_forward_inference$descriptor(), CRITICAL);
        static final MethodHandle BACKWARD = Linker.nativeLinker().downcallHandle(
                bn_h.bn_backward$address(), bn_h.bn_backward$descriptor(), CRITICAL);
    }
}
